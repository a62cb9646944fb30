// Up next: when a lesson ends, the next one in course order starts after a short countdown that
// the person sees and can cancel (or skip with "Play now").

import { h } from '../dom.js';

export const COUNTDOWN_S = 5;

// Shows the countdown in `box` (the video's frame); `go()` opens the next lesson. Returns a
// function that cancels it.
export function upNext(box, next, { go, signal, seconds = COUNTDOWN_S }) {
  let left = seconds;
  const count = h('span', { class: 'upnext-count' }, String(left));
  const cancelButton = h('button', { type: 'button', class: 'ghost' }, 'Cancel');
  const nowButton = h('button', { type: 'button' }, 'Play now');
  const panel = h('div', { class: 'upnext', role: 'region', 'aria-label': 'Up next' },
    h('p', { class: 'upnext-label' }, 'Up next'),
    h('p', { class: 'upnext-title' }, next.title),
    h('p', { class: 'upnext-when', 'aria-live': 'off' }, 'Starts in ', count, ' s'),
    h('p', { class: 'visually-hidden', role: 'status' }, `Next: ${next.title}, in ${seconds} seconds.`),
    h('div', { class: 'buttons' }, nowButton, cancelButton));
  const timer = setInterval(() => {
    left -= 1;
    count.textContent = String(Math.max(0, left));
    if (left <= 0) finish(true);
  }, 1000);
  function finish(start) {
    clearInterval(timer);
    panel.remove();
    if (start) go();
  }
  nowButton.addEventListener('click', () => finish(true));
  cancelButton.addEventListener('click', () => finish(false));
  signal.addEventListener('abort', () => finish(false), { once: true });
  box.append(panel);
  cancelButton.focus({ preventScroll: true });
  return () => finish(false);
}

// At the end of the course: no countdown, a word and the way back.
export function courseDone(box, courseHref) {
  const panel = h('div', { class: 'upnext done', role: 'status' },
    h('p', { class: 'upnext-title' }, 'That was the last lesson of this course.'),
    h('p', {}, h('a', { class: 'button-link', href: courseHref }, 'Back to the course')));
  box.append(panel);
  return () => panel.remove();
}
