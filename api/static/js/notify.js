// Announced messages: errors in an alert region, confirmations in a polite status region.

import { h } from './dom.js';

const MAX_SHOWN = 4;

function region(id) {
  return document.getElementById(id);
}

function show(regionId, cls, text) {
  const box = region(regionId);
  const last = box.lastElementChild;
  if (last && last.firstElementChild.textContent === text) return last; // a poll repeating itself
  const close = h('button', { type: 'button', class: 'dismiss', 'aria-label': 'Dismiss message' }, '×');
  const note = h('p', { class: `notice ${cls}` }, h('span', {}, text), close);
  close.addEventListener('click', () => note.remove());
  box.append(note);
  while (box.children.length > MAX_SHOWN) box.firstElementChild.remove();
  return note;
}

export function notifyError(error, hint = '') {
  const id = error.requestId ? ` (request ${error.requestId})` : '';
  const text = `${error.message}${id}${hint ? ' ' + hint : ''}`;
  const note = show('errors', 'error', text);
  note.dataset.code = error.code || '';
  return note;
}

export function notify(text) {
  const note = show('status', 'ok', text);
  setTimeout(() => note.remove(), 8000);
  return note;
}

export function clearNotices() {
  region('status').replaceChildren();
}
