// What the PostgreSQL stores (history-store.ts, inbox-store.ts) share: a pool with client- and
// server-side time bounds that survives a lost connection, and calls whose errors say which
// store, which call and which server failed.
import pg from 'pg';
import type { Logger } from '../../log.js';

export interface PgPoolOptions {
  /** postgres://user@host:port/database */
  url: string;
  /** Connections in the pool. */
  maxConnections?: number;
  /** Longest a statement may run on the server (ms). */
  statementTimeoutMs?: number;
  /** Longest a connection attempt, or a wait for a pooled connection, may take (ms). */
  connectTimeoutMs?: number;
  log: Logger;
}

export class PgCalls {
  readonly pool: pg.Pool;
  private readonly where: string;

  /** `label` names the store in errors, logs and the server's application_name. */
  constructor(
    options: PgPoolOptions,
    private readonly label: string,
  ) {
    const timeout = options.statementTimeoutMs ?? 10_000;
    this.pool = new pg.Pool({
      connectionString: options.url,
      max: options.maxConnections ?? 4,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
      statement_timeout: timeout,
      // A client-side bound too: a server that stops answering does not hold a call forever.
      query_timeout: timeout + 1000,
      idle_in_transaction_session_timeout: timeout * 2,
      application_name: `tsim-${label}`,
    });
    const where = hostOf(options.url);
    this.where = where;
    // An idle pooled connection that breaks (server restart) is dropped from the pool; the
    // next call opens a new one. Without a listener the error would end the process.
    this.pool.on('error', (err) => options.log.warn({ err: err.message, where }, `${label}: postgres idle connection lost`));
  }

  fail(what: string, e: unknown): Error {
    const msg = e instanceof Error ? e.message : String(e);
    return new Error(`${this.label}: postgres ${what} failed (${this.where}): ${msg}`, { cause: e });
  }

  async query<R extends pg.QueryResultRow>(what: string, text: string | pg.QueryConfig, values: unknown[]): Promise<R[]> {
    try {
      return (await this.pool.query<R>(text, values)).rows;
    } catch (e) {
      throw this.fail(what, e);
    }
  }

  /**
   * Runs `fn` in one transaction on one pooled connection. An error `fn` throws that `keep`
   * accepts is passed on as it is (after the rollback), any other in this store's words.
   */
  async tx<T>(what: string, fn: (c: pg.PoolClient) => Promise<T>, keep: (e: unknown) => boolean = () => false): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (e) {
      throw this.fail(what, e);
    }
    let broken: Error | undefined;
    // A connection lost while checked out emits 'error' on the client (the pool listens only
    // to idle ones): unheard, it would end the process. The query in flight rejects as well.
    const lost = (err: Error): void => {
      broken = err;
    };
    client.on('error', lost);
    try {
      await client.query('BEGIN');
      const out = await fn(client);
      await client.query('COMMIT');
      return out;
    } catch (e) {
      try {
        await client.query('ROLLBACK');
      } catch (rollback) {
        broken = rollback as Error; // the connection is unusable: release(err) destroys it
      }
      throw keep(e) ? e : this.fail(what, e);
    } finally {
      client.off('error', lost);
      client.release(broken);
    }
  }

  end(): Promise<void> {
    return this.pool.end();
  }
}

/** host:port/database of a connection URL, for error messages (never the password). */
function hostOf(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || 5432}${u.pathname}`;
  } catch {
    return 'postgres';
  }
}
