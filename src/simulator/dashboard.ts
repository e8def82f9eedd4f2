/**
 * The simulator's dashboard: like the test-mode Actions of Omise's dashboard. Server-rendered
 * HTML; its buttons POST forms to loopback-only /_sim/… routes and come back here.
 */
import { formatMoney } from '../domain/money';
import { methodInfo, methodName } from '../domain/methods';
import { methodOf, type Engine } from './engine';
import { omiseTime } from './ids';

function esc(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch] ?? ch);
}

export interface DashboardInfo {
  engine: Engine;
  baseUrl: string;
  publicKey: string;
  secretKey: string;
  webhookUrl: string | null;
  faultsJson: string;
  notice?: string;
}

export function renderDashboard(d: DashboardInfo): string {
  const { engine } = d;
  const charges = [...engine.charges.values()].sort((a, b) => b.seq - a.seq).slice(0, 100);
  const events = [...engine.events.values()].sort((a, b) => b.seq - a.seq).slice(0, 60);
  const rows = charges
    .map((c) => {
      engine.expireIfDue(c);
      const method = methodOf(c);
      const qr =
        c.status === 'pending'
          ? `<img class="qr" alt="QR" src="${esc(`/charges/${c.id}/documents/${c.docId}/downloads/${c.docToken}`)}">`
          : '';
      const actions =
        c.status === 'pending'
          ? `<form method="post" action="/_sim/charges/${esc(c.id)}/mark_as_paid"><button>Pay with ${esc(methodName(method))} (mark as successful)</button></form>
             <form method="post" action="/_sim/charges/${esc(c.id)}/mark_as_failed"><select name="failure_code">${methodInfo(method).failureCodes.map(
               (f) => `<option${f === 'failed_processing' ? ' selected' : ''}>${f}</option>`,
             ).join('')}</select><button>Mark as failed</button></form>
             <form method="post" action="/_sim/charges/${esc(c.id)}/expire"><button>Expire</button></form>`
          : '';
      const refunds = c.refundIds.length > 0 ? `<br><small>refunded ${esc(formatMoney(c.refundedAmount, c.currency))}${c.voided ? ' (voided)' : ''}</small>` : '';
      return `<tr class="${esc(c.status)}"><td data-label="Charge"><code>${esc(c.id)}</code><br><small>${esc(omiseTime(c.createdMs))}</small></td>
        <td data-label="Amount">${esc(formatMoney(c.amount, c.currency))}<br><small class="method">${esc(methodName(method))}</small>${refunds}</td><td class="st" data-label="Status">${esc(c.status)}${c.failureCode ? `<br><small>${esc(c.failureCode)}</small>` : ''}</td>
        <td class="act" data-label="Actions">${actions}</td><td class="qr-cell" data-label="QR">${qr}</td><td class="meta" data-label="Metadata"><small>${esc(JSON.stringify(c.metadata))}</small></td></tr>`;
    })
    .join('\n');
  const evRows = events
    .map((e) => {
      const dl = e.deliveries.map((w) => `${esc(w.created_at)} → ${w.status ?? esc(w.error ?? 'error')}`).join('<br>') || '<small>none</small>';
      const obj = e.data.kind === 'charge' ? e.data.charge.id : e.data.refund.id;
      return `<tr><td data-label="Event"><code>${esc(e.id)}</code></td><td data-label="Key">${esc(e.key)}</td><td data-label="Object"><code>${esc(obj)}</code></td><td data-label="Created">${esc(omiseTime(e.createdMs))}</td><td data-label="Webhook deliveries">${dl}</td></tr>`;
    })
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Omise simulator</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
*{box-sizing:border-box}
body{font-family:system-ui,sans-serif;margin:1em;color:#222}h1{font-size:1.5em}
table{border-collapse:collapse;width:100%;margin-bottom:2em}
td,th{border-bottom:1px solid #ddd;padding:.4em;text-align:left;vertical-align:top}img.qr{width:120px;height:120px}
code,.meta,td small{overflow-wrap:anywhere;word-break:break-word}
tr.successful .st{color:#080}tr.failed .st,tr.expired .st{color:#a00}tr.pending .st{color:#a60}
.act form{display:inline-flex;flex-wrap:wrap;gap:.2em;margin:.1em}.act button,.act select{font-size:.95em;max-width:100%}
.keys{overflow-wrap:anywhere}.keys code{background:#f4f4f4;padding:.1em .3em}.notice{background:#ffd;padding:.5em}
pre{white-space:pre-wrap;overflow-wrap:anywhere}
/* Narrow (the demo page's column, a phone): each row a card, the actions right under the status. */
@media (max-width:760px){
body{margin:.6em}
table,tbody,tr,td{display:block;width:100%}
tr:first-child:has(th){display:none}
tr{border:1px solid #ddd;border-radius:6px;padding:.3em;margin-bottom:.6em}
td{border:0;padding:.2em .3em}
td[data-label]::before{content:attr(data-label);display:block;font-size:.75em;color:#777}
td.qr-cell:empty,td.act:empty{display:none}
}
</style></head><body>
<h1>Omise test-mode simulator</h1>
${d.notice ? `<p class="notice">${esc(d.notice)}</p>` : ''}
<p class="keys">API: <code>${esc(d.baseUrl)}</code> · country ${esc(engine.country)} · public key <code>${esc(d.publicKey)}</code> · secret key <code>${esc(d.secretKey)}</code> · webhook <code>${esc(d.webhookUrl ?? 'none')}</code> · now ${esc(omiseTime(engine.now()))}</p>
<h2>Charges (${engine.charges.size})</h2>
<table><tr><th>Charge</th><th>Amount</th><th>Status</th><th>Actions</th><th>QR</th><th>Metadata</th></tr>
${rows}
</table>
<h2>Events (${engine.events.size})</h2>
<table><tr><th>Event</th><th>Key</th><th>Object</th><th>Created</th><th>Webhook deliveries</th></tr>
${evRows}
</table>
<h2>Faults</h2><pre>${esc(d.faultsJson)}</pre>
<script>
// Refresh every 3 s unless the operator is choosing a failure code.
setInterval(function(){var a=document.activeElement;if(!a||a.tagName!=='SELECT')location.reload();},3000);
</script>
</body></html>`;
}
