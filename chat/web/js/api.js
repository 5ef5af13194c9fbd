// REST calls to chatd under /api/v1 (docs/chat-api.md). Every function
// returns the decoded JSON body or throws an ApiError carrying the
// server's error code and message.

const BASE = '/api/v1';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `request failed (${status})`);
    this.status = status;
    this.code = code || '';
  }
}

let token = null;

export function setToken(t) { token = t; }
export function getToken() { return token; }

async function call(method, path, body) {
  const headers = { Accept: 'application/json' };
  const init = { method, headers, cache: 'no-store' };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(BASE + path, init);
  } catch (e) {
    throw new ApiError(0, 'network', 'cannot reach the server');
  }
  let data = null;
  const text = await res.text();
  if (text) {
    try { data = JSON.parse(text); } catch (e) { data = null; }
  }
  if (!res.ok) {
    const err = (data && data.error) || {};
    const code = typeof err === 'string' ? err : err.code;
    const msg = (typeof err === 'object' && err.message) || (data && data.message);
    if (!msg && res.status >= 502) {
      throw new ApiError(res.status, 'unavailable',
        'the chat server is not answering right now; try again in a moment');
    }
    throw new ApiError(res.status, code, msg || `${method} ${path} failed (${res.status})`);
  }
  return data || {};
}

const enc = encodeURIComponent;

export const api = {
  register: (username, password, displayName) =>
    call('POST', '/register', { username, password, display_name: displayName || username }),
  login: (username, password) => call('POST', '/login', { username, password }),
  logout: () => call('POST', '/logout', {}),
  deleteAccount: (password) => call('DELETE', '/account', { password }),
  me: () => call('GET', '/me'),
  searchUsers: (q) => call('GET', `/users?q=${enc(q)}`),
  friends: () => call('GET', '/friends'),
  friendRequests: () => call('GET', '/friends/requests'),
  sendFriendRequest: (userId) => call('POST', '/friends/requests', { user_id: userId }),
  acceptRequest: (id) => call('POST', `/friends/requests/${enc(id)}/accept`, {}),
  rejectRequest: (id) => call('POST', `/friends/requests/${enc(id)}/reject`, {}),
  groups: () => call('GET', '/groups'),
  createGroup: (name, memberIds) => call('POST', '/groups', { name, member_ids: memberIds }),
  group: (id) => call('GET', `/groups/${enc(id)}`),
  addMember: (gid, userId) => call('POST', `/groups/${enc(gid)}/members`, { user_id: userId }),
  removeMember: (gid, userId) => call('DELETE', `/groups/${enc(gid)}/members/${enc(userId)}`),
  conversations: () => call('GET', '/conversations'),
  history: (convId, beforeSeq, limit) => {
    let q = `?limit=${limit || 50}`;
    if (beforeSeq) q += `&before=${beforeSeq}`;
    return call('GET', `/conversations/${enc(convId)}/messages${q}`);
  },
  markRead: (convId, seq) => call('POST', `/conversations/${enc(convId)}/read`, { seq }),
  directConversation: (userId) => call('POST', '/conversations/direct', { user_id: userId }),
};
