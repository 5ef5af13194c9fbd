// The chat client: login and registration, friends, groups,
// conversations with history paging, unread counts and real-time
// messages. Untrusted text only ever reaches the page as textContent.

import { api, setToken, ApiError } from './api.js';
import { ChatSocket } from './socket.js';
import { store } from './store.js';

const $ = (id) => document.getElementById(id);
const PAGE = 50;
const TOKEN_KEY = 'chat.token';

let socket = null;
let mode = 'login';

function el(tag, attrs, ...kids) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') n.className = v;
    else if (k.startsWith('on')) n.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(n.dataset, v);
    else n.setAttribute(k, v);
  }
  for (const k of kids) {
    if (k == null) continue;
    n.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return n;
}

function showError(where, e) {
  const msg = e instanceof ApiError ? e.message : String(e && e.message || e);
  $(where).textContent = msg;
}

function clearError(where) { $(where).textContent = ''; }

/* Authentication. */

function setMode(m) {
  mode = m;
  $('tab-login').setAttribute('aria-selected', String(m === 'login'));
  $('tab-register').setAttribute('aria-selected', String(m === 'register'));
  $('auth-display-row').hidden = m !== 'register';
  $('auth-submit').textContent = m === 'login' ? 'Log in' : 'Create account';
  $('auth-password').autocomplete = m === 'login' ? 'current-password' : 'new-password';
  clearError('auth-error');
}

async function onAuthSubmit(ev) {
  ev.preventDefault();
  const username = $('auth-username').value.trim();
  const password = $('auth-password').value;
  const button = $('auth-submit');
  button.disabled = true;
  clearError('auth-error');
  try {
    let r;
    if (mode === 'register') {
      r = await api.register(username, password, $('auth-display').value.trim());
      if (!r.token) r = await api.login(username, password);
    } else {
      r = await api.login(username, password);
    }
    $('auth-password').value = '';
    await enter(r.token, r.user);
  } catch (e) {
    showError('auth-error', e);
  } finally {
    button.disabled = false;
  }
}

async function enter(token, user) {
  setToken(token);
  sessionStorage.setItem(TOKEN_KEY, token);
  if (!user) {
    const r = await api.me();
    user = r.user || r;
  }
  store.reset(user);
  $('me').textContent = user.display_name || user.username;
  $('me').title = '@' + user.username;
  $('auth').hidden = true;
  $('app').hidden = false;
  await refreshAll();
  socket = new ChatSocket({
    token: () => token,
    lastSeen: () => store.lastSeen(),
    onFrame: onFrame,
    onState: onConnState,
    onAuthFailed: () => leave('your session ended; log in again'),
  });
  socket.start();
}

function leave(reason) {
  if (socket) socket.stop();
  socket = null;
  setToken(null);
  sessionStorage.removeItem(TOKEN_KEY);
  store.reset(null);
  $('app').hidden = true;
  $('auth').hidden = false;
  $('message-list').replaceChildren();
  setMode('login');
  if (reason) $('auth-error').textContent = reason;
}

async function onDeleteAccount(ev) {
  ev.preventDefault();
  clearError('delete-error');
  const pw = $('delete-password');
  if (!window.confirm('Delete your account for good? This cannot be undone.')) return;
  try {
    await api.deleteAccount(pw.value);
  } catch (e) {
    showError('delete-error', e);
    return;
  } finally {
    pw.value = '';
  }
  leave('your account was deleted');
}

async function onLogout() {
  try { await api.logout(); } catch (e) { /* leaving anyway */ }
  leave('');
}

function onConnState(s, reconnected) {
  const c = $('conn');
  // Events are live only: after a reconnect, lists are reloaded.
  if (s === 'online' && reconnected) refreshAll();
  c.textContent = s;
  c.classList.toggle('online', s === 'online');
  $('app').classList.toggle('is-offline', s !== 'online');
}

/* Loading lists. */

