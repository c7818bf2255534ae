// Every request of the app goes through here: the session cookie (same origin), the CSRF
// header on every change, and the API's one error shape turned into an ApiError.

export class ApiError extends Error {
  constructor(status, code, message, requestId, retryAfter) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code || 'http_error';
    this.requestId = requestId || null;
    // Seconds, from the Retry-After header (429, 409, 503), or null.
    this.retryAfter = retryAfter;
  }
}

// fetch rejects with a TypeError when the network is down or the connection was cut.
export class NetworkError extends Error {
  constructor(cause) {
    super('The connection to the server was lost.');
    this.cause = cause;
  }
}

const listeners = { unauthorized: new Set(), offline: new Set() };
export function on(event, fn) {
  listeners[event].add(fn);
}
function emit(event, detail) {
  for (const fn of listeners[event]) fn(detail);
}

export function headersFor(method, extra = {}) {
  const headers = { Accept: 'application/json', ...extra };
  // A cross-site page cannot add a custom header, so the server refuses changes without it.
  if (method !== 'GET' && method !== 'HEAD') headers['X-Chat-CSRF'] = '1';
  return headers;
}

function retryAfterOf(res) {
  const value = res.headers.get('Retry-After');
  if (!value) return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, Math.ceil(seconds));
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

export async function errorOf(res) {
  let body = null;
  try {
    body = await res.json();
  } catch {
    // Not the API's JSON (a proxy's page, an empty body): the status says enough.
  }
  const e = body && body.error ? body.error : {};
  return new ApiError(res.status, e.code, e.message, e.request_id, retryAfterOf(res));
}

// Sends a request and returns the raw Response when it is ok; throws ApiError or NetworkError.
// `quiet401` is for GET /session, where 401 is an answer, not an event.
export async function send(method, path, { body, headers = {}, signal, quiet401 = false } = {}) {
  const init = { method, credentials: 'same-origin', headers: headersFor(method, headers), signal };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    if (e && e.name === 'AbortError') throw e;
    const error = new NetworkError(e);
    emit('offline', error);
    throw error;
  }
  if (!res.ok) {
    const error = await errorOf(res);
    if (res.status === 401 && !quiet401) emit('unauthorized', error);
    throw error;
  }
  return res;
}

export async function api(method, path, options = {}) {
  const res = await send(method, path, options);
  if (res.status === 204) return null;
  return res.json();
}

// What a person reads for an error: what happened and what to do.
export function describe(error) {
  if (error instanceof NetworkError) return 'The connection was lost. Your text is kept: send it again once the connection is back.';
  if (!(error instanceof ApiError)) return String(error && error.message ? error.message : error);
  const wait = error.retryAfter !== null && error.retryAfter !== undefined ? ` Try again in ${error.retryAfter} s.` : '';
  switch (error.code) {
    case 'rate_limited':
      return `Too many requests right now.${wait || ' Try again in a moment.'}`;
    case 'model_unavailable':
      return `The model is unavailable. Your message is kept.${wait}`;
    case 'conflict':
      return `This message is still being answered.${wait}`;
    case 'payload_too_large':
      return 'That message is too long.';
    case 'unauthorized':
      return 'The session has ended: sign in again.';
    default:
      return `${error.message}${error.requestId ? ` (request ${error.requestId})` : ''}`;
  }
}
