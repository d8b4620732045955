// A throwaway PostgreSQL database for one suite: created on the server the 'postgres' gate
// checks (DATABASE_URL, else 127.0.0.1:5432), dropped by the suite's cleanup.
//
//   const skip = await freshPostgresDatabase.gate();
//   const db = await freshPostgresDatabase('tsim_recovery');   // db.url, db.drop()
import pg from 'pg';
import { serviceGate, serviceUrl, uniqueName } from './services.js';

export interface FreshDatabase {
  url: string;
  drop(): Promise<void>;
}

async function admin(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: serviceUrl('postgres') });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

export async function freshPostgresDatabase(prefix: string): Promise<FreshDatabase> {
  const name = uniqueName(`${prefix}_`);
  await admin(`CREATE DATABASE ${name}`);
  const u = new URL(serviceUrl('postgres'));
  u.pathname = `/${name}`;
  return { url: u.href, drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

/** The suite gate: false when PostgreSQL is reachable, else the skip reason (throws under TSIM_REQUIRE_SERVICES=1). */
freshPostgresDatabase.gate = (): Promise<false | string> => serviceGate('postgres');
