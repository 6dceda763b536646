// The signed-in session: access and refresh tokens in sessionStorage (gone
// with the tab, never a cookie), the account as the API last returned it.
import { call, useTokens } from './api.js';

const KEY = 'bazaar.session';
const listeners = new Set();
let session = load();

function load() {
  try { return JSON.parse(sessionStorage.getItem(KEY)) || null; } catch { return null; }
}

function save(next) {
  session = next;
  try {
    if (next) sessionStorage.setItem(KEY, JSON.stringify(next));
    else sessionStorage.removeItem(KEY);
  } catch { /* storage unavailable: the session lives in memory only */ }
  for (const fn of listeners) fn(session);
}

export const onSessionChange = (fn) => listeners.add(fn);
export const currentUser = () => session?.user ?? null;
export const signedIn = () => Boolean(session?.access_token);

export function isAdmin(user = currentUser()) {
  return Boolean(user?.roles?.some((r) => r === 'ROLE_ADMIN' || r === 2));
}

let refreshing = null;
async function refresh() {
  if (!session?.refresh_token) { save(null); return false; }
  refreshing ??= call('refreshToken', { body: { refresh_token: session.refresh_token }, auth: false })
    .then((answer) => {
      save({ ...session, access_token: answer.access_token, refresh_token: answer.refresh_token });
      return true;
    })
    .catch(() => { save(null); return false; })
    .finally(() => { refreshing = null; });
  return refreshing;
}

useTokens({ access: () => session?.access_token ?? '', refresh });

export async function logIn(email, password) {
  const answer = await call('login', { body: { email, password }, auth: false });
  save({
    access_token: answer.access_token,
    refresh_token: answer.refresh_token,
    user: answer.user,
  });
  return answer.user;
}

export async function register(email, password, displayName) {
  await call('register', { body: { email, password, display_name: displayName }, auth: false });
  return logIn(email, password);
}

export async function logOut() {
  const token = session?.refresh_token;
  save(null);
  if (token) {
    try { await call('logout', { body: { refresh_token: token }, auth: false }); } catch { /* revoking is best effort */ }
  }
}

/** Keeps the stored account in step with GET /v1/me. */
export function setUser(user) {
  if (session) save({ ...session, user });
}
