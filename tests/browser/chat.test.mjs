// Two users in two headless Chromium windows register, become friends
// and chat in real time through the web client served by nginx in front
// of chatd. Alice has a desktop window, Bob a phone-sized one.
//
// usage: CHAT_URL=http://127.0.0.1:PORT node chat.test.mjs
// Exit 0 when every step passed; on failure, screenshots and the page
// logs go to $ARTIFACTS (default: a temporary folder, printed).

import { chromium } from 'playwright-core';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

const URL = process.env.CHAT_URL;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const WAIT = 15000;
const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
  '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync',
];

if (!URL || !/^http:\/\/(127\.\d+\.\d+\.\d+|\[::1\]|localhost)(:\d+)?\/?$/.test(URL)) {
  console.error('CHAT_URL must be a loopback http URL');
  process.exit(2);
}

const tag = randomBytes(3).toString('hex');
const password = randomBytes(12).toString('hex');
const artifacts = process.env.ARTIFACTS || mkdtempSync(join(tmpdir(), 'chat-browser-'));
const dirs = [];
const windows = [];
let step = '';

function say(s) {
  step = s;
  console.log(`step: ${s}`);
}

// With CHAT_CONTROL set, the runner (test_web_browser.py) stops and
// starts chatd when asked on stdout, and answers with a file there.
async function control(what) {
  const dir = process.env.CHAT_CONTROL;
  console.log(`control: ${what}`);
  const done = join(dir, what);
  for (let i = 0; i < 900 && !existsSync(done); i++) {
    await new Promise((ok) => setTimeout(ok, 100));
  }
  check(existsSync(done), `the runner did ${what}`);
}

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

async function open(name, viewport) {
  const dir = mkdtempSync(join(tmpdir(), `chat-profile-${name}-`));
  dirs.push(dir);
  // A persistent context is how playwright takes --user-data-dir: each
  // user gets a fresh profile of their own.
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport,
    ignoreDefaultArgs: ['--enable-automation'],
  });
  const page = ctx.pages()[0] || await ctx.newPage();
  const logs = [];
  page.on('console', (m) => logs.push(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`[pageerror] ${e.message}`));
  page.setDefaultTimeout(WAIT);
  const w = { name, ctx, page, logs };
  windows.push(w);
  return w;
}

async function register(w, username, display) {
  const p = w.page;
  await p.goto(URL + '/');
  await p.click('#tab-register');
  await p.fill('#auth-username', username);
  await p.fill('#auth-display', display);
  await p.fill('#auth-password', password);
  await p.click('#auth-submit');
  await p.waitForSelector('#app:not([hidden])');
  await p.waitForSelector('#conn.online');
  check((await p.textContent('#me')).trim() === display, `${w.name} sees own name`);
}

async function openConversation(w, title) {
  const p = w.page;
  const item = p.locator('#conv-list li.conv', { hasText: title });
  await item.first().waitFor();
  await item.first().click();
  await p.waitForSelector('#compose:not([hidden])');
}

async function send(w, text) {
  await w.page.fill('#compose-text', text);
  await w.page.press('#compose-text', 'Enter');
  // Acked: the message is no longer pending and carries its sequence.
  await w.page.locator('#message-list li.msg.mine:not(.pending)', { hasText: text }).waitFor();
}

async function sees(w, text) {
  await w.page.locator('#message-list li.msg', { hasText: text }).first().waitFor();
}

