// Announced messages: one error at a time in the alert region, one confirmation at a time in the
// polite status region. A new message replaces the old one; a navigation clears both.

import { h } from './dom.js';

const SETTING_NAME = /^[A-Z][A-Z0-9_]{1,63}$/;

function region(id) {
  return document.getElementById(id);
}

// `key` tells one message from another; `text` and `extra` are what is shown.
function show(regionId, cls, key, extra = null, text = key) {
  const box = region(regionId);
  const current = box.firstElementChild;
  if (current && current.dataset.text === key) return current; // a poll repeating itself
  const close = h('button', { type: 'button', class: 'dismiss', 'aria-label': 'Dismiss message' }, '×');
  const note = h('div', { class: `notice ${cls}` }, h('p', { class: 'notice-text' }, text, extra), close);
  note.dataset.text = key;
  close.addEventListener('click', () => note.remove());
  box.replaceChildren(note);
  return note;
}

// Where a person fixes what the error is about: the page its details name (Settings), or the
// setting it names, explained on the Settings page. Only our own hash routes become links.
export function fixLink(details) {
  if (!details || typeof details !== 'object') return null;
  if (typeof details.setting === 'string' && SETTING_NAME.test(details.setting)) {
    return h('a', { class: 'notice-link', href: `#/settings?setting=${details.setting}` },
      `How to change ${details.setting}`);
  }
  if (typeof details.page === 'string') {
    const hash = details.page.replace(/^\/(?=#)/, '');
    if (/^#\/[a-z]+$/.test(hash)) {
      const name = hash.slice(2);
      return h('a', { class: 'notice-link', href: hash }, `Open ${name[0].toUpperCase()}${name.slice(1)}`);
    }
  }
  return null;
}

// `keepFor`: a hash the caller is about to open; the message survives that one navigation.
export function notifyError(error, hint = '', { keepFor = null } = {}) {
  const text = `${error.message}${hint ? ' ' + hint : ''}`;
  const link = fixLink(error.details);
  // The request id is for whoever reads the server's log: there, but quiet.
  const id = error.requestId ? h('span', { class: 'request-id' }, ` (request ${error.requestId})`) : null;
  const key = `${text}${id ? id.textContent : ''}`;
  const note = show('errors', 'error', key, [...(link ? [' ', link] : []), id], text);
  note.dataset.code = error.code || '';
  if (keepFor) note.dataset.keepFor = keepFor;
  return note;
}

export function notify(text) {
  const note = show('status', 'ok', text);
  setTimeout(() => note.remove(), 8000);
  return note;
}

// On navigation to `hash`: every message goes, except one kept for exactly this navigation.
export function clearNotices(hash = null) {
  for (const id of ['errors', 'status']) {
    for (const note of [...region(id).children]) {
      if (hash && note.dataset.keepFor === hash) delete note.dataset.keepFor;
      else note.remove();
    }
  }
}
