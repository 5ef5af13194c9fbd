// The one WebSocket to chatd at /ws. It authenticates with its first
// frame (never a token in the URL), reconnects with bounded exponential
// backoff, and on every (re)connect asks for what it missed, per
// conversation, after the last sequence it saw. Sends not yet acked are
// sent again: the server deduplicates them by client message id.

const MIN_DELAY = 500;
const MAX_DELAY = 15000;

export class ChatSocket {
  // hooks: { token(), lastSeen() -> {convId: seq}, onFrame(frame),
  //          onState('connecting'|'online'|'offline', reconnected),
  //          onAuthFailed() }
  constructor(hooks) {
    this.hooks = hooks;
    this.ws = null;
    this.ready = false;
    this.delay = MIN_DELAY;
    this.timer = null;
    this.stopped = true;
    this.unacked = new Map(); // client_msg_id -> frame
    this.connects = 0;
  }

  url() {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    return `${proto}//${location.host}/ws`;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.unacked.clear();
    if (this.ws) this.ws.close(1000, 'logout');
    this.ws = null;
    this.ready = false;
  }

  // The browser says the network is gone: drop the socket now rather
  // than wait for it to time out; retries follow the backoff.
  networkLost() {
    const ws = this.ws;
    if (!ws) return;
    this.ws = null;
    this.ready = false;
    this.hooks.onState('offline');
    try { ws.close(4000, 'offline'); } catch (e) { /* already closing */ }
    this.retry();
  }

  // The network is back: reconnect now instead of at the next retry.
  networkBack() {
    if (this.stopped || this.ws) return;
    clearTimeout(this.timer);
    this.delay = MIN_DELAY;
    this.connect();
  }

  connect() {
    if (this.stopped) return;
    this.hooks.onState('connecting');
    let ws;
    try {
      ws = new WebSocket(this.url());
    } catch (e) {
      this.retry();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      ws.send(JSON.stringify({ type: 'auth', token: this.hooks.token() }));
    };
    ws.onmessage = (ev) => {
      let f;
      try { f = JSON.parse(ev.data); } catch (e) { return; }
      if (!f || typeof f !== 'object') return;
      this.frame(f);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.ready = false;
      this.hooks.onState('offline');
      if (ev.code === 4001) {
        this.hooks.onAuthFailed();
        return;
      }
      this.retry();
    };
    ws.onerror = () => { /* onclose follows */ };
  }

  retry() {
    if (this.stopped) return;
    clearTimeout(this.timer);
    const jitter = Math.random() * this.delay * 0.3;
    this.timer = setTimeout(() => this.connect(), this.delay + jitter);
    this.delay = Math.min(this.delay * 2, MAX_DELAY);
  }

  frame(f) {
    if (f.type === 'auth_ok') {
      this.ready = true;
      this.delay = MIN_DELAY;
      this.connects++;
      this.hooks.onState('online', this.connects > 1);
      this.sync(this.hooks.lastSeen());
      for (const m of this.unacked.values()) this.raw(m);
    } else if (f.type === 'error' && !this.ready) {
      // The server closes with 4001 right after; onclose ends the session.
      return;
    } else if ((f.type === 'ack' || f.type === 'error') && f.client_msg_id) {
      const pending = this.unacked.get(f.client_msg_id);
      // A rate-limited send is retried after the time the server asks.
      if (f.type === 'error' && f.code === 'rate_limited' && pending) {
        setTimeout(() => { if (this.ready) this.raw(pending); },
          Math.min(f.retry_after_ms || 1000, MAX_DELAY));
        return;
      }
      this.unacked.delete(f.client_msg_id);
    } else if (f.type === 'synced') {
      // Conversations with more to fetch are synced again from the last
      // seq received (synced.last_seq is the newest that exists).
      const held = this.hooks.lastSeen();
      const again = {};
      let more = false;
      for (const c of f.conversations || []) {
        if (!c.more) continue;
        again[c.conversation_id] = held[c.conversation_id] || 0;
        more = true;
      }
      if (more) this.sync(again);
    }
    this.hooks.onFrame(f);
  }

  // last: {conversation_id: last seq held}.
  sync(last) {
    this.raw({ type: 'sync', conversations: last, limit: 200 });
  }

  raw(obj) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(obj));
      return true;
    }
    return false;
  }

  // Sends a message; it stays queued until acked, across reconnects.
  send(convId, clientId, body) {
    const frame = { type: 'send', conversation_id: convId, client_msg_id: clientId, body };
    this.unacked.set(clientId, frame);
    if (this.ready) this.raw(frame);
  }
}