async function refreshAll() {
  clearError('side-error');
  try {
    const [f, rq, cv] = await Promise.all([
      api.friends(), api.friendRequests(), api.conversations(),
    ]);
    store.setFriends(list(f, 'friends'));
    store.setRequests(rq);
    store.setConversations(list(cv, 'conversations'));
    if (store.current != null && !store.conv(store.current)) {
      // Removed from that group: its conversation is gone.
      store.current = null;
      $('app').classList.remove('chat-open');
    }
  } catch (e) {
    showError('side-error', e);
  }
  renderAll();
  if (!$('members-panel').hidden) loadMembers();
}

function list(data, key) {
  if (Array.isArray(data)) return data;
  if (data && Array.isArray(data[key])) return data[key];
  if (data && Array.isArray(data.items)) return data.items;
  return [];
}

/* Rendering. */

function renderAll() {
  renderConversations();
  renderFriends();
  renderRequests();
  renderGroupForm();
  renderChat();
}

function renderConversations() {
  const ul = $('conv-list');
  const convs = store.sortedConversations();
  ul.replaceChildren(...convs.map((c) => {
    const presence = c.type === 'direct'
      ? el('span', { class: 'presence' + (store.isOnline(c.peer_id) ? ' online' : '') })
      : null;
    const last = c.last_body != null ? c.last_body : (c.type === 'group' ? 'group' : '');
    const unread = store.unread(c);
    return el('li', {
      class: 'conv' + (c.id === store.current ? ' active' : ''),
      dataset: { conv: String(c.id) },
      tabindex: '0',
      onclick: () => openConversation(c.id),
      onkeydown: (ev) => { if (ev.key === 'Enter') openConversation(c.id); },
    }, presence,
    el('span', { class: 'name' }, store.title(c), el('small', {}, last)),
    unread > 0 ? el('span', { class: 'badge unread' }, unread) : null);
  }));
  $('conv-empty').hidden = convs.length > 0;
}

function renderFriends() {
  const ul = $('friend-list');
  const friends = store.friends;
  ul.replaceChildren(...friends.map((u) => el('li', { dataset: { user: String(u.id) } },
    el('span', { class: 'presence' + (store.isOnline(u.id) ? ' online' : '') }),
    el('span', { class: 'name' }, u.display_name || u.username, el('small', {}, '@' + u.username)),
    el('button', { type: 'button', onclick: () => chatWith(u) }, 'Chat'))));
  $('friend-empty').hidden = friends.length > 0;
}

function renderRequests() {
  const ul = $('request-list');
  const incoming = store.requests.filter((r) => !r.outgoing);
  ul.replaceChildren(...store.requests.map((r) => {
    const out = r.outgoing;
    const u = (out ? r.to : r.from) || {};
    return el('li', { dataset: { request: String(r.id) } },
      el('span', { class: 'name' }, u.display_name || u.username || '?',
        el('small', {}, out ? 'request sent' : 'wants to be friends')),
      out ? null : el('button', { type: 'button', class: 'primary accept', onclick: () => answerRequest(r, true) }, 'Accept'),
      out ? null : el('button', { type: 'button', class: 'reject', onclick: () => answerRequest(r, false) }, 'Decline'));
  }));
  $('request-empty').hidden = store.requests.length > 0;
  const badge = $('req-badge');
  badge.textContent = String(incoming.length);
  badge.hidden = incoming.length === 0;
}

function renderGroupForm() {
  const ul = $('group-members');
  const checked = new Set([...ul.querySelectorAll('input:checked')].map((i) => i.value));
  ul.replaceChildren(...store.friends.map((u) => el('li', {},
    el('label', {}, (() => {
      const i = el('input', { type: 'checkbox', value: String(u.id) });
      i.checked = checked.has(String(u.id));
      return i;
    })(), u.display_name || u.username))));
  $('group-empty').hidden = store.friends.length > 0;
}

