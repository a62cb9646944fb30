// Home: "Continue watching" (most recent first, with how far each lesson got) and the courses
// with their completion. The catalog grid stays in the navigation for browsing everything.

import { get, query } from '../api.js';
import { h } from '../dom.js';
import { courseHash, courseMeta, lessonHash, listCourses, rememberedCourse } from '../courses.js';
import { completionBar, positionBar, progressSettled, timeLeft } from '../progress.js';

const CONTINUE_LIMIT = 12;

export function thumb(url, fallbackText = '') {
  const placeholder = () => h('span', { class: 'thumb placeholder', 'aria-hidden': 'true' },
    fallbackText ? initials(fallbackText) : '▶');
  if (!url) return placeholder();
  const img = h('img', { class: 'thumb', src: url, alt: '', loading: 'lazy', width: 320, height: 180 });
  img.addEventListener('error', () => img.replaceWith(placeholder()), { once: true });
  return img;
}

function initials(text) {
  const words = String(text).split(/[\s_\-–—/]+/).filter((w) => /\p{L}|\p{N}/u.test(w));
  return words.slice(0, 2).map((w) => [...w][0].toUpperCase()).join('') || '▶';
}

// A progress entry with what the card needs; the item is read when the entry does not carry it.
async function withItem(entry, signal) {
  const item = entry.item || (entry.title ? entry : null);
  if (item) return { entry, item };
  try {
    return { entry, item: await get(`/api/catalog/items/${entry.item_id}`, { signal, quiet: true }) };
  } catch (error) {
    if (error.name === 'AbortError') throw error;
    return null; // gone from the catalog: nothing to continue
  }
}

// The course a lesson in progress belongs to: as the entry says, as this browser remembers, or
// the course whose next lesson it is (the lesson most recently in progress there).
function courseOf(entry, itemId, courses) {
  const named = entry.course_id ?? entry.course?.id ?? rememberedCourse(itemId);
  const known = named !== null && named !== undefined
    ? courses.find((c) => String(c.id) === String(named))
    : courses.find((c) => String(c.progress?.next_item_id) === String(itemId));
  if (known) return { id: known.id, title: known.title };
  return named !== null && named !== undefined ? { id: named, title: entry.course?.title ?? null } : null;
}

function continueCard({ entry, item }, courses) {
  const itemId = entry.item_id ?? item.id;
  const course = courseOf(entry, itemId, courses);
  const length = entry.duration_s ?? item.duration_s;
  return h('li', {},
    h('a', { class: 'card continue-card', href: lessonHash(itemId, course?.id), 'data-item-id': itemId },
      h('span', { class: 'thumb-wrap' }, thumb(item.thumbnail_url), positionBar(entry.position_s, length)),
      h('span', { class: 'card-title' }, item.title),
      h('span', { class: 'card-meta' }, [course?.title, timeLeft(entry.position_s, length)].filter(Boolean).join(' · '))));
}

// The person's lessons in progress, most recent first ([] when they cannot be read: the courses
// still show, and nothing to continue is no error to shout about).
async function inProgress(signal) {
  try {
    const page = await get(query('/api/progress', { state: 'in_progress', limit: CONTINUE_LIMIT }), { signal, quiet: true });
    return page.items || [];
  } catch (error) {
    if (error.name === 'AbortError') throw error;
    return [];
  }
}

async function continueSection(entries, courses, signal) {
  const cards = (await Promise.all(entries.map((entry) => withItem(entry, signal)))).filter(Boolean);
  if (!cards.length) return null;
  return h('section', { class: 'home-section', 'aria-labelledby': 'continue-heading' },
    h('h2', { id: 'continue-heading' }, 'Continue watching'),
    h('ul', { class: 'grid continue-grid', 'aria-label': 'Continue watching' },
      cards.map((card) => continueCard(card, courses))));
}

// `started`: ids of lessons in progress; a course with none of them nor a watched lesson is new.
function courseCard(course, started) {
  const next = course.progress?.next_item_id;
  const done = course.progress?.total && course.progress.watched >= course.progress.total;
  const fresh = !course.progress?.watched && !started.has(String(next));
  return h('li', { class: 'course-item' },
    h('a', { class: 'card course-card', href: courseHash(course.id), 'data-course-id': course.id },
      h('span', { class: 'thumb-wrap' }, thumb(course.thumbnail_url, course.title)),
      h('span', { class: 'card-title' }, course.title),
      h('span', { class: 'card-meta' }, courseMeta(course)),
      h('span', { class: 'card-progress' }, completionBar(course.progress))),
    next && !done ? h('a', { class: 'card-action', href: lessonHash(next, course.id),
      'aria-label': `${fresh ? 'Start' : 'Continue'} “${course.title}”` }, fresh ? '▶ Start' : '▶ Continue') : null);
}

function emptyCourses() {
  return h('div', { class: 'empty-state' },
    h('p', {}, 'No courses yet. A course is a folder of lessons in a media folder or in Google Drive, or a '
      + 'Google Classroom course.'),
    h('p', { class: 'admin-only' }, 'Add media folders or connect Google in ',
      h('a', { href: '#/settings' }, 'Settings'), ', then rebuild the catalog under ',
      h('a', { href: '#/sources' }, 'Sources'), '.'));
}

function emptyOr(grid) {
  return grid.children.length ? grid : emptyCourses();
}

// The courses' first page is read once: it is shown, and it tells lessons in progress their course.
function coursesSection(first, started, signal) {
  const grid = h('ul', { class: 'grid course-grid', 'aria-label': 'Courses' });
  const more = h('button', { type: 'button', class: 'load-more', hidden: true }, 'More courses');
  let cursor = null;
  const show = (page) => {
    grid.append(...page.items.map((course) => courseCard(course, started)));
    cursor = page.next_cursor;
    more.hidden = !cursor;
  };
  more.addEventListener('click', () => listCourses(cursor, { signal }).then(show).catch(() => {}));
  show(first);
  return h('section', { class: 'home-section', 'aria-labelledby': 'courses-heading' },
    h('h2', { id: 'courses-heading' }, 'Courses'), emptyOr(grid), more);
}

export async function homeView({ root, signal }) {
  root.append(h('h1', { class: 'visually-hidden' }, 'Home'));
  await progressSettled(); // the position just written by the player shows here
  const [first, entries] = await Promise.all([listCourses(null, { signal }), inProgress(signal)]);
  const started = new Set(entries.map((entry) => String(entry.item_id)));
  const watching = await continueSection(entries, first.items, signal);
  root.append(...[watching, coursesSection(first, started, signal)].filter(Boolean),
    h('p', { class: 'browse-all' }, h('a', { href: '#/catalog' }, 'Browse everything in the catalog →')));
}
