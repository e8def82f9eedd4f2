/**
 * Opens the relay's store where the config says: the SQLite file in dataDir (the default), or
 * PostgreSQL (several relays sharing one database). The PostgreSQL store is loaded only when
 * chosen, so a SQLite relay never loads the pg driver.
 */
import type { Logger } from '../shared/log';
import { storeLocation, type RelayConfig, type RelaySecrets } from './config';
import { openSqliteStore } from './sqlite-store';
import type { RelayStore } from './store';

/**
 * The relay's store for this config; `secrets` may carry the PostgreSQL URL (storeUrl). The URL
 * holds a password: it is never logged, and an error never quotes it (the PostgreSQL store's
 * own errors name only host, port and database).
 */
export async function openRelayStore(config: RelayConfig, log: Logger, secrets?: Pick<RelaySecrets, 'storeUrl'>): Promise<RelayStore> {
  const where = storeLocation(config, secrets);
  if (where.kind === 'sqlite') {
    const redoLog = config.sqliteRedoLog === true;
    log.info('store: SQLite', { dataDir: where.dataDir, redoLog });
    return openSqliteStore(where.dataDir, { redoLog });
  }
  const { openPostgresStore } = await import('./postgres-store.js');
  const store = await openPostgresStore(where.url, { log: log.child('store') });
  log.info('store: PostgreSQL');
  return store;
}
