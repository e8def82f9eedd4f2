/** Whether a host name or address stays on this machine (127.0.0.0/8, ::1, localhost). */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h.endsWith('.localhost') || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || /^::ffff:127\./.test(h);
}

/**
 * Whether a request's Host header names this machine by an address or as localhost. A page on
 * another site can make a browser send requests to a loopback port only under that site's own
 * DNS name (DNS rebinding); refusing host names other than localhost closes that door, while
 * IP literals (127.0.0.1:8080, [::1]:7601, a LAN address the demo was told to listen on) work.
 */
export function isSafeHostHeader(header: string | undefined): boolean {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::\d{1,5})?$/.exec((header ?? '').trim());
  if (!m) return false;
  const host = m[1].replace(/^\[|\]$/g, '').toLowerCase();
  return isLoopbackHost(host) || /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(':');
}
