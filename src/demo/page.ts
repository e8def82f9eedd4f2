/**
 * The demo's terminal page: the live screen, a clickable keypad, the simulator dashboard beside
 * it, and (when the terminal asks to be paired again) the pairing request with an Approve button.
 *
 * Layout: the screen image is scaled by CSS to what the window leaves for it (aspect kept, small
 * screens upscaled with crisp pixels), so every screen size fits every window without horizontal
 * scrolling: two columns (terminal | dashboard) on wide windows, one under the other on narrow
 * ones, and the keypad beside the screen when the window is short.
 *
 * Keys: one queue per page. One request at a time, carrying what was typed meanwhile, numbered
 * (client id + seq) so the server presses each request once and in order even if a retry or a
 * slow connection would have it arrive twice or late.
 */

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

/** Keypad buttons, in rows: [label, key name]. */
const KEYPAD: [string, string][][] = [
  [['7', '7'], ['8', '8'], ['9', '9'], ['Cancel', 'cancel']],
  [['4', '4'], ['5', '5'], ['6', '6'], ['⌫', 'backspace']],
  [['1', '1'], ['2', '2'], ['3', '3'], ['Clear', 'clear']],
  [['0', '0'], ['00', '00'], ['.', '.'], ['Enter', 'enter']],
  [['Menu', 'menu']],
];

/**
 * The width the screen image would like: small panels are shown at a whole multiple of their
 * pixels (a 320x240 panel at 2x), larger ones at 1x; CSS shrinks it further to fit the window.
 */
export function preferredScale(width: number): number {
  return Math.max(1, Math.min(3, Math.floor(640 / width)));
}

/*
 * Space the screen image cannot have (px), per layout: beside it (dashboard column, keypad in
 * the short layout, paddings) and above/below it (header, keypad, paddings). Kept in step with
 * the CSS below.
 */
const DASHBOARD_MIN = 400;
const KEYPAD_SIDE = 264;
/** Paddings, the screen's border and a vertical scrollbar (100vw counts it). */
const PAD_W = 84;
const PAD_H_STACKED = 420;
const PAD_H_SIDE = 104;

