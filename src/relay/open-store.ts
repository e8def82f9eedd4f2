/**
 * Opens the relay's store where the config says: the SQLite file in dataDir (the default), or
 * PostgreSQL (several relays sharing one database). The PostgreSQL store is loaded only when
 * chosen, so a SQLite relay never loads the pg driver.
 */
import type { Logger } from '../shared/log';
import { storeLocation, type RelayConfig, type RelaySecrets } from './config';
import { openSqliteStore } from './sqlite-store';
import type { RelayStore } from './store';

/** What this factory needs of ./postgres-store (merged from its own branch). */
interface PostgresStoreModule {
  openPostgresStore(url: string, opts?: { log?: Logger }): Promise<RelayStore>;
}

// A variable, not a literal: this module compiles (and a SQLite relay runs) without the file.
// require, not import(): CommonJS resolution finds postgres-store.ts under tsx and .js in dist.
const POSTGRES_STORE_MODULE = './postgres-store';

function loadPostgresStore(): PostgresStoreModule {
  try {
    return require(POSTGRES_STORE_MODULE) as PostgresStoreModule;
  } catch (err) {
    const e = err as NodeJS.ErrnoException | null;
    // Only the missing module itself; a missing dependency of it (pg) is its own error.
    if (e?.code === 'MODULE_NOT_FOUND' && String(e.message).includes(`'${POSTGRES_STORE_MODULE}'`)) {
      throw new Error('store: this qrpos build has no PostgreSQL store (src/relay/postgres-store is missing); use "store": "sqlite" or a build with it', { cause: err });
    }
    throw err;
  }
}

/**
 * The relay's store for this config; `secrets` may carry the PostgreSQL URL (storeUrl). The URL
 * holds a password: it is never logged, and an error never quotes it (the PostgreSQL store's
 * own errors name only host, port and database).
 */
export async function openRelayStore(config: RelayConfig, log: Logger, secrets?: Pick<RelaySecrets, 'storeUrl'>): Promise<RelayStore> {
  const where = storeLocation(config, secrets);
  if (where.kind === 'sqlite') {
    log.info('store: SQLite', { dataDir: where.dataDir });
    return openSqliteStore(where.dataDir);
  }
  const pg = loadPostgresStore();
  const store = await pg.openPostgresStore(where.url, { log: log.child('store') });
  log.info('store: PostgreSQL');
  return store;
}
