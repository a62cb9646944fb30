// Polling: call `tick` every `interval` ms, slower while the tab is hidden, until stopped.

export function poll(tick, { interval = 2000, hiddenInterval = 15000, signal } = {}) {
  let timer = null;
  let stopped = false;
  let running = false;

  async function run() {
    if (stopped || running) return;
    running = true;
    clearTimeout(timer);
    try {
      await tick();
    } catch {
      // the API client has already announced the error; keep polling, the next tick may work
    } finally {
      running = false;
      if (!stopped) timer = setTimeout(run, document.hidden ? hiddenInterval : interval);
    }
  }

  function onVisibility() {
    if (!document.hidden) run(); // catch up at once when the user comes back
  }

  function stop() {
    stopped = true;
    clearTimeout(timer);
    document.removeEventListener('visibilitychange', onVisibility);
  }

  document.addEventListener('visibilitychange', onVisibility);
  if (signal) signal.addEventListener('abort', stop, { once: true });
  run();
  return { stop, now: run };
}
