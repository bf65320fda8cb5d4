// The API, same origin. Every request carries the console's header: with the session
// cookie the server requires it on anything that changes state (a cross-site form cannot
// send it), and every body is JSON (the server refuses form types).
export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.detail) || `request failed (${status})`);
    this.status = status;
    this.code = body && body.error;
  }
}

let onUnauthorized = () => {};
export function whenUnauthorized(fn) { onUnauthorized = fn; }

export async function api(method, path, body) {
  const init = { method, headers: { "X-A4PS-Console": "1" }, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (res.status === 401 && path !== "/console/login") onUnauthorized();
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

export const get = path => api("GET", path);
export const post = (path, body = {}) => api("POST", path, body);
export const enc = encodeURIComponent;
