// When downloads run: pause, time windows (server's local time), a rate cap per download and how
// many run at once across every worker. Changes apply at once (PATCH /api/settings/downloads).

import { get, patch } from '../api.js';
import { field, h } from '../dom.js';
import { notify } from '../notify.js';

const MIB = 1024 * 1024;

export const WAITING = {
  paused: 'waiting: downloads are paused',
  outside_window: 'waiting for a download window',
  concurrency: 'waiting for a free slot',
};

function describe(s) {
  const when = s.windows.length ? `only ${s.windows.join(', ')} (server time)` : 'at any time';
  const rate = s.rate_limit_bps ? `at most ${(s.rate_limit_bps / MIB).toFixed(2)} MiB/s each` : 'at full speed';
  return s.paused ? 'Downloads are paused.' : `Downloads run ${when}, ${rate}, ${s.concurrency} at once.`;
}

export function scheduleSection(signal) {
  const inputs = {
    paused: h('input', { type: 'checkbox', name: 'paused' }),
    windows: h('input', { type: 'text', name: 'windows', placeholder: '01:00-07:00, 22:00-23:30', autocomplete: 'off' }),
    rate: h('input', { type: 'number', name: 'rate', min: '0.01', step: '0.01', inputmode: 'decimal' }),
    concurrency: h('input', { type: 'number', name: 'concurrency', min: '1', max: '64', step: '1', required: true }),
  };
  const state = h('p', { class: 'schedule-state', 'aria-live': 'polite' });
  const show = (s) => {
    inputs.paused.checked = s.paused;
    inputs.windows.value = s.windows.join(', ');
    inputs.rate.value = s.rate_limit_bps ? String(+(s.rate_limit_bps / MIB).toFixed(2)) : '';
    inputs.concurrency.value = String(s.concurrency);
    state.textContent = describe(s);
  };
  const form = h('form', { class: 'stack schedule' },
    h('div', { class: 'field checkbox' }, h('label', {}, inputs.paused, ' Pause all downloads'),
      h('span', { class: 'hint' }, 'Running downloads stop and keep what they fetched; they continue on resume.')),
    field('Download windows', inputs.windows, 'HH:MM-HH:MM in the server\'s time, comma-separated; a window may'
      + ' run over midnight (22:00-06:00). Empty: any time.'),
    field('Rate limit per download (MiB/s)', inputs.rate, 'Empty: no limit.'),
    field('Downloads at once', inputs.concurrency, 'Across every worker.'),
    h('div', { class: 'buttons' }, h('button', { type: 'submit' }, 'Save schedule')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const rate = inputs.rate.value.trim();
    const body = {
      paused: inputs.paused.checked,
      windows: inputs.windows.value.split(',').map((w) => w.trim()).filter(Boolean),
      rate_limit_bps: rate ? Math.round(Number(rate) * MIB) : null,
      concurrency: Number(inputs.concurrency.value),
    };
    try {
      show(await patch('/api/settings/downloads', body, { signal }));
      notify('Download schedule saved.');
    } catch { /* announced */ }
  });
  const section = h('section', { 'aria-labelledby': 'sch-h', class: 'download-schedule' },
    h('h2', { id: 'sch-h' }, 'Download schedule'), state, form);
  const reload = async () => show(await get('/api/settings/downloads', { signal }));
  return { section, reload };
}
