// Courses (CONTRACT 8.3): reading them and walking their lessons in course order.

import { get, query } from './api.js';
import { SOURCE_NAMES } from './format.js';

export const courseUrl = (id) => `/api/courses/${encodeURIComponent(id)}`;
export const courseHash = (id) => `#/course/${encodeURIComponent(id)}`;

// The player's address for a lesson; with its course, the player knows what comes next.
export function lessonHash(itemId, courseId = null, extra = {}) {
  const params = new URLSearchParams();
  if (courseId !== null && courseId !== undefined && courseId !== '') params.set('course', courseId);
  for (const [key, value] of Object.entries(extra)) if (value) params.set(key, value);
  const text = params.toString();
  return `#/player/${encodeURIComponent(itemId)}${text ? `?${text}` : ''}`;
}

export function getCourse(id, options) {
  return get(courseUrl(id), options);
}

export function listCourses(cursor, options) {
  return get(query('/api/courses', { limit: 48, cursor }), options);
}

// Every lesson of a course detail in course order, each with its section.
export function lessonsInOrder(course) {
  const lessons = [];
  for (const section of course?.sections || []) {
    for (const lesson of section.lessons || []) lessons.push({ ...lesson, section });
  }
  return lessons;
}

// The lesson after `itemId` in course order (across sections), or null at the end.
export function nextLesson(course, itemId) {
  const lessons = lessonsInOrder(course);
  const at = lessons.findIndex((lesson) => String(lesson.id) === String(itemId));
  return at >= 0 && at + 1 < lessons.length ? lessons[at + 1] : null;
}

export function previousLesson(course, itemId) {
  const lessons = lessonsInOrder(course);
  const at = lessons.findIndex((lesson) => String(lesson.id) === String(itemId));
  return at > 0 ? lessons[at - 1] : null;
}

export function courseMeta(course) {
  const count = course.lesson_count ?? course.progress?.total ?? 0;
  const parts = [`${count} lesson${count === 1 ? '' : 's'}`];
  if (course.duration_s) parts.push(formatLong(course.duration_s));
  parts.push(SOURCE_NAMES[course.source] || course.source);
  return parts.join(' · ');
}

// "3 h 20 min", "45 min": how long a course is, in words.
export function formatLong(seconds) {
  const minutes = Math.round(Number(seconds) / 60);
  if (minutes < 60) return `${Math.max(1, minutes)} min`;
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  return rest ? `${hours} h ${rest} min` : `${hours} h`;
}

// Which course each lesson was last played in, in this browser: "Continue watching" lists lessons,
// and a lesson opened with its course knows what comes next. Kept small (the latest 200).
const MEMORY = 'aula.lessonCourses';
const REMEMBERED = 200;

function memory() {
  try {
    const value = JSON.parse(localStorage.getItem(MEMORY) || '[]');
    return Array.isArray(value) ? value.filter((pair) => Array.isArray(pair) && pair.length === 2) : [];
  } catch {
    return [];
  }
}

export function rememberCourse(itemId, courseId) {
  const pairs = memory().filter(([item]) => String(item) !== String(itemId));
  pairs.unshift([String(itemId), String(courseId)]);
  try { localStorage.setItem(MEMORY, JSON.stringify(pairs.slice(0, REMEMBERED))); } catch { /* full or refused */ }
}

export function rememberedCourse(itemId) {
  const found = memory().find(([item]) => String(item) === String(itemId));
  return found ? found[1] : null;
}
