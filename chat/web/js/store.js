// Client state: the signed-in user, friends, requests, presence and the
// conversations with the messages loaded so far (sorted by sequence).
// The highest sequence seen per conversation drives catch-up on
// reconnect; a message is kept once per sequence, so a catch-up that
// overlaps what is already here changes nothing.

function convId(x) {
  return x == null ? x : String(x);
}

class Store {
  constructor() { this.reset(null); }

  reset(me) {
    this.me = me;
    this.friends = [];
    this.requests = [];
    this.users = new Map();
    this.online = new Set();
    this.convs = new Map();
    this.current = null;
    if (me) this.users.set(me.id, me);
  }

  /* People. */

  learnUser(u) {
    if (!u || u.id == null) return;
    this.users.set(u.id, Object.assign(this.users.get(u.id) || {}, u));
    if (u.online != null) this.setPresence(u.id, !!u.online);
  }

  // Friends come as {user, online, conversation_id}.
  setFriends(list) {
    this.friends = list.map((f) => Object.assign({}, f.user || f,
      { conversation_id: f.conversation_id }));
    for (const f of list) {
      this.learnUser(f.user || f);
      if (f.online != null) this.setPresence((f.user || f).id, !!f.online);
    }
  }

  // Requests come as {incoming: [...], outgoing: [...]}.
  setRequests(r) {
    const inc = (r && r.incoming) || [];
    const out = ((r && r.outgoing) || []).map((x) => Object.assign({}, x, { outgoing: true }));
    this.requests = inc.concat(out);
    for (const x of this.requests) { this.learnUser(x.from); this.learnUser(x.to); }
  }

  setPresence(id, online) {
    if (online) this.online.add(id); else this.online.delete(id);
  }

  isOnline(id) { return this.online.has(id); }

  userName(id) {
    const u = this.users.get(id);
    return u ? (u.display_name || u.username) : `user ${id}`;
  }

  /* Conversations. */

  setConversations(list) {
    const seen = new Set();
    for (const c of list) seen.add(convId(this.upsertConversation(c).id));
    for (const id of [...this.convs.keys()]) {
      if (!seen.has(id)) this.convs.delete(id);
    }
  }

  upsertConversation(raw) {
    const id = convId(raw.id != null ? raw.id : raw.conversation_id);
    let c = this.convs.get(id);
    if (!c) {
      c = { id: raw.id != null ? raw.id : raw.conversation_id, messages: [],
        bySeq: new Map(), loaded: false, has_more: false, read_seq: 0,
        unread: 0, last_seq: 0, contig: null };
      this.convs.set(id, c);
    }
    // Catch-up starts after the newest seq held without a gap; on first
    // sight that is the server's newest (older ones come by paging).
    if (c.contig == null) c.contig = raw.last_seq || 0;
    c.type = raw.kind || c.type;
    if (raw.group) {
      c.title = raw.group.name;
      c.group_id = raw.group.id;
      if (raw.group.member_count != null) c.member_count = raw.group.member_count;
    }
    const peer = raw.peer || raw.user;
    if (peer) {
      this.learnUser(peer);
      c.peer_id = peer.id;
    }
    if (raw.last_seq != null) c.last_seq = Math.max(c.last_seq, raw.last_seq);
    if (raw.read_seq != null) c.read_seq = Math.max(c.read_seq, raw.read_seq);
    if (raw.unread != null) {
      // The server counts from its read mark; messages loaded since do
      // not count twice.
      c.unread = raw.unread;
    }
    const lm = raw.last_message;
    if (lm && lm.seq >= (c.last_seq || 0)) {
      c.last_body = lm.body;
      c.last_at = lm.created_at;
    }
    return c;
  }

  conv(id) { return id == null ? null : this.convs.get(convId(id)) || null; }

  directWith(userId) {
    for (const c of this.convs.values()) {
      if (c.type === 'direct' && c.peer_id === userId) return c;
    }
    return null;
  }

  title(c) {
    if (c.title) return c.title;
    if (c.type === 'direct' && c.peer_id != null) return this.userName(c.peer_id);
    return `conversation ${c.id}`;
  }

  sortedConversations() {
    return [...this.convs.values()].sort((a, b) =>
      (b.last_at || 0) - (a.last_at || 0) || (b.last_seq || 0) - (a.last_seq || 0) ||
      String(a.id).localeCompare(String(b.id)));
  }

  maxSeq(c) { return c.last_seq || 0; }

  // Unread: what the server said at load, plus what arrived since from
  // others while the conversation was not on screen.
  unread(c) {
    return c.id === this.current ? 0 : (c.unread || 0);
  }

  // Per conversation, the seq up to which nothing is missing: pushes can
  // overtake each other, so a gap is filled by catch-up, not skipped.
  lastSeen() {
    const out = {};
    for (const c of this.convs.values()) out[c.id] = c.contig || 0;
    return out;
  }

  advance(c) {
    while (c.bySeq.has(c.contig + 1)) c.contig++;
  }

  /* Messages. */

  // Returns the messages that were new.
  addMessages(c, msgs) {
    const added = [];
    for (const raw of msgs) {
      if (raw.seq == null) continue;
      if (c.bySeq.has(raw.seq)) continue;
      const m = Object.assign({}, raw);
      if (m.client_msg_id) {
        const i = c.messages.findIndex((p) => p.pending && p.client_msg_id === m.client_msg_id);
        if (i >= 0) c.messages.splice(i, 1);
      }
      c.bySeq.set(m.seq, m);
      c.messages.push(m);
      added.push(m);
      if (m.seq > c.last_seq) {
        c.last_seq = m.seq;
        c.last_body = m.body;
        c.last_at = m.created_at || Date.now();
      }
      if (m.sender) this.learnUser(m.sender);
    }
    if (added.length) {
      this.sortMessages(c);
      this.advance(c);
    }
    return added;
  }

  sortMessages(c) {
    c.messages.sort((a, b) => {
      if (a.pending !== b.pending) return a.pending ? 1 : -1;
      return (a.seq || 0) - (b.seq || 0);
    });
  }

  addPending(c, m) {
    c.messages.push(m);
  }

  ack(f) {
    for (const c of this.convs.values()) {
      const i = c.messages.findIndex((p) => p.pending && p.client_msg_id === f.client_msg_id);
      if (i < 0) continue;
      const m = c.messages[i];
      c.messages.splice(i, 1);
      if (f.seq != null && !c.bySeq.has(f.seq)) {
        Object.assign(m, { pending: false, seq: f.seq,
          created_at: f.created_at, id: f.message_id });
        c.bySeq.set(f.seq, m);
        c.messages.push(m);
        this.advance(c);
        if (f.seq > c.last_seq) {
          c.last_seq = f.seq;
          c.last_body = m.body;
          c.last_at = f.created_at || Date.now();
        }
        if (f.seq > c.read_seq) c.read_seq = f.seq;
      }
      this.sortMessages(c);
      return;
    }
  }

  fail(clientId, why) {
    for (const c of this.convs.values()) {
      const m = c.messages.find((p) => p.pending && p.client_msg_id === clientId);
      if (m) { m.pending = false; m.failed = why; return; }
    }
  }

  setRead(id, seq, userId) {
    const c = this.conv(id);
    if (!c || (userId != null && userId !== this.me.id)) return;
    if (seq > c.read_seq) { c.read_seq = seq; c.unread = 0; }
  }
}

export const store = new Store();
