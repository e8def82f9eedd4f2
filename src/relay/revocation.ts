/**
 * What revoking a terminal does to its sales, shared by the server and the `qrpos relay terminals
 * revoke` CLI (another process, no Omise client): kept apart from sales.ts so the CLI does not
 * load the QR decoder.
 */
import type { RelayStore } from './store';

/**
 * Inside the revoking transaction: every open sale of the terminal is marked for expiry, so none
 * is left live with no terminal to show or cancel it. The relay sends the expiries to Omise
 * (SaleService.expireOpenSales, at once when the server revokes, else on its reconciler's next
 * pass); a charge paid anyway is then listed as a late payment. Returns how many were marked.
 */
export async function cancelOpenSales(store: RelayStore, terminalId: string, at: string): Promise<number> {
  let n = 0;
  for (const s of await store.openSalesOf(terminalId, 10_000)) {
    if (s.expireRequested) continue;
    await store.updateSale(terminalId, s.saleId, { expireRequested: true, updatedAt: at });
    n++;
  }
  return n;
}
