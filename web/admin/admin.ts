// The operations console's page (docs/operations.md#operations-console): polls
// /admin/api/overview every admin.statsInterval and draws uPlot charts, the node table, the
// busiest rooms, and finds a user's connections to disconnect or push to. Everything comes
// from logic itself; the browser sends the admin credential (HTTP Basic) on every request.
import uPlot from 'uplot';

interface NodeView {
  role: string;
  id: string;
  version: string;
  uptimeS: number;
  addrs: string[];
  health: string;
  values: Record<string, number>;
  rates: Record<string, number>;
}

interface Overview {
  intervalMs: number;
  totals: Record<string, number>;
  nodes: NodeView[];
  series: Record<string, number[]>;
  seriesOf: string;
}

interface Connection {
  key: string;
  mid?: string;
  comet: string;
  remote?: string;
  rooms?: string[];
  since?: number;
  transport?: string;
  tls?: boolean;
  details?: string;
}

interface Envelope<T> {
  code: number;
  message: string;
  data?: T;
}

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`#${id} missing`);
  return el as T;
};

async function api<T>(path: string, init?: RequestInit): Promise<T> {
  const res = await fetch(path, { credentials: 'same-origin', cache: 'no-store', ...init });
  const text = await res.text();
  let env: Envelope<T>;
  try {
    env = JSON.parse(text) as Envelope<T>;
  } catch {
    throw new Error(`HTTP ${res.status}: ${text.slice(0, 200)}`);
  }
  if (!res.ok || env.code !== 0) throw new Error(env.message || `HTTP ${res.status}`);
  return env.data as T;
}

const number = new Intl.NumberFormat('en', { maximumFractionDigits: 1 });
const fmt = (n: number | undefined): string => (n === undefined ? '–' : number.format(n));

