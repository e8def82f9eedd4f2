/** A tiny Prometheus text-format registry: counters, gauges and one histogram kind. */

type Labels = Record<string, string>;

function labelKey(labels: Labels | undefined): string {
  if (!labels) return '';
  const keys = Object.keys(labels).sort();
  if (!keys.length) return '';
  return '{' + keys.map((k) => `${k}="${labels[k].replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',') + '}';
}

interface Metric {
  render(): string[];
}

export class Counter implements Metric {
  private readonly values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(labels?: Labels, by = 1): void {
    const k = labelKey(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  get(labels?: Labels): number {
    return this.values.get(labelKey(labels)) ?? 0;
  }
  render(): string[] {
    const out = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    if (!this.values.size) out.push(`${this.name} 0`);
    for (const [k, v] of this.values) out.push(`${this.name}${k} ${v}`);
    return out;
  }
}

export class Gauge implements Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly read: () => number,
  ) {}
  render(): string[] {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`, `${this.name} ${this.read()}`];
  }
}

export class Histogram implements Metric {
  private readonly series = new Map<string, { counts: number[]; sum: number; count: number; labels: Labels | undefined }>();
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly buckets: number[],
  ) {}
  observe(value: number, labels?: Labels): void {
    const k = labelKey(labels);
    let s = this.series.get(k);
    if (!s) {
      s = { counts: this.buckets.map(() => 0), sum: 0, count: 0, labels };
      this.series.set(k, s);
    }
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]) s.counts[i]++;
    s.sum += value;
    s.count++;
  }
  render(): string[] {
    const out = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const s of this.series.values()) {
      this.buckets.forEach((b, i) => out.push(`${this.name}_bucket${labelKey({ ...s.labels, le: String(b) })} ${s.counts[i]}`));
      out.push(`${this.name}_bucket${labelKey({ ...s.labels, le: '+Inf' })} ${s.count}`);
      out.push(`${this.name}_sum${labelKey(s.labels)} ${s.sum}`);
      out.push(`${this.name}_count${labelKey(s.labels)} ${s.count}`);
    }
    return out;
  }
}

export class Registry {
  private readonly metrics: Metric[] = [];
  counter(name: string, help: string): Counter {
    const m = new Counter(name, help);
    this.metrics.push(m);
    return m;
  }
  gauge(name: string, help: string, read: () => number): Gauge {
    const m = new Gauge(name, help, read);
    this.metrics.push(m);
    return m;
  }
  histogram(name: string, help: string, buckets: number[]): Histogram {
    const m = new Histogram(name, help, buckets);
    this.metrics.push(m);
    return m;
  }
  render(): string {
    return this.metrics.flatMap((m) => m.render()).join('\n') + '\n';
  }
}

/** The relay's metrics, created per relay instance (no globals). */
export function relayMetrics(connected: () => number) {
  const r = new Registry();
  return {
    registry: r,
    webhooksReceived: r.counter('qrpos_relay_webhooks_received_total', 'Webhook requests received'),
    webhooksVerified: r.counter('qrpos_relay_webhooks_verified_total', 'Webhooks with a valid signature'),
    webhooksStale: r.counter('qrpos_relay_webhooks_stale_total', 'Validly signed webhooks whose timestamp is more than 5 minutes off the relay clock (re-read anyway)'),
    webhooksRejected: r.counter('qrpos_relay_webhooks_rejected_total', 'Webhooks refused, by reason'),
    webhooksDuplicate: r.counter('qrpos_relay_webhooks_duplicate_total', 'Webhook events seen before'),
    eventsPublished: r.counter('qrpos_relay_events_published_total', 'Events stored for terminals'),
    eventsDelivered: r.counter('qrpos_relay_events_delivered_total', 'Event frames sent to terminals (redeliveries included)'),
    eventsAcked: r.counter('qrpos_relay_events_acked_total', 'Events acknowledged by terminals'),
    connected: r.gauge('qrpos_relay_terminals_connected', 'Terminals with an open event stream', connected),
    omiseLatency: r.histogram('qrpos_relay_omise_request_seconds', 'Omise API call latency', [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]),
    omiseErrors: r.counter('qrpos_relay_omise_errors_total', 'Omise API call failures, by operation and kind'),
    commitSeconds: r.histogram('qrpos_relay_commit_seconds', 'Group commits (each one fsync) by duration', [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1]),
    commitItems: r.counter('qrpos_relay_commit_items_total', 'Writes committed by group commits'),
    httpRequests: r.counter('qrpos_relay_http_requests_total', 'HTTP requests, by route class and status'),
    rateLimited: r.counter('qrpos_relay_rate_limited_total', 'Requests refused by the rate limits (429): pairing, pairing polls, wrong credentials'),
  };
}
export type RelayMetrics = ReturnType<typeof relayMetrics>;
