// The JSON API, with the signed-in session's bearer token on every request.
import { t } from "./i18n.js";

const SESSION_KEY = "tessera.session";
const RANK = { anonymous: 0, editor: 1, moderator: 2, admin: 3 };
const listeners = new Set();

export class ApiError extends Error {
  constructor(status, code, message, details = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

function readSession() {
  try {
    const s = JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
    if (s && s.expires_at && Date.parse(s.expires_at) < Date.now()) return null;
    return s;
  } catch {
    return null;
  }
}

let session = readSession();

export const currentUser = () => (session ? session.user : { name: null, role: "anonymous" });
export const role = () => currentUser().role;
export const atLeast = (r) => (RANK[role()] ?? 0) >= RANK[r];
export const token = () => (session ? session.token : null);

export function onSessionChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function setSession(s, reason) {
  session = s;
  if (s) sessionStorage.setItem(SESSION_KEY, JSON.stringify(s));
  else sessionStorage.removeItem(SESSION_KEY);
  for (const fn of listeners) fn(currentUser(), reason);
}

async function parseError(r) {
  let body = null;
  try {
    body = await r.json();
  } catch {
    /* not JSON */
  }
  // RFC 9457 problem details: {type, title, status, detail, code, ...extensions}
  if (body && typeof body.type === "string" && typeof body.detail === "string") {
    const { type, title, status, detail, instance, code, ...details } = body;
    return new ApiError(r.status, code || type.split("/").pop(), detail, details);
  }
  return new ApiError(r.status, "http_" + r.status, t("error.http", { status: r.status }));
}

/**
 * fetch() for the API. opts: method, json (body as JSON), form (FormData), raw (answer the Response),
 * signal. Errors become ApiError carrying the API's own message.
 */
export async function api(path, opts = {}) {
  const { method = "GET", json, form, raw = false, signal } = opts;
  const headers = {};
  const tok = token();
  if (tok) headers.Authorization = `Bearer ${tok}`;
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form) body = form;
  let r;
  try {
    r = await fetch(path, { method, headers, body, signal });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, "network", t("error.network"));
  }
  if (r.status === 401 && tok && tok === token()) {
    const err = await parseError(r);
    // a token sent and refused: our session ended (expired or revoked); forget it and read on as anonymous
    if (!path.startsWith("/api/login")) {
      setSession(null, "expired");
      if (method === "GET") return api(path, opts);
    }
    throw err;
  }
  if (!r.ok) throw await parseError(r);
  if (raw) return r;
  if (r.status === 204) return null;
  return r.json();
}

export async function signIn(name, password) {
  const res = await api("/api/login", { method: "POST", json: { name, password } });
  setSession({ token: res.token, user: res.user, expires_at: res.expires_at }, "signin");
  return res.user;
}

export async function signOut() {
  try {
    await api("/api/logout", { method: "POST" });
  } catch {
    /* signed out locally either way */
  }
  setSession(null, "signout");
}

/** Check a kept session with the server (role changes, revoked keys). */
export async function refreshSession() {
  if (!session) return;
  try {
    const me = await api("/api/me");
    if (!me.name || me.role === "anonymous") setSession(null, "expired");
    else if (me.role !== session.user.role || me.name !== session.user.name) {
      setSession({ ...session, user: { ...session.user, ...me } }, "refresh");
    }
  } catch {
    /* keep it; the next request will tell */
  }
}

/** Cache of item details (titles for the map's hover, exemplars, members). */
const itemCache = new Map();
export function getItem(id) {
  if (!itemCache.has(id)) {
    const p = api(`/api/items/${id}`).catch((e) => {
      itemCache.delete(id);
      throw e;
    });
    itemCache.set(id, p);
  }
  return itemCache.get(id);
}
