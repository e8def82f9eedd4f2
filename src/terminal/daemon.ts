/**
 * The terminal daemon's composition root: config, journal, relay link, sale state machine,
 * screen renderer and drivers, wired together and started / stopped in order. The state
 * machine decides; this file performs its effects (journal first, network after) and feeds
 * everything that happens back into it as events, one at a time.
 */
import { packageVersion } from '../shared/version';
import os from 'node:os';
import type { Canvas } from 'canvas';
import type { Display, Rect } from '../../drivers/display/contract';
import type { Indicator } from '../../drivers/gpio/contract';
import type { KeyEvent, Keypad } from '../../drivers/keypad/contract';
import type { PoleDisplay, Receipt, ReceiptPrinter } from '../../drivers/serial/contract';
import { formatMoneyCode, type Currency } from '../domain/money';
import { businessDay, dayBounds, formatClock } from '../domain/time';
import type { RefundView } from '../link/protocol';
import type { Logger } from '../shared/log';
import { journalPath, type TerminalConfig } from './config';
import { newId } from './ids';
import { Journal, type ApplyResult, type DayReportRow, type SaleRow } from './journal';
import { Link } from './link';
import { initialState, stateName, step, type Answer, type Effect, type MachineConfig, type MachineEvent, type MachineState, type Query, type SaleInfo } from './sale-machine';
import type { ScreenModel } from './screens/model';
import { ScreenRenderer } from './screens/renderer';
import { OUTCOME_NAME } from './screens/strings';
import { readSecrets } from './secrets';
import { HOLD_SCREEN, keysPassHold, SalesHold, saleOnScreen } from './hold';
import { startStatusServer, type StartupProblem, type StatusServer, type TerminalStatus } from './status-server';

/** What the daemon needs from the screen renderer (src/terminal/screens/renderer.ts). */
export interface ScreenRendererLike {
  readonly canvas: Canvas;
  render(model: ScreenModel): Rect[];
}
export type RendererFactory = (opts: { width: number; height: number; log: Logger }) => ScreenRendererLike;

export interface TerminalDrivers {
  keypad: Keypad;
  display: Display;
  indicator?: Indicator | null;
  poleDisplay?: PoleDisplay | null;
  printer?: ReceiptPrinter | null;
}

export interface StartTerminalOptions {
  config: TerminalConfig;
  /** Overrides config.secretsFile. */
  secretsPath?: string;
  drivers: TerminalDrivers;
  log: Logger;
  clock?: () => number;
  version?: string;
  /** Overrides config.statusListen; null runs without the endpoint. */
  statusListen?: string | null;
  renderer?: RendererFactory;
  /** Test and benchmark knobs for the link. */
  linkTuning?: { pollMs?: number; pairPollMs?: number; backoff?: { baseMs: number; maxMs: number } };
  tickMs?: number;
  /** Free space below which new sales pause (default JOURNAL_MIN_FREE_BYTES). */
  journalMinFreeBytes?: number;
}

/** While the journal cannot write, try a write at most this often. */
const STORAGE_PROBE_MS = 1000;

export interface TerminalHandle {
  stop(deadlineMs?: number): Promise<void>;
  status(): TerminalStatus;
  /** Status endpoint address (http://… or a socket path), when listening. */
  readonly statusAddress: string | null;
  readonly journal: Journal;
  readonly link: Link;
  /** The state machine's state (tests). */
  machine(): MachineState;
  /** The screen the state machine asked for last (tests). */
  lastScreen(): ScreenModel;
  /** Called after each frame is on the display, with the model drawn. */
  onFrame(listener: (f: { model: ScreenModel; rects: Rect[]; keyAt: number | null }) => void): () => void;
  /** Resolves when all queued events and the frame in progress are done (tests, benchmarks). */
  idle(): Promise<void>;
}

/** The fatal screen for a problem. */
export function fatalModel(p: Pick<StartupProblem, 'title' | 'reason' | 'action'>): ScreenModel {
  return { kind: 'fatal', title: p.title, reason: p.reason, action: p.action };
}

