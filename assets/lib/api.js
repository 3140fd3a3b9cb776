// One way to call the API: JSON in and out, the cookie sent, errors thrown.

import { toast } from './dom.js';
import { S } from './state.js';
import { t } from './i18n.js';

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

let sessionEnded = () => {};
// What happens when the login ends while the page is open (app.js: the login form).
export function onSessionEnd(fn) { sessionEnded = fn; }
export function endSession(message) { sessionEnded(message); }

export async function api(method, path, body) {
  const opts = { method, headers: {}, credentials: 'same-origin' };
  if (body instanceof FormData) opts.body = body;
  else if (typeof body === 'string') { opts.body = body; opts.headers['content-type'] = 'text/csv'; }
  else if (body !== undefined) { opts.body = JSON.stringify(body); opts.headers['content-type'] = 'application/json'; }
  const r = await fetch(path, opts);
  const type = r.headers.get('content-type') || '';
  const data = type.includes('json') ? await r.json() : await r.text();
  if (r.status === 401 && S.me) {
    endSession(t('Your login ended; log in again.'));
    throw new ApiError(401, data);
  }
  if (!r.ok) throw new ApiError(r.status, data);
  return data;
}

// Runs an action, telling the user how it went.
export async function act(fn, done) {
  try {
    const result = await fn();
    if (done) toast(done);
    return result;
  } catch (e) {
    if (e.status !== 401) toast(e.message, true);
    return undefined;
  }
}
