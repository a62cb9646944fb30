// A course: its sections in order, lessons with position, duration and watched marks, the files
// beside them, marking by hand, and a button to continue where the person stopped.

import { h } from '../dom.js';
import { duration } from '../format.js';
import { courseMeta, getCourse, lessonHash, lessonsInOrder } from '../courses.js';
import { completionBar, markWatched, positionBar, progressSettled, stateOf, timeLeft } from '../progress.js';
import { thumb } from './home.js';

const FILE_KINDS = [[/pdf/, 'PDF'], [/presentation|powerpoint|slides/, 'Slides'], [/spreadsheet|excel|csv/, 'Sheet'],
  [/word|document|text/, 'Document'], [/image/, 'Image'], [/zip|compressed|archive/, 'Archive']];

function fileKind(mime) {
  const found = FILE_KINDS.find(([pattern]) => pattern.test(mime || ''));
  return found ? found[1] : 'File';
}

// Another site's address (a Classroom link material): opened, not saved.
const external = (url) => /^https?:\/\//i.test(url) && !url.startsWith(`${location.origin}/`);

function attachment(file) {
  if (!file.url) return h('li', {}, h('span', { class: 'file-kind' }, fileKind(file.mime_type)), file.title);
  const away = external(file.url);
  return h('li', {},
    h('span', { class: 'file-kind' }, away ? 'Link' : fileKind(file.mime_type)),
    h('a', { href: file.url, target: '_blank', rel: 'noopener' }, file.title),
    away ? null : h('a', { class: 'file-save', href: file.url, download: '', 'aria-label': `Download ${file.title}` }, 'Download'));
}

// Slides, PDFs, worksheets: open in a new tab, or save.
function attachmentList(attachments) {
  if (!attachments?.length) return null;
  return h('ul', { class: 'attachments', 'aria-label': 'Files' }, attachments.map(attachment));
}

function lessonStatus(lesson) {
  const progress = lesson.progress;
  const state = stateOf(progress);
  if (state === 'watched') return h('span', { class: 'lesson-state watched' }, h('span', { 'aria-hidden': 'true' }, '✓ '), 'Watched');
  if (state === 'in_progress') {
    const length = progress.duration_s ?? lesson.duration_s;
    return h('span', { class: 'lesson-state in-progress' }, positionBar(progress.position_s, length),
      h('span', {}, timeLeft(progress.position_s, length)));
  }
  return h('span', { class: 'lesson-state' });
}

function lessonRow(lesson, courseId, nextId, onChanged) {
  const watched = Boolean(lesson.progress?.watched);
  const toggle = h('button', { type: 'button', class: 'ghost mark',
    'aria-label': `${watched ? 'Mark unwatched' : 'Mark watched'}: ${lesson.title}` },
  watched ? 'Mark unwatched' : 'Mark watched');
  toggle.addEventListener('click', async () => {
    toggle.disabled = true;
    try {
      await markWatched(lesson.id, !watched);
      await onChanged();
    } catch {
      toggle.disabled = false; // announced by the API client
    }
  });
  const isNext = String(lesson.id) === String(nextId);
  return h('li', { class: `lesson${isNext ? ' is-next' : ''}`, 'data-item-id': lesson.id,
    'data-state': stateOf(lesson.progress) },
  h('span', { class: 'lesson-pos', 'aria-hidden': 'true' }, watched ? '✓' : String(lesson.position)),
  h('span', { class: 'lesson-main' },
    h('a', { class: 'lesson-title', href: lessonHash(lesson.id, courseId) },
      h('span', { class: 'visually-hidden' }, `Lesson ${lesson.position}: `), lesson.title),
    lessonStatus(lesson),
    attachmentList(lesson.attachments)),
  h('span', { class: 'lesson-duration' }, duration(lesson.duration_s)),
  toggle);
}

function sectionBlock(section, index, course, onChanged) {
  const nextId = course.progress?.next_item_id;
  const lessons = section.lessons || [];
  const title = section.title ?? (index === 0 ? null : 'Other lessons');
  return h('section', { class: 'course-section', 'data-section-id': section.id },
    title ? h('h2', {}, title) : null,
    attachmentList(section.attachments),
    lessons.length ? h('ol', { class: 'lessons', 'aria-label': title || 'Lessons' },
      lessons.map((lesson) => lessonRow(lesson, course.id, nextId, onChanged))) : null);
}

function header(course) {
  const next = course.progress?.next_item_id;
  const lessons = lessonsInOrder(course);
  const nextLesson = lessons.find((lesson) => String(lesson.id) === String(next));
  const started = lessons.some((lesson) => stateOf(lesson.progress) !== 'new');
  const action = nextLesson
    ? h('a', { class: 'button-link primary continue', href: lessonHash(nextLesson.id, course.id) },
      `▶ ${started ? 'Continue' : 'Start'}: ${nextLesson.title}`)
    : null;
  return h('header', { class: 'course-head' },
    h('span', { class: 'thumb-wrap' }, thumb(course.thumbnail_url, course.title)),
    h('div', { class: 'course-head-text' },
      h('h1', {}, course.title),
      h('p', { class: 'course-meta' }, courseMeta(course)),
      completionBar(course.progress),
      action ? h('p', { class: 'course-actions' }, action) : null));
}

function render(root, course, onChanged) {
  const sections = (course.sections || []).filter((s) => s.lessons?.length || s.attachments?.length);
  const empty = h('p', { class: 'empty-state' },
    'This course has no lessons now: its folder may have moved or been removed. What was watched is kept.');
  root.replaceChildren(
    h('p', { class: 'back' }, h('a', { href: '#/home' }, '← Home')),
    header(course),
    ...(sections.length ? sections.map((section, index) => sectionBlock(section, index, course, onChanged)) : [empty]),
  );
}

export async function courseView({ root, signal }, id) {
  const refresh = async () => {
    const focused = document.activeElement?.closest('li.lesson')?.dataset.itemId;
    render(root, await getCourse(id, { signal }), refresh);
    // Marking keeps the focus on the same lesson's button, for keyboard users.
    if (focused) root.querySelector(`li.lesson[data-item-id="${CSS.escape(focused)}"] button.mark`)?.focus();
  };
  await progressSettled(); // the position just written by the player shows here
  render(root, await getCourse(id, { signal }), refresh);
}