function defaultRenderer(): RendererFactory {
  return (o) => new ScreenRenderer(o);
}

function saleInfo(s: SaleRow | null, zone: string): SaleInfo | null {
  if (!s) return null;
  return {
    saleId: s.saleId,
    ref: s.ref,
    amount: s.amount,
    currency: s.currency,
    status: s.status,
    refundedAmount: s.refundedAmount,
    canVoid: s.canVoid,
    late: s.late,
    lateResolution: s.lateResolution,
    time: formatClock(Date.parse(s.paidAt ?? s.chargeCreatedAt ?? s.createdAt), zone),
  };
}

/** A day's report as screen and printer lines (one block per currency; every sale is an Alipay+ QR sale). */
export function reportLines(rows: DayReportRow[], heading: string[]): string[] {
  if (!rows.length) return [...heading, 'No sales in this business day.'];
  const lines = [...heading];
  for (const r of rows) {
    const m = (n: number) => formatMoneyCode(n, r.currency);
    lines.push(
      `Alipay+ ${r.currency}: paid ${r.paid.count}  ${m(r.paid.amount)}`,
      `Refunds ${r.refunded.count}  -${m(r.refunded.amount)}; voids ${r.voided.count}  -${m(r.voided.amount)}`,
      `${OUTCOME_NAME.failed} ${r.failed.count}; ${OUTCOME_NAME.expired} ${r.expired.count}; ${OUTCOME_NAME.not_created} ${r.notCreated.count}`,
      `${OUTCOME_NAME.late_paid}s ${r.late.count}  ${m(r.late.amount)}${r.late.unresolved ? ` (${r.late.unresolved} to settle)` : ''}`,
      `Net ${m(r.net)}`,
    );
  }
  return lines;
}

async function timeBox(what: string, p: () => Promise<void> | void, ms: number, log: Logger): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      Promise.resolve().then(p),
      new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          log.warn('stop step timed out', { step: what, ms });
          resolve();
        }, ms);
      }),
    ]);
  } catch (err) {
    log.warn('stop step failed', { step: what, error: (err as Error).message });
  } finally {
    if (timer) clearTimeout(timer);
  }
}

type StartStage = 'display' | 'journal' | 'secrets' | 'link' | 'keypad' | 'status';
const failedStage = new WeakMap<object, StartStage>();

/** Which start-up step an error thrown by startTerminal came from (undefined: not from a step). */
export function startStageOf(err: unknown): StartStage | undefined {
  return typeof err === 'object' && err !== null ? failedStage.get(err) : undefined;
}

/**
 * Starts the terminal. A step that fails stops what was already started (display, journal, link
 * …) and rethrows its error, tagged with the step (startStageOf) for the fatal screen.
 */
export async function startTerminal(opts: StartTerminalOptions): Promise<TerminalHandle> {
  const stops: { name: string; fn: () => Promise<void> | void }[] = [];
  const at: { stage: StartStage } = { stage: 'display' };
  try {
    return await startParts(opts, stops, at);
  } catch (err) {
    for (const s of [...stops].reverse()) await timeBox(s.name, s.fn, 2000, opts.log);
    if (typeof err === 'object' && err !== null && !failedStage.has(err)) failedStage.set(err, at.stage);
    throw err;
  }
}

