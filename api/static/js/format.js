// Numbers and dates for people: sizes, durations, speeds, times.

const UNITS = ['B', 'KB', 'MB', 'GB', 'TB'];

// Where an item comes from, in words.
export const SOURCE_NAMES = { local: 'Local folder', drive: 'Google Drive', classroom: 'Google Classroom',
  download: 'Downloaded' };

export function bytes(n) {
  if (n === null || n === undefined) return '—';
  let value = Number(n);
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${UNITS[unit]}`;
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return '—';
  const total = Math.round(Number(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

export function speed(bps) {
  return bps ? `${bytes(bps)}/s` : '—';
}

export function eta(seconds) {
  return seconds === null || seconds === undefined ? '—' : duration(seconds);
}

export function when(iso) {
  if (!iso) return '—';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

const STEPS = [['year', 31536000], ['month', 2592000], ['week', 604800], ['day', 86400], ['hour', 3600],
  ['minute', 60], ['second', 1]];
const relative = new Intl.RelativeTimeFormat('en', { numeric: 'always' });

// "2 minutes ago" ("just now" under 10 s, "in 3 minutes" for a future time); `now` for tests.
export function ago(iso, now = Date.now()) {
  if (!iso) return '—';
  const then = new Date(iso).getTime();
  if (Number.isNaN(then)) return iso;
  const seconds = Math.round((then - now) / 1000);
  if (Math.abs(seconds) < 10) return 'just now';
  const [unit, size] = STEPS.find(([, s]) => Math.abs(seconds) >= s);
  return relative.format(Math.trunc(seconds / size), unit);
}

// A <time> showing ago(iso), with the absolute local time in its title; `refresh()` updates it.
export function timeAgo(iso) {
  const el = document.createElement('time');
  el.refresh = () => {
    el.textContent = ago(iso);
  };
  if (iso) {
    el.dateTime = iso;
    el.title = when(iso);
  }
  el.refresh();
  return el;
}