function uptime(s: number): string {
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

/** A long key (goim's are UUIDs) shortened for the table; the cell's title holds it whole. */
const short = (key: string): string => (key.length > 14 ? `${key.slice(0, 13)}…` : key);

function cell(row: HTMLTableRowElement, text: string, cls?: string): HTMLTableCellElement {
  const td = row.insertCell();
  td.textContent = text;
  if (cls !== undefined) td.className = cls;
  return td;
}

// ---- charts ---------------------------------------------------------------------------

const CHARTS: { title: string; series: [name: string, label: string, color: string][] }[] = [
  {
    title: 'connections and rooms',
    series: [
      ['connections', 'connections', '#2563eb'],
      ['rooms', 'rooms', '#16a34a'],
    ],
  },
  {
    title: 'messages per second',
    series: [
      ['pushes_in_per_s', 'pushes in', '#7c3aed'],
      ['delivered_per_s', 'delivered', '#0891b2'],
    ],
  },
  {
    title: 'trouble per second',
    series: [
      ['dropped_per_s', 'dropped', '#dc2626'],
      ['slow_disconnects_per_s', 'slow disconnects', '#ea580c'],
      ['auth_failures_per_s', 'auth failures', '#a16207'],
    ],
  },
  {
    title: 'lag',
    series: [
      ['queue_lag', 'queue lag (messages)', '#4b5563'],
      ['event_loop_p99_ms', 'event loop p99 (ms)', '#db2777'],
    ],
  },
];

const plots: uPlot[] = [];

function chartWidth(): number {
  return Math.max(280, Math.min(560, ($('charts').clientWidth - 24) / 2));
}

function makeCharts(): void {
  const box = $('charts');
  for (const c of CHARTS) {
    const div = document.createElement('div');
    div.className = 'chart';
    div.dataset.chart = c.title;
    box.append(div);
    const opts: uPlot.Options = {
      title: c.title,
      width: chartWidth(),
      height: 180,
      scales: { x: { time: true } },
      series: [
        {},
        ...c.series.map(([, label, stroke]) => ({ label, stroke, width: 2, value: (_u: uPlot, v: number | null) => fmt(v ?? undefined) })),
      ],
      axes: [{}, { size: 60 }],
    };
    plots.push(new uPlot(opts, [[], ...c.series.map(() => [])], div));
  }
  window.addEventListener('resize', () => plots.forEach((p) => p.setSize({ width: chartWidth(), height: 180 })));
}

function drawCharts(series: Record<string, number[]>): void {
  const t = series.t ?? [];
  CHARTS.forEach((c, i) => plots[i].setData([t, ...c.series.map(([name]) => series[name] ?? [])]));
}

// ---- overview -------------------------------------------------------------------------

let ticks = 0;

function showOverview(o: Overview): void {
  for (const [name, v] of Object.entries(o.totals)) {
    const el = document.getElementById(`total-${name}`);
    if (el !== null) el.textContent = fmt(v);
  }
  drawCharts(o.series);
  const body = $<HTMLTableElement>('nodes').tBodies[0];
  body.replaceChildren();
  const select = $<HTMLSelectElement>('series-of');
  const names = new Set<string>();
  for (const n of o.nodes) {
    const row = body.insertRow();
    row.dataset.node = `${n.role}/${n.id}`;
    cell(row, n.role);
    cell(row, n.id);
    cell(row, n.version);
    cell(row, uptime(n.uptimeS), 'num');
    cell(row, n.addrs.join(' '));
    cell(row, n.health, `health ${n.health === 'ok' ? 'ok' : 'bad'}`);
    cell(row, n.role === 'comet' ? fmt(n.values.connections) : '', 'num');
    cell(row, n.role === 'logic' ? fmt(n.rates.pushes_in) : '', 'num');
    cell(row, n.role === 'comet' ? fmt(n.rates.delivered) : '', 'num');
    cell(row, n.role === 'job' ? fmt(n.values.queue_lag) : '', 'num');
    cell(row, fmt(n.values.event_loop_p99_ms), 'num');
    names.add(`${n.role}/${n.id}`);
  }
  $('node-count').textContent = `${o.nodes.length}`;
  // The chart selector offers the nodes seen now (the cluster first), keeping the choice while it lasts.
  for (const op of [...select.options]) if (op.value !== '' && !names.has(op.value)) op.remove();
  const have = new Set([...select.options].map((op) => op.value));
  for (const n of names) if (!have.has(n)) select.add(new Option(n, n));
  const state = $('state');
  state.dataset.state = 'live';
  state.textContent = `live · ${++ticks}`;
}

async function refresh(): Promise<number> {
  const node = $<HTMLSelectElement>('series-of').value;
  try {
    const o = await api<Overview>(`/admin/api/overview${node ? `?node=${encodeURIComponent(node)}` : ''}`);
    showOverview(o);
    return o.intervalMs;
  } catch (err) {
    const state = $('state');
    state.dataset.state = 'error';
    state.textContent = (err as Error).message;
    return 2000;
  }
}

async function loop(): Promise<void> {
  const wait = await refresh();
  setTimeout(() => void loop(), Math.max(500, Math.min(wait, 5000)));
}

async function refreshRooms(): Promise<void> {
  try {
    const { byMembers, byRate } = await api<{ byMembers: { room: string; count: number }[]; byRate: { room: string; perSecond: number }[] }>(
      '/admin/api/rooms?limit=20',
    );
    const fill = (id: string, rows: [string, number][]): void => {
      const body = $<HTMLTableElement>(id).tBodies[0];
      body.replaceChildren();
      for (const [room, n] of rows) {
        const row = body.insertRow();
        row.dataset.room = room;
        row.className = 'clickable';
        row.addEventListener('click', () => void showRoom(room));
        cell(row, room);
        cell(row, fmt(n), 'num');
      }
    };
    fill(
      'rooms',
      byMembers.map((r) => [r.room, r.count]),
    );
    fill(
      'rooms-rate',
      byRate.map((r) => [r.room, r.perSecond]),
    );
  } catch {
    // The overview shows the error.
  }
}

// ---- a room ---------------------------------------------------------------------------

interface RoomView {
  room: string;
  total: number;
  comets: { comet: string; total: number; error?: string }[];
  members: Connection[];
  history: { records?: { offset: number; op: number; time: number; mid: string; body: string }[]; unavailable?: string };
}

async function showRoom(room: string): Promise<void> {
  const panel = $('room-detail');
  panel.hidden = false;
  $('room-name').textContent = room;
  try {
    const r = await api<RoomView>(`/admin/api/room?room=${encodeURIComponent(room)}&limit=100`);
    $('room-total').textContent = `${r.total} member${r.total === 1 ? '' : 's'}`;
    $('room-comets').textContent = r.comets.map((c) => `${c.comet}: ${c.error ?? c.total}`).join(' · ');
    const body = $<HTMLTableElement>('room-members').tBodies[0];
    body.replaceChildren();
    for (const c of r.members) {
      const row = body.insertRow();
      row.dataset.key = c.key;
      cell(row, short(c.key), 'key').title = c.key;
      cell(row, c.mid ?? '');
      cell(row, c.comet);
      cell(row, c.remote ?? '');
      cell(row, c.since !== undefined ? new Date(c.since).toLocaleTimeString() : '');
      cell(row, c.transport ?? '');
    }
    const list = $('room-history');
    list.replaceChildren();
    $('room-history-state').textContent = r.history.unavailable ?? `${r.history.records?.length ?? 0} most recent`;
    for (const m of r.history.records ?? []) {
      const li = document.createElement('li');
      li.textContent = `#${m.offset} ${new Date(m.time).toLocaleTimeString()} op ${m.op}${m.mid !== '0' ? ` mid ${m.mid}` : ''}: ${m.body}`;
      list.append(li);
    }
  } catch (err) {
    $('room-total').textContent = (err as Error).message;
  }
}

// ---- users and connections ------------------------------------------------------------

let lastLookup = '';

function actionState(text: string, state: 'ok' | 'error'): void {
  const el = $('action-state');
  el.textContent = text;
  el.dataset.state = state;
}

async function lookup(query: string): Promise<void> {
  lastLookup = query;
  const st = $('lookup-state');
  st.dataset.state = 'busy';
  const body = $<HTMLTableElement>('connections').tBodies[0];
  try {
    const { connections } = await api<{ connections: Connection[] }>(`/admin/api/lookup?${query}`);
    body.replaceChildren();
    for (const c of connections) {
      const row = body.insertRow();
      row.dataset.key = c.key;
      cell(row, short(c.key), 'key').title = c.key;
      cell(row, c.mid ?? '');
      cell(row, c.comet);
      cell(row, c.remote ?? c.details ?? '');
      cell(row, (c.rooms ?? []).join(' '));
      cell(row, c.since !== undefined ? new Date(c.since).toLocaleTimeString() : '');
      cell(row, c.transport !== undefined ? `${c.transport}${c.tls ? ' (TLS)' : ''}` : '');
      const td = row.insertCell();
      const kick = document.createElement('button');
      kick.textContent = 'Disconnect';
      kick.className = 'danger disconnect';
      kick.addEventListener('click', () => void disconnect(c.key));
      const push = document.createElement('button');
      push.textContent = 'Push';
      push.className = 'push-to';
      push.addEventListener('click', () => choosePushTarget(`key=${encodeURIComponent(c.key)}`, `key ${c.key}`));
      td.append(kick, push);
    }
    st.textContent = `${connections.length} connection${connections.length === 1 ? '' : 's'}`;
    st.dataset.state = 'done';
    if (query.startsWith('mid=')) choosePushTarget(query, query.replace('=', ' '));
  } catch (err) {
    st.textContent = (err as Error).message;
    st.dataset.state = 'error';
  }
}

async function disconnect(key: string): Promise<void> {
  try {
    await api(`/admin/api/disconnect?key=${encodeURIComponent(key)}`, { method: 'POST' });
    actionState(`disconnected ${key}`, 'ok');
  } catch (err) {
    actionState(`disconnect ${key}: ${(err as Error).message}`, 'error');
  }
  if (lastLookup) await lookup(lastLookup);
}

let pushTarget = '';

function choosePushTarget(query: string, label: string): void {
  pushTarget = query;
  $('push-target').textContent = label;
  $('push-form').hidden = false;
}

async function push(): Promise<void> {
  const op = $<HTMLInputElement>('push-op').value.trim();
  try {
    await api(`/admin/api/push?${pushTarget}&operation=${encodeURIComponent(op)}`, { method: 'POST', body: $<HTMLInputElement>('push-body').value });
    actionState(`pushed to ${$('push-target').textContent ?? ''}`, 'ok');
  } catch (err) {
    actionState(`push: ${(err as Error).message}`, 'error');
  }
}

$('lookup-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const by = $<HTMLSelectElement>('lookup-by').value;
  void lookup(`${by}=${encodeURIComponent($<HTMLInputElement>('lookup-value').value.trim())}`);
});
$('push-form').addEventListener('submit', (e) => {
  e.preventDefault();
  void push();
});
$('series-of').addEventListener('change', () => void refresh());

makeCharts();
void loop();
void refreshRooms();
setInterval(() => void refreshRooms(), 2000);
