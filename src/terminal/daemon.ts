/**
 * The terminal daemon's composition root. It reads top to bottom: display and frames →
 * journal → state machine → presenter and effect runner → link → inputs and peripherals →
 * status endpoint; each part is started in that order and stopped in reverse. The state
 * machine (sale-machine.ts) decides; the effect runner (effects.ts) carries out what it asks
 * (journal first, network after); the presenter (presenter.ts) shows it (screen, pole display,
 * LED, printer); everything that happens goes back to the machine as events, one at a time.
 */
import { packageVersion } from '../shared/version';
import os from 'node:os';
import type { Display, Rect } from '../../drivers/display/contract';
import type { Indicator } from '../../drivers/gpio/contract';
import type { KeyEvent, Keypad } from '../../drivers/keypad/contract';
import type { PoleDisplay, ReceiptPrinter } from '../../drivers/serial/contract';
import { formatClock } from '../domain/time';
import type { RefundView } from '../link/protocol';
import type { Logger } from '../shared/log';
import { journalPath, upgradeSpoolDir, type TerminalConfig } from './config';
import { effectRunner } from './effects';
import { FrameQueue, type ScreenRendererLike } from './frames';
import { HOLD_SCREEN, keysPassHold, SalesHold, saleOnScreen } from './hold';
import { newId } from './ids';
import { Journal, type ApplyResult } from './journal';
import type { Link } from './link';
import { Presenter } from './presenter';
import { initialState, stateName, step, type MachineConfig, type MachineEvent, type MachineState } from './sale-machine';
import type { ScreenModel } from './screens/model';
import { ScreenRenderer } from './screens/renderer';
import { readSecrets } from './secrets';
import type { StartupProblem, StatusServer, TerminalStatus } from './status-server';
import type { Updater } from './updates';