function renderChat() {
  const c = store.conv(store.current);
  $('compose').hidden = !c;
  $('older').hidden = !c || !c.has_more;
  $('members-btn').hidden = !c || c.type !== 'group';
  if (!c || c.type !== 'group') showMembers(false);
  if (!c) {
    $('chat-title').textContent = 'Pick a conversation';
    $('chat-sub').textContent = '';
    $('message-list').replaceChildren();
    return;
  }
  $('chat-title').textContent = store.title(c);
  $('chat-sub').textContent = c.type === 'direct'
    ? (store.isOnline(c.peer_id) ? 'online' : '')
    : (c.member_count ? members(c.member_count) : 'group');
  const box = $('messages');
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  $('message-list').replaceChildren(...c.messages.map((m) => renderMessage(c, m)));
  if (atBottom || c.scrollToEnd) {
    box.scrollTop = box.scrollHeight;
    c.scrollToEnd = false;
  }
}

function renderMessage(c, m) {
  const mine = m.sender_id === store.me.id;
  const cls = 'msg' + (mine ? ' mine' : '') + (m.pending ? ' pending' : '') + (m.failed ? ' failed' : '');
  const when = m.created_at ? new Date(m.created_at) : null;
  const meta = m.failed ? `not sent: ${m.failed}` : m.pending ? 'sending' :
    (when && !isNaN(when) ? when.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : '');
  return el('li', { class: cls, dataset: { seq: String(m.seq || ''), client: m.client_msg_id || '' } },
    c.type === 'group' && !mine ? el('span', { class: 'who' }, store.userName(m.sender_id)) : null,
    el('span', { class: 'body' }, m.body),
    el('span', { class: 'meta' }, meta));
}

/* Actions. */

async function openConversation(id) {
  if (id !== store.current) showMembers(false);
  store.current = id;
  $('app').classList.add('chat-open');
  const c = store.conv(id);
  c.scrollToEnd = true;
  if (!c.loaded) {
    try {
      await loadHistory(c, null);
      c.loaded = true;
    } catch (e) {
      showError('side-error', e);
    }
  }
  renderConversations();
  renderChat();
  markRead(c);
  $('compose-text').focus({ preventScroll: true });
  if (c.type === 'group' && c.member_count == null && c.group_id != null) {
    api.group(c.group_id).then((r) => {
      c.member_count = r.group.members.length;
      if (store.current === c.id) renderChat();
    }).catch(() => {});
  }
}

async function loadHistory(c, beforeSeq) {
  const r = await api.history(c.id, beforeSeq, PAGE);
  const msgs = list(r, 'messages');
  store.addMessages(c, msgs);
  c.has_more = r.has_more != null ? !!r.has_more : msgs.length >= PAGE;
}

async function onOlder() {
  const c = store.conv(store.current);
  if (!c || !c.messages.length) return;
  const box = $('messages');
  const before = box.scrollHeight - box.scrollTop;
  try {
    await loadHistory(c, c.messages[0].seq);
  } catch (e) {
    showError('side-error', e);
    return;
  }
  renderChat();
  box.scrollTop = box.scrollHeight - before;
}

function markRead(c) {
  const seq = store.maxSeq(c);
  if (!seq || seq <= (c.read_seq || 0)) return;
  c.read_seq = seq;
  c.unread = 0;
  renderConversations();
  if (socket && socket.ready) socket.raw({ type: 'read', conversation_id: c.id, seq });
  else api.markRead(c.id, seq).catch(() => {});
}

function onCompose(ev) {
  ev.preventDefault();
  const c = store.conv(store.current);
  const ta = $('compose-text');
  const body = ta.value.trim();
  if (!c || !body) return;
  const clientId = newClientId();
  store.addPending(c, { client_msg_id: clientId, body, sender_id: store.me.id, pending: true });
  c.scrollToEnd = true;
  ta.value = '';
  autosize();
  socket.send(c.id, clientId, body);
  renderChat();
}

function newClientId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
}

async function onSearch(ev) {
  ev.preventDefault();
  const q = $('search-q').value.trim();
  clearError('side-error');
  if (!q) return;
  let users;
  try {
    users = list(await api.searchUsers(q), 'users');
  } catch (e) {
    showError('side-error', e);
    return;
  }
  const friendIds = new Set(store.friends.map((u) => u.id));
  const ul = $('search-results');
  users = users.filter((u) => u.id !== store.me.id);
  ul.replaceChildren(...users.map((u) => el('li', { dataset: { user: String(u.id) } },
    el('span', { class: 'name' }, u.display_name || u.username, el('small', {}, '@' + u.username)),
    friendIds.has(u.id)
      ? el('button', { type: 'button', onclick: () => chatWith(u) }, 'Chat')
      : el('button', { type: 'button', class: 'add', onclick: (e) => addFriend(u, e.target) }, 'Add friend'))));
  if (!users.length) ul.replaceChildren(el('li', { class: 'hint' }, 'Nobody found.'));
}

