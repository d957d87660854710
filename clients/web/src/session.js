// The signed-in user's tokens (README "Tokens and sessions").
//
// The access token (15 minutes) lives in memory only: nothing else can read it, and it is gone
// with the page. The refresh token (7 days, rotated at every use) is kept in sessionStorage:
// a reload of the tab stays signed in, closing the tab forgets it, and other tabs never see it
// (localStorage would share it between tabs, which would then race to rotate it, and a rotated
// token presented twice makes the server close the whole session). sessionStorage is readable
// by scripts of this origin, like memory is; the Content-Security-Policy (scripts from this
// origin only, no inline script) is what keeps other scripts out.
//
// Renewal: a timer refreshes the pair a minute before the access token expires (or at 80 % of
// its lifetime when that is shorter), so API calls and Socket.IO reconnects always carry a live
// token; a 401 also triggers one renewal. Sign-out closes the session on the server.

import { describe } from "./errors.js";

const REFRESH_KEY = "collab.refresh_token";
const listeners = new Set();

let access = null;
let expiresAt = 0;
let user = null;
let renewing = null;
let timer = null;
let notice = "";

async function call(path, body, token) {
  const headers = { "Content-Type": "application/json", Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(`/api/v1${path}`, { method: "POST", headers, body: JSON.stringify(body) });
  } catch (error) {
    throw Object.assign(new Error(`Cannot reach the server (${error.message}).`), { status: 0 });
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    throw Object.assign(new Error(describe(response.status, data)), { status: response.status });
  }
  return data;
}

function adopt(tokens) {
  access = tokens.access_token;
  const lifetime = (tokens.expires_in || 900) * 1000;
  expiresAt = Date.now() + lifetime;
  sessionStorage.setItem(REFRESH_KEY, tokens.refresh_token);
  clearTimeout(timer);
  timer = setTimeout(() => session.renew().catch(() => {}), Math.max(5000, Math.min(lifetime - 60000, lifetime * 0.8)));
}

function forget() {
  access = null;
  user = null;
  expiresAt = 0;
  clearTimeout(timer);
  sessionStorage.removeItem(REFRESH_KEY);
  for (const listener of listeners) listener(null);
}

async function loadUser() {
  const response = await fetch("/api/v1/auth/me", { headers: { Authorization: `Bearer ${access}` } });
  if (!response.ok) throw new Error("Could not load your account");
  user = await response.json();
  for (const listener of listeners) listener(user);
}

export const session = {
  get user() {
    return user;
  },

  /** A message for the sign-in page ("Your session has ended"), read once. */
  takeNotice() {
    const text = notice;
    notice = "";
    return text;
  },

  onChange(listener) {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },

  async signIn(email, password) {
    adopt(await call("/auth/login", { email, password }));
    await loadUser();
  },

  async register(fields) {
    await call("/auth/register", fields);
    await session.signIn(fields.email, fields.password);
  },

  /** At start-up: a refresh token of this tab's earlier page, if any, signs us in again. */
  async restore() {
    if (!sessionStorage.getItem(REFRESH_KEY)) return false;
    try {
      await session.renew();
      await loadUser();
      return true;
    } catch {
      forget();
      return false;
    }
  },

  /** A fresh access token for the API and the Socket.IO connection (CollabClient getToken). */
  async token() {
    if (access && Date.now() < expiresAt - 10000) return access;
    if (sessionStorage.getItem(REFRESH_KEY)) await session.renew();
    return access;
  },

  /** Rotate the pair; one renewal at a time (a rotated token may only be used once). */
  renew() {
    if (!renewing) {
      const refresh_token = sessionStorage.getItem(REFRESH_KEY);
      renewing = (async () => {
        if (!refresh_token) throw new Error("You are signed out.");
        try {
          adopt(await call("/auth/refresh", { refresh_token }));
        } catch (error) {
          if (error.status === 401) session.expired("Your session has ended: please sign in again.");
          throw error;
        }
      })().finally(() => (renewing = null));
    }
    return renewing;
  },

  expired(message) {
    notice = message;
    forget();
  },

  async signOut() {
    const refresh_token = sessionStorage.getItem(REFRESH_KEY);
    try {
      if (access) await call("/auth/logout", refresh_token ? { refresh_token } : {}, access);
    } catch {
      // Signed out here either way; an unreachable server closes the session at its expiry.
    }
    forget();
  },
};
