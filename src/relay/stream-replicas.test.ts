import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqliteStore, type SqliteStore } from './sqlite-store';
import type { RelayStore } from './store';
import { connectStream, startRig, until, type Rig } from './testing/testkit';

/**
 * Several relays sharing one store: an event another relay published reaches a terminal
 * connected to this one through the store's watchEvents (PostgreSQL: LISTEN/NOTIFY). Here the
 * "other relay" is a second handle on the same SQLite file, and the store's own change polling is
 * off (externalChange false, as in PostgreSQL), so only watchEvents can deliver it.
 */
describe('relay: events published by another relay sharing the store', () => {
  let rig: Rig;
  let other: SqliteStore;
  const watchers: ((terminalId: string) => void)[] = [];
  const notify = (terminalId: string) => watchers.forEach((cb) => cb(terminalId));

  beforeAll(async () => {
    rig = await startRig({
      store: (config) => {
        const store: RelayStore = openSqliteStore(config.dataDir);
        return Object.assign(store, {
          externalChange: () => false,
          watchEvents: (cb: (terminalId: string) => void) => void watchers.push(cb),
        });
      },
    });
    other = openSqliteStore(rig.config.dataDir);
  });
  afterAll(async () => {
    other?.close();
    await rig.close();
  });

  it('sends what follows the terminal’s cursor, each event once, however often it is told', async () => {
    expect(watchers).toHaveLength(1);
    const { terminalId, credential } = await rig.pair('replica-till');
    const t = await connectStream(rig.relay.url, credential, 0);
    await t.waitFor(() => t.messages.find((m) => m.type === 'hello'), 'hello');
    const at = new Date().toISOString();
    const published = [];
    for (const name of ['one', 'two', 'three']) published.push(await other.publish(terminalId, at, { kind: 'terminal.updated', name, revoked: false }));
    // Not told yet: nothing arrives (the store is not polled).
    await new Promise((r) => setTimeout(r, 300));
    expect(t.events()).toHaveLength(0);
    notify(terminalId);
    notify(terminalId);
    notify('term_not_connected_here');
    await t.waitFor(() => t.events().length >= 3 || undefined, 'the three events');
    // A fourth, told twice while the first read may still be in flight: still once each.
    published.push(await other.publish(terminalId, at, { kind: 'terminal.updated', name: 'four', revoked: false }));
    notify(terminalId);
    notify(terminalId);
    await t.waitFor(() => t.events().length >= 4 || undefined, 'the fourth event');
    await new Promise((r) => setTimeout(r, 200));
    expect(t.events().map((e) => e.seq)).toEqual(published.map((e) => e.seq));
    t.ack(published[3].seq);
    await until(async () => (await rig.relay.store.pendingEventCount(terminalId)) === 0, 'acks stored');
    await t.close();
  });
});