export function renderDevicePage(p: { width: number; height: number; simulatorDashboard: string; relay: string; pairing?: boolean }): string {
  const scale = preferredScale(p.width);
  const pref = p.width * scale;
  const ratio = `${p.width} / ${p.height}`;
  /** The image's CSS width for a layout: what the width leaves, what the height leaves, never under a usable minimum. */
  const imgWidth = (reservedW: number, reservedH: number) =>
    `max(min(200px, 100vw - ${PAD_W}px), min(${pref}px, 100vw - ${reservedW}px, (100vh - ${reservedH}px) * ${ratio}))`;
  const buttons = KEYPAD.map(
    (row) =>
      `<div class="row">${row
        .map(([label, key]) => `<button type="button" data-key="${escapeHtml(key)}" class="k k-${escapeHtml(key.replace('.', 'dot'))}">${escapeHtml(label)}</button>`)
        .join('')}</div>`,
  ).join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>qrpos demo terminal</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  * { box-sizing: border-box; }
  body { font-family: system-ui, sans-serif; margin: 0; background: #eceff1; color: #222; }
  header { padding: 8px 12px; background: #263238; color: #fff; font-size: 14px; line-height: 1.4; overflow-wrap: anywhere; }
  header a { color: #80cbc4; }
  main { display: grid; grid-template-columns: minmax(0, 1fr); gap: 12px; padding: 12px; align-items: start; }
  .device { justify-self: center; max-width: 100%; background: #37474f; padding: 12px; border-radius: 14px; box-shadow: 0 4px 14px #0004; display: flex; flex-direction: column; gap: 12px; }
  #screen { display: block; box-sizing: content-box; width: ${imgWidth(PAD_W, PAD_H_STACKED)}; max-width: calc(100% - 8px); height: auto; aspect-ratio: ${ratio};
    image-rendering: ${scale > 1 ? 'pixelated' : 'auto'}; background: #000; border: 4px solid #111; border-radius: 6px; }
  .side { display: flex; flex-direction: column; gap: 8px; min-width: 0; }
  .keypad { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 8px; }
  .row { display: contents; }
  .k { min-width: 0; height: 46px; font-size: 19px; border: 0; border-radius: 8px; background: #eceff1; cursor: pointer; touch-action: manipulation; }
  .k:active { transform: translateY(1px); background: #cfd8dc; }
  .k-enter { background: #66bb6a; color: #fff; }
  .k-cancel { background: #ef5350; color: #fff; }
  .k-clear, .k-backspace { background: #ffca28; font-size: 16px; }
  .k-menu { background: #90a4ae; color: #fff; grid-column: 1 / -1; }
  .hint { color: #cfd8dc; font-size: 12px; max-width: 100%; }
  #keystatus { color: #ffcc80; font-size: 13px; min-height: 0; }
  #keystatus:empty { display: none; }
  .sim { min-width: 0; }
  .sim iframe { display: block; width: 100%; height: max(420px, 80vh); border: 1px solid #b0bec5; background: #fff; border-radius: 6px; }
  #pairing { grid-column: 1 / -1; background: #fff8e1; border: 2px solid #ffb300; border-radius: 8px; padding: 8px 12px; font-size: 14px; }
  #pairing[hidden] { display: none; }
  #pairing .req { display: flex; flex-wrap: wrap; gap: 8px 16px; align-items: center; margin: 4px 0; }
  #pairing .code { font: bold 20px ui-monospace, monospace; letter-spacing: 1px; }
  #pairing button { font-size: 15px; padding: 6px 14px; border: 0; border-radius: 6px; background: #2e7d32; color: #fff; cursor: pointer; }
  #pairing small { color: #555; }

  /* Wide windows: the terminal and the dashboard side by side. */
  @media (min-width: 900px) {
    main { grid-template-columns: auto minmax(${DASHBOARD_MIN}px, 1fr); }
    #screen { width: ${imgWidth(PAD_W + DASHBOARD_MIN + 36, PAD_H_STACKED)}; }
    .sim iframe { height: max(420px, calc(100vh - 90px)); }
  }
  /* Short windows (landscape): the keypad beside the screen, so both fit the height. */
  @media (max-height: 640px) and (min-width: 560px) and (min-aspect-ratio: 5/4) {
    .device { flex-direction: row; align-items: flex-start; }
    .side { width: ${KEYPAD_SIDE - 16}px; flex: none; }
    .k { height: 40px; font-size: 16px; }
    #screen { width: ${imgWidth(PAD_W + KEYPAD_SIDE, PAD_H_SIDE)}; }
  }
  @media (max-height: 640px) and (min-width: 900px) and (min-aspect-ratio: 5/4) {
    #screen { width: ${imgWidth(PAD_W + KEYPAD_SIDE + DASHBOARD_MIN + 36, PAD_H_SIDE)}; }
  }
</style>
</head>
<body>
<header>qrpos demo — virtual terminal. Key an amount, press Enter, then mark the charge paid in the
<a href="${escapeHtml(p.simulatorDashboard)}" target="_blank" rel="noopener">simulator dashboard</a>. Relay: <code>${escapeHtml(p.relay)}</code></header>
<main>
  ${
    p.pairing
      ? `<section id="pairing" aria-label="pairing request" aria-live="polite" hidden>
    <b>The terminal asks to be paired with the relay.</b> In a shop, the relay's operator checks that the code on the
    terminal's screen is the one listed here and approves it (<code>qrpos relay terminals approve CODE</code>, or the
    relay's admin API); here the demo does it for you with its admin token:
    <div id="pairing-list"></div>
  </section>`
      : ''
  }
  <section class="device" aria-label="terminal">
    <img id="screen" src="/api/screen.png" alt="terminal screen" width="${p.width}" height="${p.height}">
    <div class="side">
      <div class="keypad">
${buttons}
      </div>
      <div id="keystatus" role="status"></div>
      <div class="hint">Keyboard: digits, <b>.</b>, <b>Enter</b>, <b>Backspace</b>, <b>Esc</b> = cancel, <b>Delete</b> = clear, <b>m</b> = menu.</div>
    </div>
  </section>
  <section class="sim" aria-label="simulator dashboard">
    <iframe id="dashboard" src="${escapeHtml(p.simulatorDashboard)}" title="Omise simulator dashboard"></iframe>
  </section>
</main>
<script>
${PAGE_SCRIPT}
</script>
</body>
</html>
`;
}

/** The page's script (plain browser JavaScript; no template expressions inside). */
const PAGE_SCRIPT = String.raw`
  'use strict';
  const img = document.getElementById('screen');
  let loading = false, again = false;
  function refresh() {
    if (loading) { again = true; return; }
    loading = true;
    const next = new Image();
    next.onload = next.onerror = () => { img.src = next.src; loading = false; if (again) { again = false; refresh(); } };
    next.src = '/api/screen.png?t=' + Date.now();
  }
  const events = new EventSource('/api/events');
  events.addEventListener('frame', () => { refresh(); pairingSoon(); });
  // A demo restarted under this page does not know its key numbering: start a new one.
  let instance = null;
  events.addEventListener('hello', (e) => {
    if (instance !== null && instance !== e.data && !sending) { client = newClient(); seq = 0; }
    instance = e.data;
  });

  // --- keys: one queue, one request at a time, numbered --------------------------------------
  const MAX_KEYS = 200;
  const status = document.getElementById('keystatus');
  const queue = [];
  let client = newClient(), seq = 0, sending = false;
  function newClient() {
    const b = new Uint8Array(9);
    crypto.getRandomValues(b);
    return 'p' + Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  }
  function say(text) { status.textContent = text; }
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  function press(key) {
    queue.push(key);
    if (!sending) void pump();
  }
  async function pump() {
    sending = true;
    while (queue.length) {
      const keys = queue.splice(0, MAX_KEYS);
      seq += 1;
      let delay = 100;
      const giveUpAt = Date.now() + 15000;
      for (;;) {
        const body = JSON.stringify({ keys, client, seq });
        let r;
        try {
          r = await fetch('/api/keys', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
        } catch (e) {
          // No answer: the same request again is safe (the server presses a seq once).
          if (Date.now() > giveUpAt) {
            say('The demo does not answer: ' + (keys.length + queue.length) + ' key(s) not pressed. Is it still running?');
            queue.length = 0;
            client = newClient(); seq = 0;
            break;
          }
          say('The demo does not answer; trying again…');
          await sleep(delay);
          delay = Math.min(2000, delay * 2);
          continue;
        }
        if (r.ok) { say(''); break; }
        const answer = await r.json().catch(() => null);
        const err = (answer && answer.error) || {};
        if (r.status === 409 && err.code === 'unknown_client') {
          // The demo restarted since this page was loaded: number again from 1 (nothing of this request was pressed).
          client = newClient(); seq = 1;
          continue;
        }
        say(keys.length + ' key(s) not pressed: ' + (err.message || 'HTTP ' + r.status));
        client = newClient(); seq = 0;
        break;
      }
    }
    sending = false;
  }
  document.querySelectorAll('button[data-key]').forEach((b) => b.addEventListener('click', () => press(b.dataset.key)));
  const KEYS = { Enter: 'enter', Backspace: 'backspace', Escape: 'cancel', Delete: 'clear', m: 'menu', M: 'menu', '.': '.', ',': '.' };
  document.addEventListener('keydown', (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || e.repeat) return;
    if (e.target && e.target.closest && e.target.closest('#pairing')) return;
    const key = /^[0-9]$/.test(e.key) ? e.key : KEYS[e.key];
    if (key) { e.preventDefault(); press(key); }
  });

  // --- pairing requests waiting at the relay -------------------------------------------------
  const panel = document.getElementById('pairing');
  const list = document.getElementById('pairing-list');
  let pairingTimer = null, approving = false;
  function pairingSoon() {
    if (!panel || pairingTimer) return;
    pairingTimer = setTimeout(() => { pairingTimer = null; void loadPairings(); }, 150);
  }
  async function loadPairings() {
    if (approving) return;
    let pairings = [];
    try {
      const r = await fetch('/api/pairing', { cache: 'no-store' });
      if (r.ok) pairings = (await r.json()).pairings || [];
    } catch (e) { /* the demo is stopping */ }
    list.textContent = '';
    for (const p of pairings) {
      const row = document.createElement('div');
      row.className = 'req';
      const code = document.createElement('span');
      code.className = 'code';
      code.textContent = p.code;
      const who = document.createElement('small');
      who.textContent = 'from "' + p.name + '"' + (p.device ? ' (' + p.device + ')' : '') + ', expires ' + new Date(p.expiresAt).toLocaleTimeString();
      const approve = document.createElement('button');
      approve.type = 'button';
      approve.className = 'approve';
      approve.dataset.code = p.code;
      approve.textContent = 'Approve ' + p.code;
      approve.addEventListener('click', () => void approveCode(p.code, approve));
      row.append(code, approve, who);
      list.append(row);
    }
    panel.hidden = pairings.length === 0;
    // While one waits, look again now and then (a new code replaces an expired one).
    if (pairings.length) setTimeout(pairingSoon, 3000);
  }
  async function approveCode(code, button) {
    approving = true;
    button.disabled = true;
    button.textContent = 'Approving…';
    let message = '';
    try {
      const r = await fetch('/api/pairing/approve', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code }) });
      if (!r.ok) message = ((await r.json().catch(() => null)) || { error: {} }).error.message || 'HTTP ' + r.status;
    } catch (e) { message = 'the demo does not answer'; }
    approving = false;
    if (message) {
      button.disabled = false;
      button.textContent = 'Approve ' + code;
      const why = document.createElement('small');
      why.textContent = ' Not approved: ' + message;
      button.after(why);
      return;
    }
    button.textContent = 'Approved: the terminal takes it within a few seconds';
    setTimeout(pairingSoon, 2500);
  }
  pairingSoon();
`;