async function addFriend(u, button) {
  button.disabled = true;
  try {
    await api.sendFriendRequest(u.id);
    button.textContent = 'Requested';
    store.setRequests(await api.friendRequests());
    renderRequests();
  } catch (e) {
    button.disabled = false;
    showError('side-error', e);
  }
}

async function answerRequest(r, accept) {
  try {
    if (accept) await api.acceptRequest(r.id);
    else await api.rejectRequest(r.id);
  } catch (e) {
    showError('side-error', e);
  }
  await refreshAll();
}

async function chatWith(u) {
  let c = store.directWith(u.id);
  if (!c) {
    try {
      const r = await api.directConversation(u.id);
      c = store.upsertConversation(r.conversation || r);
    } catch (e) {
      showError('side-error', e);
      return;
    }
  }
  showPanel('chats');
  renderConversations();
  openConversation(c.id);
}

async function onCreateGroup(ev) {
  ev.preventDefault();
  clearError('group-error');
  const name = $('group-name').value.trim();
  const members = [...$('group-members').querySelectorAll('input:checked')]
    .map((i) => Number(i.value) || i.value);
  try {
    const r = await api.createGroup(name, members);
    $('group-name').value = '';
    await refreshAll();
    showPanel('chats');
    const id = r.group && r.group.conversation_id;
    if (id != null && store.conv(id)) openConversation(id);
  } catch (e) {
    showError('group-error', e);
  }
}

function showPanel(name) {
  for (const b of document.querySelectorAll('nav.tabs button')) {
    b.setAttribute('aria-selected', String(b.dataset.panel === name));
  }
  for (const p of ['chats', 'friends', 'groups', 'account']) $('panel-' + p).hidden = p !== name;
}

function autosize() {
  const ta = $('compose-text');
  ta.style.height = 'auto';
  ta.style.height = Math.min(ta.scrollHeight + 2, 128) + 'px';
}

/* Group members. */

function members(n) {
  return `${n} member${n === 1 ? '' : 's'}`;
}

function showMembers(on) {
  $('members-panel').hidden = !on;
  $('members-btn').setAttribute('aria-expanded', String(on));
  if (on) loadMembers();
}

async function loadMembers() {
  const c = store.conv(store.current);
  if (!c || c.type !== 'group' || c.group_id == null) return;
  clearError('members-error');
  let g;
  try {
    g = (await api.group(c.group_id)).group;
  } catch (e) {
    showError('members-error', e);
    return;
  }
  const owner = g.owner_id === store.me.id;
  const inGroup = new Set(g.members.map((u) => u.id));
  $('member-list').replaceChildren(...g.members.map((u) => {
    store.learnUser(u);
    const canRemove = owner && u.id !== store.me.id;
    return el('li', { dataset: { user: String(u.id) } },
      el('span', { class: 'name' }, u.display_name || u.username,
        el('small', {}, u.id === g.owner_id ? 'owner' : '@' + u.username)),
      canRemove ? el('button', { type: 'button', onclick: () => removeMember(g, u) }, 'Remove') : null);
  }));
  const addable = store.friends.filter((u) => !inGroup.has(u.id));
  $('add-member').replaceChildren(...addable.map((u) =>
    el('option', { value: String(u.id) }, u.display_name || u.username)));
  $('add-member-form').hidden = addable.length === 0;
  $('leave-group').hidden = owner;
  c.member_count = g.members.length;
  $('chat-sub').textContent = members(g.members.length);
}

