// "Convert to play": what the player shows instead of a black box when the item's playback_url
// answers 409 needs_conversion (an MKV, an AVI, HEVC from a phone). One click asks the server for
// a conversion (POST .../convert; asking again joins the one under way), the bar follows the task,
// and the video takes the slot once the converted MP4 exists.

import { get, post } from '../api.js';
import { notify } from '../notify.js';
import { h, progressBar } from '../dom.js';
import { poll } from '../poller.js';

const FORMATS = { mkv: 'MKV', avi: 'AVI', flv: 'FLV', ts: 'MPEG-TS', wmv: 'WMV', mpeg: 'MPEG' };
const CODECS = { h264: 'H.264', hevc: 'HEVC', mpeg4: 'MPEG-4 Part 2', vp8: 'VP8', vp9: 'VP9' };

function describe(media) {
  if (!media) return 'This video';
  const container = FORMATS[media.container] || (media.container || '').toUpperCase();
  const codec = media.video_codec ? CODECS[media.video_codec] || media.video_codec.toUpperCase() : null;
  const parts = [container, codec].filter(Boolean).join(', ');
  return parts ? `This video (${parts})` : 'This video';
}

// Why playback_url cannot play yet: "needs_conversion", "needs_download", or null once it plays.
async function blocked(url, signal) {
  const response = await fetch(url, { headers: { Range: 'bytes=0-0' }, signal, credentials: 'same-origin' });
  if (response.status !== 409) return null;
  const body = await response.json().catch(() => ({}));
  return body?.error?.details?.reason || 'needs_conversion';
}

// The panel for `item`, or null when its playback_url plays as it is. `onReady(url)` is called
// once the converted file exists.
export async function convertGate(item, { signal, onReady }) {
  const url = item.playback_url;
  if (!url || url === item.stream_url) return null;
  const reason = await blocked(url, signal).catch(() => null);
  if (!reason) return null;
  const what = describe(item.media);
  if (reason === 'needs_download') {
    return h('p', { class: 'notice-inline info convert-gate' },
      `${what} must be downloaded first; after that it can be converted to play here.`);
  }
  const how = item.media?.playable === 'remux'
    ? 'Aula can repackage it as an MP4 in seconds, without re-encoding.'
    : 'Aula can convert it to an MP4 (H.264/AAC) that every browser plays.';
  const status = h('p', { class: 'convert-state' }, `${what} does not play in a browser as it is. ${how}`);
  const bar = progressBar('Conversion progress');
  bar.hidden = true;
  const button = h('button', { type: 'button', class: 'primary' }, 'Convert to play');
  const error = h('p', { class: 'media-error', role: 'alert', hidden: true });

  function follow(taskId) {
    button.hidden = true;
    bar.hidden = false;
    bar.update(null, 'starting…');
    const poller = poll(async () => {
      const task = await get(`/api/tasks/${taskId}`, { signal });
      bar.update(task.progress?.percent ?? null, task.progress ? '' : 'waiting for a worker…');
      if (task.state === 'SUCCESS') {
        poller.stop();
        notify(`“${item.title}” is converted and ready to play.`);
        onReady(url);
      } else if (['FAILURE', 'REVOKED'].includes(task.state)) {
        poller.stop();
        bar.hidden = true;
        button.hidden = false;
        button.disabled = false;
        error.textContent = task.error?.message || `The conversion ended: ${task.state}.`;
        error.hidden = false;
      }
    }, { interval: 1000, hiddenInterval: 5000, signal });
  }

  button.addEventListener('click', async () => {
    button.disabled = true;
    error.hidden = true;
    try {
      const queued = await post(`/api/catalog/items/${item.id}/convert`, {}, { signal });
      status.textContent = `Converting ${what.replace('This video', 'this video')}…`;
      follow(queued.task_id);
    } catch {
      button.disabled = false; // announced by the API client
    }
  });
  return h('div', { class: 'convert-gate', role: 'region', 'aria-label': 'Convert to play' },
    status, h('div', { class: 'convert-actions' }, button, bar), error);
}