export type { ScreenRendererLike } from './frames';

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
  /** Test knobs for fleet updates: release keys, no timer (checkMs 0), no Node ABI check (here null). */
  updates?: { keysFile?: string; checkMs?: number; here?: null; quietMs?: number };
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
  /** Fleet updates (null when config.updates.enabled is false). */
  readonly updates: Updater | null;
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

  // --- display and frames ----------------------------------------------------------------
  await drivers.display.open();
  stops.push({ name: 'display', fn: () => drivers.display.close() });
  const renderer = (opts.renderer ?? defaultRenderer())({ width: drivers.display.width, height: drivers.display.height, log: log.child('screen') });
  const booting: ScreenModel = { kind: 'boot', message: 'Starting…' };
  const frames = new FrameQueue(drivers.display, renderer, log.child('screen'), booting);
  frames.show(booting);
  // A failed start: no frame of this attempt may land after the display is handed to the fatal
  // screen (stop() below waits for the last frame its own way).
  stops.push({ name: 'frames', fn: () => frames.drop() });
  // The boot screen goes on the display before the journal, the link and the rest of the fonts
  // are set up: on a small Pi that is most of a second in which the screen would stay blank.
  await frames.settled();
  // What keeps the machine's screen off the display: a start-up problem (no keypad yet).
  let problem: StartupProblem | null = null;

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
  // The methods the relay named last time (the picker works before the link is up) and the last pick.
  const kept = journal.paymentMethods();
  let state: MachineState = {
    ...initialState(clock(), clockText(clock())),
    ...journal.pinLock(),
    lateCount: journal.lateCount(),
    ...(kept.methods ? { methods: kept.methods } : {}),
    ...(kept.defaultMethod ? { defaultMethod: kept.defaultMethod } : {}),
  };
  const queue: { ev: MachineEvent; keyAt: number | null }[] = [];
  /** Told of every key and change of screen (fleet updates pause for them; set further down). */
  let counterActivity = (): void => undefined;
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

  // --- presenter and effects ---------------------------------------------------------------
  // New sales held for an upgrade (hold.ts): the sale on screen finishes, then "Updating".
  const hold = new SalesHold(clock);
  let holdShown = false;
  const presenter = new Presenter(
    frames,
    { indicator: drivers.indicator ?? null, poleDisplay: drivers.poleDisplay ?? null, printer: drivers.printer ?? null },
    config,
    log,
    () => (problem ? fatalModel(problem) : hold.active() && !saleOnScreen(state) ? HOLD_SCREEN : null),
    clock,
  );
  // The link comes next; effects reach it only once events flow (after it exists).
  let link: Link | null = null;
  const perform = effectRunner({
    journal,
    link: {
      kickOutbox: () => link?.kickOutbox(),
      repair: () => link?.repair() ?? Promise.resolve(),
      status: () => link!.status(),
    },
    presenter,
    answers: { config, clock },
    log,
    clock,
    enqueue: (ev) => queue.push({ ev, keyAt: null }),
    online: () => state.online,
  });

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
        if (state.mode.kind !== before.mode.kind) counterActivity();
        if (state.pinFailures !== before.pinFailures || state.pinLockedUntil !== before.pinLockedUntil) {
          const lock = { pinFailures: state.pinFailures, pinLockedUntil: state.pinLockedUntil };
          journal.writeOrDefer('PIN lockout', () => journal.setPinLock(lock));
        }
        for (const eff of r.effects) perform(eff, k);
        const m = state.mode;
        link?.watchSale(m.kind === 'creating' || m.kind === 'qr' ? m.sale.saleId : null);
      }
    } finally {
      draining = false;
    }
  };

  // --- link ------------------------------------------------------------------------------
  at.stage = 'link';
  // Loaded here, after the boot screen is up, not with this module: the link, the status
  // endpoint and fleet updates bring the protocol's schemas, WebSocket and HTTP code, which a
  // small Pi takes a noticeable part of a second to load.
  const { Link } = await import('./link.js');
  let lastUnsynced = 0;
  link = new Link({
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
      onMethods: (methods) => {
        journal.writeOrDefer('payment methods', () => journal.setPaymentMethods(methods));
        dispatch({ type: 'methods', methods, now: clock() });
      },
      onNotice: (text) => dispatch({ type: 'notice', text, now: clock() }),
      onUnsynced: () => {
        // A status the relay pushed (PAID…) adds a record to send back: send it now rather than
        // on the outbox's next timer (up to 30 s of "1 unsynced" in amber after every sale). Only
        // when the count grew, so a failing sync keeps its backoff instead of looping here.
        const count = journal.unsyncedCount();
        if (count > lastUnsynced) link?.kickOutbox();
        lastUnsynced = count;
        dispatch({ type: 'unsynced', count, now: clock() });
      },
    },
  });
  const theLink = link;
  stops.push({ name: 'link', fn: () => theLink.stop() });

  // Disk full: new sales pause (screen and status say so), sales in flight go on from memory.
  const offStorage = journal.onStorageChange((st) => {
    dispatch({ type: 'storage', problem: st.ok ? null : st.reason, now: clock() });
    if (st.ok) theLink.storageRecovered();
  });
  stops.push({ name: 'storage watch', fn: offStorage });
  journal.checkSpace();
  dispatch({ type: 'unsynced', count: journal.unsyncedCount(), now: clock() });
  dispatch({ type: 'tick', now: clock(), clock: clockText(clock()) });
  theLink.start();

  // Fleet updates: a release the relay rolled out is fetched over the link and handed to the
  // privileged upgrader (qrpos-upgrade.path) only with no sale on screen and sales not held.
  const updates = config.updates.enabled
    ? new (await import('./updates.js')).Updater({
        http: theLink.http,
        spoolDir: upgradeSpoolDir(config),
        version,
        isIdle: () => state.mode.kind === 'idle' && !hold.active() && !problem,
        paired: () => theLink.paired,
        log: log.child('updates'),
        checkMs: opts.updates?.checkMs ?? config.updates.checkMs,
        ...(opts.updates?.keysFile ? { keysFile: opts.updates.keysFile } : {}),
        ...(opts.updates && 'here' in opts.updates ? { here: opts.updates.here } : {}),
        quietMs: opts.updates?.quietMs ?? config.updates.quietMs,
        clock,
      })
    : null;
  if (updates) {
    // A sale always wins: a key or a change of screen stops a download (it goes on when quiet).
    counterActivity = () => updates.activity();
    updates.start();
    stops.push({ name: 'updates', fn: () => updates.stop() });
  }

  // --- inputs ----------------------------------------------------------------------------
  const onKey = (k: KeyEvent) => {
    counterActivity();
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
      presenter.refresh();
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
    presenter.refresh();
  }
  stops.push({
    name: 'keypad',
    fn: async () => {
      drivers.keypad.off('key', onKey);
      await drivers.keypad.stop();
    },
  });
  for (const [name, dev] of [
    ['indicator', drivers.indicator],
    ['pole display', drivers.poleDisplay],
    ['printer', drivers.printer],
  ] as const) {
    if (!dev) continue;
    // Peripherals are optional: a missing printer must not keep the terminal from selling.
    dev.start().catch((err: unknown) => log.warn(`${name} start failed`, { error: (err as Error).message }));
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
      presenter.refresh();
    }
  }, opts.tickMs ?? 250);
  stops.push({ name: 'ticker', fn: () => clearInterval(ticker) });

  const status = (): TerminalStatus => {
    const m = state.mode;
    const cur = m.kind === 'creating' || m.kind === 'qr' || m.kind === 'result' ? m.sale : null;
    const row = cur ? journal.getSale(cur.saleId) : null;
    const ls = theLink.status();
    const st = journal.storage();
    const held = hold.view();
    return {
      state: stateName(state),
      screen: frames.lastModel.kind,
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
    const { startStatusServer } = await import('./status-server.js');
    statusServer = await startStatusServer({
      listen,
      status,
      log: log.child('status'),
      hold: {
        set: (seconds, reason) => {
          const view = hold.set(seconds, reason);
          holdShown = hold.active();
          presenter.refresh();
          return view;
        },
      },
    });
    const srv = statusServer;
    stops.push({ name: 'status endpoint', fn: () => srv.stop() });
  }
  log.info('terminal started', { version, journal: jpath, display: drivers.display.description, keypad: drivers.keypad.description, paired: theLink.paired });

  let stopping: Promise<void> | null = null;
  return {
    statusAddress: statusServer?.address ?? null,
    journal,
    link: theLink,
    updates,
    status,
    machine: () => state,
    lastScreen: () => presenter.model,
    onFrame: (listener) => frames.onFrame(listener),
    async idle() {
      for (let i = 0; i < 10 && (frames.busy || queue.length); i++) await frames.settled();
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
        await timeBox('last frame', () => frames.settled(), Math.max(100, end - Date.now()), log);
        await timeBox('display', () => drivers.display.close(), Math.max(100, end - Date.now()), log);
        journal.close();
        log.info('terminal stopped');
      })();
      return stopping;
    },
  };
}
