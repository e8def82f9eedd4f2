/**
 * Connects `n` subscribers `batch` at a time and calls `atHalf` once the first half is in, so a
 * benchmark can read memory there: what the second half adds is the cost of a subscriber, while
 * the first half also carries one-time growth (V8's young generation sizing itself to the burst
 * of connections, modules and workers started on first use). Returns how many came after the
 * half (all of them when `n` is too small to split).
 */
export async function connectInHalves(n: number, batch: number, connect: (from: number, to: number) => Promise<unknown>, atHalf: () => Promise<void>): Promise<number> {
  const half = Math.floor(n / 2);
  for (let i = 0; i < n; ) {
    const end = Math.min(i < half ? half : n, i + batch);
    await connect(i, end);
    i = end;
    if (i === half) await atHalf();
  }
  return half > 0 ? n - half : n;
}