async function onAddMember(ev) {
  ev.preventDefault();
  const c = store.conv(store.current);
  const id = Number($('add-member').value);
  if (!c || !id) return;
  try {
    await api.addMember(c.group_id, id);
  } catch (e) {
    showError('members-error', e);
    return;
  }
  loadMembers();
}

async function removeMember(g, u) {
  try {
    await api.removeMember(g.id, u.id);
  } catch (e) {
    showError('members-error', e);
    return;
  }
  loadMembers();
}

async function onLeaveGroup() {
  const c = store.conv(store.current);
  if (!c || !confirm(`Leave ${store.title(c)}?`)) return;
  try {
    await api.removeMember(c.group_id, store.me.id);
  } catch (e) {
    showError('members-error', e);
    return;
  }
  showMembers(false);
  await refreshAll();
}

/* Frames pushed by the server. */

function onFrame(f) {
  switch (f.type) {
  case 'message': {
    const m = f.message || f;
    const known = store.conv(m.conversation_id);
    // A conversation first seen through a push: what came before this
    // message is history, loaded by paging.
    const c = known || store.upsertConversation({
      id: m.conversation_id, last_seq: m.seq - 1,
    });
    const fresh = store.addMessages(c, [m]);
    const onScreen = c.id === store.current && chatVisible() &&
      document.visibilityState === 'visible';
    if (!onScreen) c.unread += fresh.filter((x) => x.sender_id !== store.me.id).length;
    if (c.id === store.current && chatVisible()) {
      renderChat();
      if (document.visibilityState === 'visible') markRead(c);
    }
    renderConversations();
    if (!known) refreshAll();
    break;
  }
  case 'ack': {
    store.ack(f);
    renderChat();
    renderConversations();
    break;
  }
  case 'error':
    if (f.client_msg_id) {
      if (f.code === 'rate_limited') break;
      store.fail(f.client_msg_id, f.message || f.code || 'error');
      renderChat();
    } else {
      showError('side-error', { message: f.message || f.code || 'server error' });
    }
    break;
  case 'presence':
    store.setPresence(f.user_id, !!f.online);
    renderConversations();
    renderFriends();
    if (store.current != null) renderChat();
    break;
  case 'event':
    // Events are hints; the lists are reloaded from the server.
    refreshAll();
    break;
  case 'read':
    store.setRead(f.conversation_id, f.seq, f.user_id);
    renderConversations();
    break;
  default:
    break;
  }
}

function chatVisible() {
  return !window.matchMedia('(max-width: 48rem)').matches ||
    $('app').classList.contains('chat-open');
}

/* Start. */

function init() {
  $('tab-login').addEventListener('click', () => setMode('login'));
  $('tab-register').addEventListener('click', () => setMode('register'));
  $('auth-form').addEventListener('submit', onAuthSubmit);
  $('logout').addEventListener('click', onLogout);
  $('delete-form').addEventListener('submit', onDeleteAccount);
  $('search-form').addEventListener('submit', onSearch);
  $('group-form').addEventListener('submit', onCreateGroup);
  $('compose').addEventListener('submit', onCompose);
  $('older').addEventListener('click', onOlder);
  $('members-btn').addEventListener('click', () => showMembers($('members-panel').hidden));
  $('add-member-form').addEventListener('submit', onAddMember);
  $('leave-group').addEventListener('click', onLeaveGroup);
  $('back').addEventListener('click', () => {
    $('app').classList.remove('chat-open');
    store.current = null;
    renderConversations();
  });
  $('compose-text').addEventListener('input', autosize);
  $('compose-text').addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      $('compose').requestSubmit();
    }
  });
  for (const b of document.querySelectorAll('nav.tabs button')) {
    b.addEventListener('click', () => showPanel(b.dataset.panel));
  }
  window.addEventListener('offline', () => { if (socket) socket.networkLost(); });
  window.addEventListener('online', () => { if (socket) socket.networkBack(); });
  document.addEventListener('visibilitychange', () => {
    const c = store.conv(store.current);
    if (c && document.visibilityState === 'visible') markRead(c);
  });

  setMode('login');
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) {
    enter(saved, null).catch(() => leave(''));
  } else {
    $('auth').hidden = false;
  }
}

init();
