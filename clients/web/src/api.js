// The REST API under /api/v1: JSON in and out, the access token attached, and every error
// turned into words a person can read (the API's `{code, status, message, errors?}` shape).

import { describe } from "./errors.js";
import { session } from "./session.js";

const BASE = "/api/v1";

export class ApiError extends Error {
  constructor(message, status, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

async function send(method, path, body, token) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  try {
    return await fetch(BASE + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new ApiError(`Cannot reach the server (${error.message}). Check your connection and try again.`, 0);
  }
}

/**
 * One API call. `auth: false` for sign-in and registration; otherwise the access token is
 * attached, and an expired one is renewed once before giving up.
 * Resolves to `{data, headers}` when `full` is set, else to the JSON body.
 */
export async function api(method, path, body, { auth = true, full = false } = {}) {
  let response = await send(method, path, body, auth ? await session.token() : null);
  if (auth && response.status === 401) {
    await session.renew();
    response = await send(method, path, body, await session.token());
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    if (auth && response.status === 401) session.expired(describe(401, data));
    throw new ApiError(describe(response.status, data), response.status, data);
  }
  return full ? { data, headers: response.headers } : data;
}

export const get = (path, options) => api("GET", path, undefined, options);
export const post = (path, body, options) => api("POST", path, body ?? {}, options);
export const patch = (path, body, options) => api("PATCH", path, body, options);
export const del = (path, options) => api("DELETE", path, undefined, options);
