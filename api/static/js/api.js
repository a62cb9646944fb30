// The API client: the session's CSRF token (or the admin token from sessionStorage), an ETag
// cache per URL, envelope errors.

import { notifyError } from './notify.js';

const TOKEN_KEY = 'aula.adminToken';
const cache = new Map(); // url -> {etag, body}

export class ApiError extends Error {
  constructor(status, code, message, requestId = null, details = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.requestId = requestId;
    this.details = details;
  }
}

// Who is signed in (GET /api/session), kept for the header and for X-CSRF-Token on changes.
export const session = { user: null, role: null, csrf: null, setupRequired: false, known: false };

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
  forget: () => sessionStorage.removeItem(TOKEN_KEY),
};

function headersFor(method, url, contentType) {
  const headers = { Accept: 'application/json' };
  const stored = token.get();
  if (stored) headers.Authorization = `Bearer ${stored}`;
  // The session cookie rides along by itself; a change made with it must carry its CSRF token.
  if (method !== 'GET' && session.csrf) headers['X-CSRF-Token'] = session.csrf;
  if (contentType) headers['Content-Type'] = contentType;
  const cached = cache.get(url);
  if (method === 'GET' && cached) headers['If-None-Match'] = cached.etag;
  return headers;
}

async function errorFrom(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not our envelope (a proxy's page, say): fall through to a generic sentence
  }
  const error = body && body.error;
  if (error && error.message) {
    return new ApiError(response.status, error.code, error.message, body.request_id, error.details);
  }
  const requestId = response.headers.get('X-Request-ID');
  return new ApiError(response.status, 'http_error', `The server answered ${response.status}.`, requestId);
}

async function send(method, url, options) {
  const { json, body, contentType, signal } = options;
  const init = { method, signal, cache: 'no-store', credentials: 'same-origin' };
  init.headers = headersFor(method, url, json !== undefined ? 'application/json' : contentType);
  if (json !== undefined) init.body = JSON.stringify(json);
  else if (body !== undefined) init.body = body;
  try {
    return await fetch(url, init);
  } catch (error) {
    if (error.name === 'AbortError') throw error;
    throw new ApiError(0, 'network_error', 'Aula could not be reached; check the connection.');
  }
}

// `quiet` callers show the error themselves; every other failure is announced here.
export async function request(method, url, options = {}) {
  try {
    const response = await send(method, url, options);
    if (response.status === 304 && cache.has(url)) return cache.get(url).body;
    if (!response.ok) throw await errorFrom(response);
    if (response.status === 204) return null;
    const data = await response.json();
    const etag = response.headers.get('ETag');
    if (method === 'GET' && etag) cache.set(url, { etag, body: data });
    return data;
  } catch (error) {
    if (error.name === 'AbortError' || (options.quiet && error.status === 401)) throw error;
    if (error.status === 401 && session.known && !session.setupRequired) {
      // Signed out (expired, revoked, or never signed in): the sign-in page, then back here.
      if (location.hash.startsWith('#/signin')) {
        notifyError(error); // a wrong username or password, said on the sign-in page
      } else {
        sessionStorage.setItem('aula.after', location.hash);
        location.hash = '#/signin';
      }
    } else if (error.status === 401) {
      notifyError(error, 'Enter the admin token in Settings, then try again.', { keepFor: '#/settings' });
      if (!location.hash.startsWith('#/settings')) location.hash = '#/settings';
    } else if (!options.quiet) {
      notifyError(error);
    }
    throw error;
  }
}

export const get = (url, options) => request('GET', url, options);
export const post = (url, json, options = {}) => request('POST', url, { ...options, json });
export const put = (url, json, options = {}) => request('PUT', url, { ...options, json });
export const patch = (url, json, options = {}) => request('PATCH', url, { ...options, json });
export const del = (url, options) => request('DELETE', url, options);

export function query(path, params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== '') search.set(key, value);
  }
  const text = search.toString();
  return text ? `${path}?${text}` : path;
}
