// A lost connection: a banner, then GET /health with a growing pause until the server answers,
// then whoever waits on `online()` carries on (the page reloads what it shows).
import { $ } from './dom.js';

let waiting = null;
const resumed = new Set();

export function onResume(fn) {
  resumed.add(fn);
}

async function healthy() {
  try {
    const res = await fetch('/health', { credentials: 'same-origin', cache: 'no-store' });
    return res.ok;
  } catch {
    return false;
  }
}

function show(text) {
  const banner = $('banner');
  banner.textContent = text;
  banner.hidden = false;
}

// Starts the retry loop once, however many requests failed at the same time.
export function lost() {
  if (waiting) return waiting;
  waiting = (async () => {
    let delay = 1000;
    for (;;) {
      show(`Connection lost. Retrying in ${Math.round(delay / 1000)} s…`);
      await new Promise((r) => setTimeout(r, delay));
      show('Connection lost. Retrying now…');
      if (await healthy()) break;
      delay = Math.min(delay * 2, 16000);
    }
    $('banner').hidden = true;
    waiting = null;
    for (const fn of resumed) fn();
  })();
  return waiting;
}