async function main() {
  const alice = await open('alice', { width: 1200, height: 800 });
  const bob = await open('bob', { width: 390, height: 844 });
  const an = `alice${tag}`, bn = `bob${tag}`;

  say('both register');
  await register(alice, an, 'Alice');
  await register(bob, bn, 'Bob');

  say('alice finds bob and asks to be friends');
  await alice.page.click('nav.tabs button[data-panel="friends"]');
  await alice.page.fill('#search-q', bn);
  await alice.page.press('#search-q', 'Enter');
  const result = alice.page.locator('#search-results li', { hasText: bn });
  await result.waitFor();
  await result.locator('button.add').click();
  await result.locator('button', { hasText: 'Requested' }).waitFor();

  say('bob gets the request live and accepts it');
  await bob.page.locator('#req-badge:not([hidden])').waitFor();
  await bob.page.click('nav.tabs button[data-panel="friends"]');
  const req = bob.page.locator('#request-list li', { hasText: 'Alice' });
  await req.locator('button.accept').click();
  await bob.page.locator('#friend-list li', { hasText: 'Alice' }).waitFor();

  say('alice sees the new friend and the conversation');
  await alice.page.locator('#friend-list li', { hasText: 'Bob' }).waitFor();
  await alice.page.click('nav.tabs button[data-panel="chats"]');
  await openConversation(alice, 'Bob');

  say('alice writes; bob gets it in real time with an unread count');
  await send(alice, `hello bob ${tag}`);
  await bob.page.click('nav.tabs button[data-panel="chats"]');
  const bobConv = bob.page.locator('#conv-list li.conv', { hasText: 'Alice' });
  await bobConv.locator('.badge.unread', { hasText: '1' }).waitFor();

  say('bob opens the chat (phone layout) and answers');
  await openConversation(bob, 'Alice');
  check(await bob.page.isHidden('#sidebar'), 'phone layout shows the chat alone');
  await sees(bob, `hello bob ${tag}`);
  await send(bob, `hi alice ${tag}`);
  await sees(alice, `hi alice ${tag}`);

  say('a burst of messages arrives complete and in order');
  for (let i = 0; i < 10; i++) await alice.page.fill('#compose-text', `n${i} ${tag}`).then(() => alice.page.press('#compose-text', 'Enter'));
  await sees(bob, `n9 ${tag}`);
  const got = await bob.page.$$eval('#message-list li.msg .body', (els) => els.map((e) => e.textContent));
  const order = got.filter((t) => /^n\d /.test(t));
  check(order.length === 10, `bob has the 10 burst messages (${order.length})`);
  check(order.every((t, i) => t.startsWith(`n${i} `)), `burst in order: ${order.join(',')}`);

  say('bob goes offline; alice writes; bob catches up on reconnect');
  await bob.page.context().setOffline(true);
  await bob.page.locator('#conn:not(.online)').waitFor({ state: 'attached' });
  await send(alice, `while you were away ${tag}`);
  await bob.page.context().setOffline(false);
  await bob.page.locator('#conn.online').waitFor({ state: 'attached', timeout: 30000 });
  await sees(bob, `while you were away ${tag}`);

  say('bob reloads: history comes back from the server');
  await bob.page.reload();
  await bob.page.waitForSelector('#conn.online', { state: 'attached' });
  await openConversation(bob, 'Alice');
  await sees(bob, `hello bob ${tag}`);
  await sees(bob, `while you were away ${tag}`);

  say('history pages backwards: bob loads older messages on demand');
  const posted = await alice.page.evaluate(async ({ peer, tag }) => {
    const token = sessionStorage.getItem('chat.token');
    const h = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' };
    const cs = await (await fetch('/api/v1/conversations', { headers: h })).json();
    const c = cs.conversations.find((x) => x.peer && x.peer.username === peer);
    let n = 0;
    for (let i = 0; i < 40; i++) {
      const r = await fetch(`/api/v1/conversations/${c.id}/messages`, {
        method: 'POST', headers: h,
        body: JSON.stringify({ client_msg_id: `page-${tag}-${i}`, body: `page ${i} ${tag}` }),
      });
      if (r.status === 429) {
        await new Promise((ok) => setTimeout(ok, 1000 * (Number(r.headers.get('Retry-After')) || 1)));
        i--;
        continue;
      }
      if (r.ok) n++;
    }
    return n;
  }, { peer: bn, tag });
  check(posted === 40, `alice posted 40 messages through REST (${posted})`);
  await bob.page.reload();
  await bob.page.waitForSelector('#conn.online', { state: 'attached' });
  await openConversation(bob, 'Alice');
  await sees(bob, `page 39 ${tag}`);
  check(await bob.page.locator('#message-list li.msg', { hasText: `hello bob ${tag}` }).count() === 0,
    'the first page holds only the newest messages');
  await bob.page.click('#older');
  await sees(bob, `hello bob ${tag}`);
  const seqs = await bob.page.$$eval('#message-list li.msg', (els) => els.map((e) => Number(e.dataset.seq)));
  check(seqs.every((x, i) => i === 0 || x === seqs[i - 1] + 1), 'no gap or repeat after paging');

  if (process.env.CHAT_CONTROL) {
    say('chatd restarts: a message sent meanwhile is delivered after reconnect');
    await control('stop-chatd');
    await alice.page.locator('#conn:not(.online)').waitFor({ state: 'attached' });
    await bob.page.locator('#conn:not(.online)').waitFor({ state: 'attached' });
    await alice.page.fill('#compose-text', `sent while chatd was down ${tag}`);
    await alice.page.press('#compose-text', 'Enter');
    await alice.page.locator('#message-list li.msg.pending', { hasText: 'while chatd was down' }).waitFor();
    await control('start-chatd');
    await alice.page.locator('#conn.online').waitFor({ state: 'attached', timeout: 45000 });
    await bob.page.locator('#conn.online').waitFor({ state: 'attached', timeout: 45000 });
    await alice.page.locator('#message-list li.msg.mine:not(.pending)', { hasText: 'while chatd was down' }).waitFor();
    await sees(bob, `sent while chatd was down ${tag}`);
    const copies = await bob.page.locator('#message-list li.msg', { hasText: 'while chatd was down' }).count();
    check(copies === 1, `bob holds the message once (${copies})`);
  }

  say('alice creates a group with bob and writes into it');
  await alice.page.click('nav.tabs button[data-panel="groups"]');
  await alice.page.fill('#group-name', `team ${tag}`);
  await alice.page.locator('#group-members label', { hasText: 'Bob' }).locator('input').check();
  await alice.page.click('#group-form button[type="submit"]');
  await alice.page.locator('#chat-title', { hasText: `team ${tag}` }).waitFor();
  await send(alice, `welcome to the group ${tag}`);
  await bob.page.click('#back');
  await openConversation(bob, `team ${tag}`);
  await sees(bob, `welcome to the group ${tag}`);

  say('bob sees the members and leaves the group');
  await bob.page.click('#members-btn');
  await bob.page.locator('#member-list li', { hasText: 'owner' }).filter({ hasText: 'Alice' }).waitFor();
  await bob.page.locator('#member-list li', { hasText: 'Bob' }).waitFor();
  bob.page.once('dialog', (d) => d.accept());
  await bob.page.click('#leave-group');
  await bob.page.locator('#conv-list li.conv', { hasText: `team ${tag}` }).waitFor({ state: 'detached' });
  await alice.page.click('#members-btn');
  await alice.page.locator('#chat-sub', { hasText: /^1 member$/ }).waitFor();

  if (process.env.SCREENSHOTS) {
    await alice.page.screenshot({ path: join(artifacts, 'alice-group.png') });
    await bob.page.screenshot({ path: join(artifacts, 'bob-group.png') });
    await bob.page.screenshot({ path: join(artifacts, 'bob-list.png') });
  }

  say('bob deletes his account, after a wrong password is refused');
  if (await bob.page.isVisible('#back')) await bob.page.click('#back');
  await bob.page.click('nav.tabs button[data-panel="account"]');
  await bob.page.fill('#delete-password', 'not-the-password');
  bob.page.once('dialog', (d) => d.accept());
  await bob.page.click('#delete-form button[type="submit"]');
  await bob.page.locator('#delete-error', { hasText: /\S/ }).waitFor();
  check(await bob.page.isVisible('#app'), 'a refused deletion keeps bob logged in');
  await bob.page.fill('#delete-password', password);
  bob.page.once('dialog', (d) => d.accept());
  await bob.page.click('#delete-form button[type="submit"]');
  await bob.page.waitForSelector('#auth:not([hidden])');
  await bob.page.locator('#auth-error', { hasText: 'deleted' }).waitFor();
  await bob.page.fill('#auth-username', bn);
  await bob.page.fill('#auth-password', password);
  await bob.page.click('#auth-submit');
  await bob.page.waitForFunction(() => {
    const t = document.getElementById('auth-error').textContent;
    return t !== '' && !t.includes('deleted');
  });
  check(!(await bob.page.isVisible('#app')), 'a deleted account cannot log in');

  say('log out returns to the login form');
  await alice.page.click('#logout');
  await alice.page.waitForSelector('#auth:not([hidden])');
}

let failed = false;
try {
  await main();
  console.log('browser test: all steps passed');
} catch (e) {
  failed = true;
  console.error(`browser test failed at step "${step}": ${e.message}`);
  for (const w of windows) {
    try {
      await w.page.screenshot({ path: join(artifacts, `${w.name}.png`), fullPage: true });
    } catch (err) { /* the page may be gone */ }
    writeFileSync(join(artifacts, `${w.name}.log`), w.logs.join('\n') + '\n');
    console.error(`--- ${w.name} console ---\n${w.logs.slice(-30).join('\n')}`);
  }
  console.error(`screenshots and logs: ${artifacts}`);
} finally {
  for (const w of windows) await w.ctx.close().catch(() => {});
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
