// `npm run bench -- history-store`: batched inserts of history records (1,000 per batch, one
// transaction each) into PostgreSQL with each installed client library, to choose the one
// the PostgreSQL HistoryStore uses (docs/deployment.md#history-storage). A throwaway
// database tsim_bench_<random> is created and dropped.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import postgres from 'postgres';
import { fmtInt, formatTable } from '../measure/table.js';

export interface HistoryBenchOptions {
  url: string;
  batches: number;
  batchSize: number;
  bodyBytes: number;
}

const TABLE = `CREATE TABLE records (room TEXT NOT NULL, "offset" BIGINT NOT NULL, id TEXT NOT NULL, op INTEGER NOT NULL,
  body BYTEA NOT NULL, mid BIGINT NOT NULL, time BIGINT NOT NULL, progress BIGINT, PRIMARY KEY (room, "offset"))`;

const UNNEST = `INSERT INTO records (room, "offset", id, op, body, mid, time, progress)
  SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::int[], $5::bytea[], $6::bigint[], $7::bigint[], $8::bigint[])`;

interface Columns {
  room: string[];
  offset: string[];
  id: string[];
  op: number[];
  body: Buffer[];
  mid: string[];
  time: string[];
  progress: Array<string | null>;
}

function batch(room: string, from: number, n: number, bodyBytes: number): Columns {
  const c: Columns = { room: [], offset: [], id: [], op: [], body: [], mid: [], time: [], progress: [] };
  const body = randomBytes(bodyBytes);
  for (let i = 0; i < n; i++) {
    c.room.push(room);
    c.offset.push(String(from + i));
    c.id.push(randomBytes(8).toString('base64url'));
    c.op.push(1000);
    c.body.push(body);
    c.mid.push(String(123456789 + i));
    c.time.push(String(Date.now()));
    c.progress.push(i % 2 === 0 ? String(i * 100) : null);
  }
  return c;
}

const args = (c: Columns): unknown[] => [c.room, c.offset, c.id, c.op, c.body, c.mid, c.time, c.progress];

type Insert = (c: Columns) => Promise<void>;

async function timeInserts(o: HistoryBenchOptions, room: string, insert: Insert): Promise<number> {
  await insert(batch(`${room}-warm`, 1, o.batchSize, o.bodyBytes));
  const data = Array.from({ length: o.batches }, (_, i) => batch(room, 1 + i * o.batchSize, o.batchSize, o.bodyBytes));
  const t0 = process.hrtime.bigint();
  for (const c of data) await insert(c);
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  return (o.batches * o.batchSize) / s;
}

export async function runHistoryStoreBench(o: HistoryBenchOptions): Promise<void> {
  const name = `tsim_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: o.url });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const dbUrl = new URL(o.url);
  dbUrl.pathname = `/${name}`;
  const pool = new pg.Pool({ connectionString: dbUrl.href, max: 4 });
  pool.on('error', () => {}); // an idle connection closed by the DROP at the end
  const sql = postgres(dbUrl.href, { max: 4, onnotice: () => {} });
  try {
    await pool.query(TABLE);
    const ways: Array<[string, Insert]> = [
      [
        'pg: unnest arrays',
        async (c) => {
          const client = await pool.connect();
          try {
            await client.query('BEGIN');
            await client.query({ name: 'ins', text: UNNEST, values: args(c) });
            await client.query('COMMIT');
          } finally {
            client.release();
          }
        },
      ],
      [
        'pg: multi-row VALUES',
        async (c) => {
          const values: unknown[] = [];
          const rows: string[] = [];
          for (let i = 0; i < c.room.length; i++) {
            const b = values.length;
            rows.push(`($${b + 1},$${b + 2},$${b + 3},$${b + 4},$${b + 5},$${b + 6},$${b + 7},$${b + 8})`);
            values.push(c.room[i], c.offset[i], c.id[i], c.op[i], c.body[i], c.mid[i], c.time[i], c.progress[i]);
          }
          const client = await pool.connect();
          try {
            await client.query('BEGIN');
            await client.query(`INSERT INTO records (room, "offset", id, op, body, mid, time, progress) VALUES ${rows.join(',')}`, values);
            await client.query('COMMIT');
          } finally {
            client.release();
          }
        },
      ],
      [
        'postgres.js: unnest arrays',
        async (c) => {
          await sql.begin(async (tx) => {
            await tx`INSERT INTO records (room, "offset", id, op, body, mid, time, progress)
              SELECT * FROM unnest(${sql.array(c.room)}::text[], ${sql.array(c.offset)}::bigint[], ${sql.array(c.id)}::text[],
                ${sql.array(c.op)}::int[], ${sql.array(c.body, 1001)}::bytea[], ${sql.array(c.mid)}::bigint[],
                ${sql.array(c.time)}::bigint[], ${sql.array(c.progress as string[])}::bigint[])`;
          });
        },
      ],
      [
        'postgres.js: sql(rows) helper',
        async (c) => {
          const rows = c.room.map((room, i) => ({
            room,
            offset: c.offset[i],
            id: c.id[i],
            op: c.op[i],
            body: c.body[i],
            mid: c.mid[i],
            time: c.time[i],
            progress: c.progress[i],
          }));
          await sql.begin(async (tx) => {
            await tx`INSERT INTO records ${tx(rows, 'room', 'offset', 'id', 'op', 'body', 'mid', 'time', 'progress')}`;
          });
        },
      ],
    ];
    const rounds = 3;
    const results = new Map<string, number[]>();
    for (let r = 0; r < rounds; r++) {
      for (const [label, insert] of ways) {
        const rate = await timeInserts(o, `bench-${r}-${label}`, insert).catch((e: unknown) => {
          throw new Error(`${label}: ${(e as Error).message}`);
        });
        results.set(label, [...(results.get(label) ?? []), rate]);
      }
    }
    const rows = [...results].map(([label, rates]) => [label, ...rates.map((x) => fmtInt(Math.round(x))), fmtInt(Math.round(Math.max(...rates)))]);
    process.stdout.write(
      `${o.batches} batches of ${o.batchSize} records (${o.bodyBytes}-byte bodies), one transaction each; records/s per round\n` +
        `${formatTable(['library / statement', ...Array.from({ length: rounds }, (_, i) => `round ${i + 1}`), 'best'], rows)}\n`,
    );
  } finally {
    await sql.end({ timeout: 5 });
    await pool.end();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}