async function startParts(opts: StartTerminalOptions, stops: { name: string; fn: () => Promise<void> | void }[], at: { stage: StartStage }): Promise<TerminalHandle> {
  const { config, drivers, log } = opts;
  const clock = opts.clock ?? Date.now;
  const version = opts.version ?? packageVersion();
  const secretsFile = opts.secretsPath ?? config.secretsFile;

  // --- screen ----------------------------------------------------------------------------
  await drivers.display.open();
  stops.push({ name: 'display', fn: () => drivers.display.close() });
  const renderer = (opts.renderer ?? defaultRenderer())({ width: drivers.display.width, height: drivers.display.height, log: log.child('screen') });
  const frameListeners = new Set<(f: { model: ScreenModel; rects: Rect[]; keyAt: number | null }) => void>();
  let pendingModel: ScreenModel | null = null;
  let pendingKeyAt: number | null = null;
  let rendering: Promise<void> | null = null;
  // Cleared synchronously when the loop ends, so a model queued right after is never stranded.
  let renderActive = false;
  let lastModel: ScreenModel = { kind: 'boot', message: 'Starting…' };
  // What the state machine last asked for, and what keeps it off the screen (no keypad yet).
  let machineModel: ScreenModel = lastModel;
  let problem: StartupProblem | null = null;
  const renderLoop = async (): Promise<void> => {
    renderActive = true;
    try {
      while (pendingModel) {
        const model = pendingModel;
        const keyAt = pendingKeyAt;
        pendingModel = null;
        pendingKeyAt = null;
        let rects: Rect[] = [];
        try {
          rects = renderer.render(model);
          if (rects.length) await drivers.display.present(renderer.canvas, rects);
        } catch (err) {
          log.error('drawing the screen failed; the next frame retries', { error: (err as Error).message, screen: model.kind });
        }
        lastModel = model;
        for (const l of frameListeners) l({ model, rects, keyAt });
      }
    } finally {
      // In the same tick as the last check of pendingModel: a show() right after starts a new loop.
      renderActive = false;
    }
  };
  const show = (model: ScreenModel, keyAt: number | null = null): void => {
    pendingModel = model;
    if (keyAt !== null) pendingKeyAt = keyAt;
    // Drawn on the next turn of the event loop: a request queued by the same event (the create
    // at Enter) goes out first, and several models produced in one turn are drawn once.
    if (!renderActive) {
      renderActive = true;
      rendering = new Promise<void>((resolve) => setImmediate(resolve)).then(renderLoop);
    }
  };
  show({ kind: 'boot', message: 'Starting…' });
  // A failed start: no frame of this attempt may land after the display is handed to the fatal
  // screen (stop() below waits for the last frame its own way).
  stops.push({
    name: 'frames',
    fn: async () => {
      pendingModel = null;
      await rendering;
    },
  });

  // --- journal ---------------------------------------------------------------------------
  const jpath = journalPath(config);
  // A damaged journal throws JournalDamagedError: the caller shows the maintenance screen
  // (startTerminal has closed the display by then).
  at.stage = 'journal';
  const journal: Journal = Journal.open(jpath, { log: log.child('journal'), clock, ...(opts.journalMinFreeBytes !== undefined ? { minFreeBytes: opts.journalMinFreeBytes } : {}) }).journal;
  stops.push({ name: 'journal', fn: () => journal.close() });

  // A sale left unfinished by a crash or power cut is no longer on screen: its charge must not
  // stay payable. Expire it (queued); a payment that beat us to it shows as a late payment.
  for (const s of journal.nonFinalSales()) {
    if (!s.expireRequested) {
      // On a full disk the expire waits in memory and is written (then sent) when space returns.
      journal.writeOrDefer(`expire ${s.saleId}`, () => journal.requestExpire(s.saleId, 'interrupted'));
      log.warn('unfinished sale from before the restart: expiring its charge', { saleId: s.saleId, ref: s.ref, status: s.status });
    }
  }

  // --- machine ---------------------------------------------------------------------------
  at.stage = 'secrets';
  const secrets = readSecrets(secretsFile);
  if (secrets.warning) log.warn(secrets.warning);
  const mcfg: MachineConfig = {
    currency: config.currency,
    country: config.country,
    merchantName: config.merchantName,
    entryMode: config.sale.entryMode,
    qrTimeoutSeconds: config.sale.qrTimeoutSeconds,
    resultSeconds: config.sale.resultSeconds,
    ...(secrets.secrets.supervisorPin ? { supervisorPin: secrets.secrets.supervisorPin } : {}),
    createTimeoutSeconds: Math.max(15, Math.ceil((config.link.requestTimeoutMs * 3) / 1000)),
  };
  // A restart neither forgets wrong PIN entries nor lifts a lockout.
  const zone = config.timeZone;
  const clockText = (ms: number): string => formatClock(ms, zone);
  let state: MachineState = { ...initialState(clock(), clockText(clock())), ...journal.pinLock(), lateCount: journal.lateCount() };
  const queue: { ev: MachineEvent; keyAt: number | null }[] = [];
  let draining = false;
  let stopped = false;

  const toUpdate = (r: ApplyResult): MachineEvent | null => {
    const s = r.sale;
    if (!s) return null;
    return {
      type: 'sale',
      now: clock(),
      sale: {
        saleId: s.saleId,
        amount: s.amount,
        currency: s.currency,
        ref: s.ref,
        status: s.status,
        qrText: s.qrText,
        failureCode: s.failureCode,
        error: s.errorCode ? { code: s.errorCode, message: s.errorMessage ?? s.errorCode } : null,
        late: s.late,
      },
    };
  };

  const dispatch = (ev: MachineEvent, keyAt: number | null = null): void => {
    if (stopped) return;
    queue.push({ ev, keyAt });
    if (draining) return;
    draining = true;
    try {
      while (queue.length) {
        const { ev: e, keyAt: k } = queue.shift()!;
        let r;
        try {
          r = step(state, e, mcfg);
        } catch (err) {
          log.error('state machine failed on an event; event dropped', { event: e.type, error: (err as Error).message });
          continue;
        }
        const before = state;
        state = r.state;
        if (state.pinFailures !== before.pinFailures || state.pinLockedUntil !== before.pinLockedUntil) {
          const lock = { pinFailures: state.pinFailures, pinLockedUntil: state.pinLockedUntil };
          journal.writeOrDefer('PIN lockout', () => journal.setPinLock(lock));
        }
        for (const eff of r.effects) perform(eff, k);
        const m = state.mode;
        link.watchSale(m.kind === 'creating' || m.kind === 'qr' ? m.sale.saleId : null);
      }
    } finally {
      draining = false;
    }
  };

  // New sales held for an upgrade (hold.ts): the sale on screen finishes, then "Updating".
  const hold = new SalesHold(clock);
  let holdShown = false;
  const screenFor = (m: ScreenModel): ScreenModel => (problem ? fatalModel(problem) : hold.active() && !saleOnScreen(state) ? HOLD_SCREEN : m);

  const indicator = drivers.indicator ?? null;
  const printOnSuccess = Boolean(config.drivers.printer?.printOnSuccess ?? drivers.printer);
  const fireAndForget = (what: string, p: Promise<void> | undefined): void => {
    p?.catch((err: unknown) => log.warn(`${what} failed`, { error: (err as Error).message }));
  };

  const receiptOf = (sale: SaleRow, title: string): Receipt => ({
    merchantName: config.merchantName,
    amountText: formatMoneyCode(sale.amount, sale.currency),
    paidAt: sale.paidAt ?? new Date(clock()).toISOString(),
    chargeId: sale.chargeId ?? '',
    saleId: `${sale.saleId} #${sale.ref}`,
    terminalName: config.terminalName ?? os.hostname(),
    title,
  });
  const printLines = (title: string, lines: string[]): Promise<void> =>
    drivers.printer!.printText({ merchantName: config.merchantName, terminalName: config.terminalName ?? os.hostname(), title, lines });

  const answer = (q: Query): Answer => {
    switch (q.kind) {
      case 'last-sale':
        return { kind: 'sale-info', sale: saleInfo(journal.lastPaidSale(), zone) };
      case 'sale-by-ref':
        return { kind: 'sale-info', sale: saleInfo(journal.saleByRef(q.ref), zone) };
      case 'recent': {
        const rows = q.purpose === 'late' ? journal.latePayments() : journal.recentSales(20).filter((r) => q.purpose === 'view' || r.status === 'successful');
        return { kind: 'sales', purpose: q.purpose, sales: rows.map((r) => saleInfo(r, zone)!) };
      }
      case 'report': {
        const now = clock();
        const day = businessDay(now, zone, config.businessDayStartHour);
        const [since, until] = dayBounds(day, zone, config.businessDayStartHour).map((t: number) => new Date(t).toISOString());
        if (!q.close) {
          const lines = reportLines(journal.dayReport(since, until), [`Business day ${day}`, `X report at ${clockText(now)} (${zone})`]);
          return { kind: 'lines', title: 'X report', lines, printable: Boolean(drivers.printer) };
        }
        const { close, already } = journal.closeDay(day, since, until);
        const title = `Z report #${close.number}`;
        const lines = reportLines(close.rows, [`Business day ${day}`, `${already ? 'Closed earlier at' : 'Closed at'} ${clockText(Date.parse(close.closedAt))} (${zone})`]);
        if (!already) {
          log.info('business day closed', { number: close.number, businessDay: day });
          if (drivers.printer) fireAndForget('Z report printing', printLines(title, lines));
        }
        return { kind: 'lines', title, lines, printable: Boolean(drivers.printer) };
      }
      case 'network': {
        const st = link.status();
        const ips = Object.entries(os.networkInterfaces())
          .flatMap(([name, addrs]) => (addrs ?? []).filter((a) => !a.internal && a.family === 'IPv4').map((a) => `${name} ${a.address}`))
          .slice(0, 3);
        return {
          kind: 'lines',
          title: 'Network',
          lines: [
            `Relay: ${config.relayUrl}`,
            `Link: ${st.online ? 'online' : 'offline'}${st.paired ? '' : ' (not paired)'}`,
            `Terminal: ${st.terminalId ?? '-'}`,
            `Last event: #${st.lastEventSeq}`,
            ...(st.lastError ? [`Last error: ${st.lastError.slice(0, 80)}`] : []),
            ...ips,
          ],
        };
      }
    }
  };

  const perform = (eff: Effect, keyAt: number | null): void => {
    switch (eff.type) {
      case 'record-sale': {
        let row: SaleRow;
        try {
          const st = journal.storage();
          if (!st.ok) throw new Error(`storage: ${st.reason}`);
          row = journal.recordSale({ saleId: eff.sale.saleId, amount: eff.sale.amount, currency: eff.sale.currency, at: eff.at });
        } catch (err) {
          // Nothing was sent: without a durable record there is no charge.
          log.error('could not record the sale; not sending it', { saleId: eff.sale.saleId, error: (err as Error).message });
          queue.push({
            ev: { type: 'sale', now: clock(), sale: { ...eff.sale, status: 'create_failed', error: { code: 'journal', message: 'Could not save the sale on this terminal' } } },
            keyAt: null,
          });
          return;
        }
        log.info('sale recorded', { saleId: row.saleId, ref: row.ref, amount: row.amount, currency: row.currency });
        queue.push({ ev: { type: 'sale', now: clock(), sale: { saleId: row.saleId, amount: row.amount, currency: row.currency, ref: row.ref, status: row.status } }, keyAt: null });
        link.kickOutbox();
        queue.push({ ev: { type: 'unsynced', count: journal.unsyncedCount(), now: clock() }, keyAt: null });
        return;
      }
      // A full disk never stops these: they wait in memory and are written when space returns.
      case 'expire':
        journal.writeOrDefer(`expire ${eff.saleId}`, () => journal.requestExpire(eff.saleId, eff.reason));
        log.info('expire queued', { saleId: eff.saleId, reason: eff.reason });
        link.kickOutbox();
        return;
      case 'refund':
        journal.writeOrDefer(`refund ${eff.refundId}`, () => journal.queueRefund({ saleId: eff.saleId, refundId: eff.refundId, amount: eff.amount, currency: eff.currency }));
        link.kickOutbox();
        return;
      case 'audit':
        journal.writeOrDefer(`audit ${eff.kind}`, () => journal.audit(eff.kind, eff.saleId, eff.data));
        return;
      case 'screen':
        machineModel = eff.model;
        show(screenFor(eff.model), keyAt);
        updatePole(eff.model);
        if (indicator) indicator.setLed(eff.model.kind === 'qr' || eff.model.kind === 'creating' ? 'blink' : state.online ? 'on' : 'off');
        return;
      case 'beep':
        if (!indicator) return;
        if (eff.kind === 'key') indicator.keyBeep();
        else if (eff.kind === 'success') indicator.success();
        else indicator.failure();
        return;
      case 'query':
        queue.push({ ev: { type: 'answer', answer: answer(eff.query), now: clock() }, keyAt: null });
        return;
      case 'repair':
        fireAndForget('re-pairing', link.repair());
        return;
      case 'resolve-late':
        journal.writeOrDefer(`late ${eff.saleId}`, () => journal.resolveLate(eff.saleId, eff.resolution));
        log.info('late payment settled', { saleId: eff.saleId, resolution: eff.resolution });
        queue.push({ ev: { type: 'late-count', count: journal.lateCount(), now: clock() }, keyAt: null });
        return;
      case 'reprint': {
        const sale = journal.getSale(eff.saleId);
        if (!drivers.printer) log.warn('no receipt printer configured; nothing printed', { saleId: eff.saleId });
        else if (sale) fireAndForget('receipt reprint', drivers.printer.print(receiptOf(sale, 'COPY')));
        return;
      }
      case 'print':
        if (!drivers.printer) log.warn('no receipt printer configured; nothing printed', { what: eff.title });
        else fireAndForget('report printing', printLines(eff.title, eff.lines));
        return;
      case 'paid': {
        const sale = journal.getSale(eff.sale.saleId);
        log.info('sale paid', { saleId: eff.sale.saleId, ref: sale?.ref, chargeId: sale?.chargeId });
        if (drivers.printer && printOnSuccess && sale) fireAndForget('receipt printing', drivers.printer.print(receiptOf(sale, 'PAID')));
        return;
      }
    }
  };

  const updatePole = (m: ScreenModel): void => {
    const pole = drivers.poleDisplay;
    if (!pole) return;
    const money = (text: string) => text.replace(/[^\x20-\x7e]/g, '').trim();
    let lines: [string, string] | null = null;
    const cur: Currency = config.currency;
    if (m.kind === 'idle') lines = [config.merchantName.replace(/[^\x20-\x7e]/g, ''), 'Welcome'];
    else if (m.kind === 'entry' || m.kind === 'creating') lines = ['TOTAL', `${cur} ${money(m.amountText)}`];
    else if (m.kind === 'qr') lines = ['SCAN TO PAY', `${cur} ${money(m.amountText)}`];
    else if (m.kind === 'result') lines = [m.outcome === 'paid' || m.outcome === 'late_paid' ? 'PAID - THANK YOU' : OUTCOME_NAME[m.outcome].toUpperCase(), `${cur} ${money(m.amountText)}`];
    if (lines) fireAndForget('pole display', pole.show(lines[0], lines[1]));
  };

  // --- link ------------------------------------------------------------------------------
  at.stage = 'link';
  let lastUnsynced = 0;
  const link: Link = new Link({
    relayUrl: config.relayUrl,
    secretsFile,
    journal,
    heartbeatMs: config.link.heartbeatMs,
    requestTimeoutMs: config.link.requestTimeoutMs,
    terminalName: config.terminalName ?? os.hostname(),
    version,
    device: `${drivers.display.description}; ${drivers.keypad.description}`,
    log: log.child('link'),
    clock,
    ...(opts.linkTuning ?? {}),
    callbacks: {
      onSale: (r) => {
        const ev = toUpdate(r);
        if (ev) dispatch(ev);
      },
      onRefund: (rv: RefundView, already?: boolean) => {
        const sale = journal.getSale(rv.saleId);
        dispatch({
          type: 'refund',
          saleId: rv.saleId,
          refundId: rv.refundId,
          ...(sale ? { ref: sale.ref } : {}),
          amount: rv.amount,
          currency: rv.currency,
          status: rv.status,
          voided: rv.voided,
          ...(already ? { already: true } : {}),
          error: rv.error,
          now: clock(),
        });
      },
      onOnline: (online) => dispatch({ type: 'link', online, now: clock() }),
      onPairing: (p) => dispatch({ type: 'pairing', code: p.code, relayUrl: config.relayUrl, ...(p.message ? { message: p.message } : {}), now: clock() }),
      onPaired: () => dispatch({ type: 'paired', now: clock() }),
      onNotice: (text) => dispatch({ type: 'notice', text, now: clock() }),
      onUnsynced: () => {
        // A status the relay pushed (PAID…) adds a record to send back: send it now rather than
        // on the outbox's next timer (up to 30 s of "1 unsynced" in amber after every sale). Only
        // when the count grew, so a failing sync keeps its backoff instead of looping here.
        const count = journal.unsyncedCount();
        if (count > lastUnsynced) link.kickOutbox();
        lastUnsynced = count;
        dispatch({ type: 'unsynced', count, now: clock() });
      },
    },
  });
  stops.push({ name: 'link', fn: () => link.stop() });

  // Disk full: new sales pause (screen and status say so), sales in flight go on from memory.
  const offStorage = journal.onStorageChange((st) => {
    dispatch({ type: 'storage', problem: st.ok ? null : st.reason, now: clock() });
    if (st.ok) link.storageRecovered();
  });
  stops.push({ name: 'storage watch', fn: offStorage });
  journal.checkSpace();
  dispatch({ type: 'unsynced', count: journal.unsyncedCount(), now: clock() });
  dispatch({ type: 'tick', now: clock(), clock: clockText(clock()) });
  link.start();

  // --- inputs ----------------------------------------------------------------------------
  const onKey = (k: KeyEvent) => {
    if (hold.active() && !keysPassHold(state)) {
      log.debug('key ignored: new sales are held for an update', { key: k.key });
      return;
    }
    dispatch({ type: 'key', key: k.key, now: clock(), newId: newId(clock()) }, k.at);
  };
  drivers.keypad.on('key', onKey);
  // A keypad missing at start-up: the screen says so and what to do until it is plugged in (the
  // drivers keep looking for it); the status endpoint reports it. Later unplugs only log, so a
  // QR already on screen stays there.
  let keypadMissing = false;
  let keypadReason = 'not connected';
  drivers.keypad.on('status', (s) => {
    keypadMissing = !s.connected;
    if (!s.connected) {
      keypadReason = s.reason ?? keypadReason;
      log.warn('keypad disconnected', { reason: s.reason });
      return;
    }
    log.info('keypad connected');
    if (problem?.stage === 'keypad') {
      problem = null;
      show(machineModel);
    }
  });
  at.stage = 'keypad';
  await drivers.keypad.start();
  if (keypadMissing) {
    problem = {
      stage: 'keypad',
      title: 'Keypad not found',
      reason: [`${drivers.keypad.description}: ${keypadReason}`],
      action: ['Plug in the keypad: the terminal starts by itself when it appears.', 'Another keypad: fix drivers.keypad in the config, then reload the service.'],
      since: new Date(clock()).toISOString(),
    };
    log.error('cannot take sales: no keypad', { keypad: drivers.keypad.description, reason: keypadReason });
    show(fatalModel(problem));
  }
  stops.push({
    name: 'keypad',
    fn: async () => {
      drivers.keypad.off('key', onKey);
      await drivers.keypad.stop();
    },
  });
  for (const [name, dev] of [
    ['indicator', indicator],
    ['pole display', drivers.poleDisplay],
    ['printer', drivers.printer],
  ] as const) {
    if (!dev) continue;
    // Peripherals are optional: a missing printer must not keep the terminal from selling.
    fireAndForget(`${name} start`, dev.start());
    stops.push({ name, fn: () => dev.stop() });
  }

  let probedAt = 0;
  const ticker = setInterval(() => {
    if (!journal.checkSpace().ok && clock() - probedAt >= STORAGE_PROBE_MS) {
      probedAt = clock();
      journal.probe();
    }
    dispatch({ type: 'tick', now: clock(), clock: clockText(clock()) });
    if (hold.active() !== holdShown) {
      holdShown = hold.active();
      show(screenFor(machineModel));
    }
  }, opts.tickMs ?? 250);
  stops.push({ name: 'ticker', fn: () => clearInterval(ticker) });

  const status = (): TerminalStatus => {
    const m = state.mode;
    const cur = m.kind === 'creating' || m.kind === 'qr' || m.kind === 'result' ? m.sale : null;
    const row = cur ? journal.getSale(cur.saleId) : null;
    const ls = link.status();
    const st = journal.storage();
    const held = hold.view();
    return {
      state: stateName(state),
      screen: lastModel.kind,
      ready: st.ok && !held,
      ...(st.ok ? (held ? { reason: `new sales held until ${held.until}: ${held.reason}` } : {}) : { reason: `storage full, sales paused: ${st.reason} (since ${st.since})` }),
      currentSale: cur ? { saleId: cur.saleId, ref: row?.ref ?? null, amount: cur.amount, currency: cur.currency, status: row?.status ?? 'recorded' } : null,
      link: { online: ls.online, paired: ls.paired, lastEventSeq: ls.lastEventSeq, lastError: ls.lastError, pairingCode: ls.pairingCode },
      unsynced: journal.unsyncedCount(),
      latePayments: journal.lateCount(),
      version,
      terminalId: ls.terminalId,
      merchantName: config.merchantName,
      journal: { path: jpath, resetFrom: journal.recoveredFrom() },
      ...(problem ? { problem } : {}),
      hold: held,
    };
  };

  let statusServer: StatusServer | null = null;
  const listen = opts.statusListen === undefined ? config.statusListen : opts.statusListen;
  if (listen) {
    // Not optional: a port another program holds is a failed start, shown and waited on.
    at.stage = 'status';
    statusServer = await startStatusServer({
      listen,
      status,
      log: log.child('status'),
      hold: {
        set: (seconds, reason) => {
          const view = hold.set(seconds, reason);
          holdShown = hold.active();
          show(screenFor(machineModel));
          return view;
        },
      },
    });
    const srv = statusServer;
    stops.push({ name: 'status endpoint', fn: () => srv.stop() });
  }
  log.info('terminal started', { version, journal: jpath, display: drivers.display.description, keypad: drivers.keypad.description, paired: link.paired });

  let stopping: Promise<void> | null = null;
  return {
    statusAddress: statusServer?.address ?? null,
    journal,
    link,
    status,
    machine: () => state,
    lastScreen: () => machineModel,
    onFrame(listener) {
      frameListeners.add(listener);
      return () => frameListeners.delete(listener);
    },
    async idle() {
      for (let i = 0; i < 10 && (renderActive || queue.length); i++) await rendering;
    },
    stop(deadlineMs = 8000) {
      if (stopping) return stopping;
      stopping = (async () => {
        const end = Date.now() + deadlineMs;
        // Inputs first, storage last: nothing new comes in while the rest shuts down.
        for (const s of [...stops].reverse()) {
          if (s.name === 'journal' || s.name === 'display' || s.name === 'frames') continue;
          await timeBox(s.name, s.fn, Math.max(100, end - Date.now()), log);
        }
        stopped = true;
        await timeBox('last frame', async () => void (await rendering), Math.max(100, end - Date.now()), log);
        await timeBox('display', () => drivers.display.close(), Math.max(100, end - Date.now()), log);
        journal.close();
        log.info('terminal stopped');
      })();
      return stopping;
    },
  };
}
