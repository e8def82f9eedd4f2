/** The demo's terminal page: the live screen, a clickable keypad, and the simulator dashboard beside it. */

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

export function renderDevicePage(p: { width: number; height: number; simulatorDashboard: string; relay: string }): string {
  const scale = Math.max(1, Math.min(2, Math.floor(480 / p.width)));
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
  body { font-family: system-ui, sans-serif; margin: 0; background: #eceff1; color: #222; }
  header { padding: 10px 16px; background: #263238; color: #fff; }
  header a { color: #80cbc4; }
  main { display: flex; gap: 16px; padding: 16px; flex-wrap: wrap; align-items: flex-start; }
  .device { background: #37474f; padding: 16px; border-radius: 18px; box-shadow: 0 4px 14px #0004; }
  #screen { display: block; width: ${p.width * scale}px; height: ${p.height * scale}px; image-rendering: pixelated; background: #000; border: 4px solid #111; border-radius: 6px; }
  .keypad { margin-top: 14px; }
  .row { display: flex; gap: 8px; margin-bottom: 8px; }
  .k { flex: 1; min-width: 56px; height: 48px; font-size: 20px; border: 0; border-radius: 8px; background: #eceff1; cursor: pointer; }
  .k:active { transform: translateY(1px); background: #cfd8dc; }
  .k-enter { background: #66bb6a; color: #fff; }
  .k-cancel { background: #ef5350; color: #fff; }
  .k-clear, .k-backspace { background: #ffca28; }
  .k-menu { background: #90a4ae; color: #fff; }
  .hint { color: #cfd8dc; font-size: 13px; margin-top: 6px; max-width: ${p.width * scale}px; }
  .sim { flex: 1; min-width: 420px; }
  .sim iframe { width: 100%; height: 80vh; border: 1px solid #b0bec5; background: #fff; border-radius: 6px; }
</style>
</head>
<body>
<header>qrpos demo — virtual terminal. Key an amount, press Enter, then mark the charge paid in the
<a href="${escapeHtml(p.simulatorDashboard)}" target="_blank" rel="noopener">simulator dashboard</a>. Relay: <code>${escapeHtml(p.relay)}</code></header>
<main>
  <section class="device" aria-label="terminal">
    <img id="screen" src="/api/screen.png" alt="terminal screen">
    <div class="keypad">
${buttons}
    </div>
    <div class="hint">Keyboard: digits, <b>.</b>, <b>Enter</b>, <b>Backspace</b>, <b>Esc</b> = cancel, <b>Delete</b> = clear, <b>m</b> = menu.</div>
  </section>
  <section class="sim" aria-label="simulator dashboard">
    <iframe id="dashboard" src="${escapeHtml(p.simulatorDashboard)}" title="Omise simulator dashboard"></iframe>
  </section>
</main>
<script>
  const img = document.getElementById('screen');
  let pending = false, again = false;
  function refresh() {
    if (pending) { again = true; return; }
    pending = true;
    const next = new Image();
    next.onload = next.onerror = () => { img.src = next.src; pending = false; if (again) { again = false; refresh(); } };
    next.src = '/api/screen.png?t=' + Date.now();
  }
  new EventSource('/api/events').addEventListener('frame', refresh);
  async function press(keys) {
    await fetch('/api/keys', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ keys }) });
  }
  document.querySelectorAll('button[data-key]').forEach((b) => b.addEventListener('click', () => press([b.dataset.key])));
  const KEYS = { Enter: 'enter', Backspace: 'backspace', Escape: 'cancel', Delete: 'clear', m: 'menu', M: 'menu', '.': '.', ',': '.' };
  document.addEventListener('keydown', (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const key = /^[0-9]$/.test(e.key) ? e.key : KEYS[e.key];
    if (key) { e.preventDefault(); press([key]); }
  });
</script>
</body>
</html>
`;
}
