// The live-room demo page: one TsimClient over WebSocket, and a form that pushes through
// logic's HTTP API on the same origin. Fields can be preset from the query string
// (?mid=&room=&accepts=&key=&port=&heartbeat=&connect=1; the direct-message panel: ?dm=&peer=&dmconnect=1).

import { TsimClient, stringifyToken, type PushMessage } from 'tsim-client';
import { DanmakuStage } from './danmaku-stage.js';
import { DirectMessages } from './direct-messages.js';

const MAX_ROWS = 500;

function el<T extends HTMLElement>(id: string): T {
  const node = document.getElementById(id);
  if (node === null) throw new Error(`demo: #${id} missing`);
  return node as T;
}

const ui = {
  status: el<HTMLSpanElement>('status'),
  online: el<HTMLElement>('online'),
  connectForm: el<HTMLFormElement>('connect-form'),
  mid: el<HTMLInputElement>('mid'),
  room: el<HTMLInputElement>('room'),
  accepts: el<HTMLInputElement>('accepts'),
  key: el<HTMLInputElement>('key'),
  port: el<HTMLInputElement>('port'),
  heartbeat: el<HTMLInputElement>('heartbeat'),
  connect: el<HTMLButtonElement>('connect'),
  endpoint: el<HTMLElement>('endpoint'),
  roomForm: el<HTMLFormElement>('room-form'),
  newRoom: el<HTMLInputElement>('new-room'),
  changeRoom: el<HTMLButtonElement>('change-room'),
  currentRoom: el<HTMLElement>('current-room'),
  messages: el<HTMLOListElement>('messages'),
  count: el<HTMLElement>('count'),
  clear: el<HTMLButtonElement>('clear'),
  pushForm: el<HTMLFormElement>('push-form'),
  pushRoom: el<HTMLInputElement>('push-room'),
  pushKeys: el<HTMLInputElement>('push-keys'),
  pushMids: el<HTMLInputElement>('push-mids'),
  pushSpeed: el<HTMLInputElement>('push-speed'),
  pushOp: el<HTMLInputElement>('push-op'),
  pushApiKey: el<HTMLInputElement>('push-api-key'),
  pushBody: el<HTMLTextAreaElement>('push-body'),
  pushRequest: el<HTMLElement>('push-request'),
  pushReply: el<HTMLPreElement>('push-reply'),
  danmakuForm: el<HTMLFormElement>('danmaku-form'),
  danmakuText: el<HTMLInputElement>('danmaku-text'),
  danmakuColor: el<HTMLSelectElement>('danmaku-color'),
  danmakuReply: el<HTMLElement>('danmaku-reply'),
};

const stage = new DanmakuStage(el<HTMLCanvasElement>('stage'), el<HTMLOListElement>('danmaku-log'));
/** The operation danmaku arrive with (the room type's `op`, 1000 unless configured otherwise). */
const DANMAKU_OP = 1000;
/** What a refusal code means (docs/history.md#sending). */
const REFUSALS: Record<number, string> = {
  1: 'not a valid danmaku',
  2: 'log in to send (anonymous users may not)',
  3: 'you are not in that room',
  4: 'too long',
  5: 'slow down: too many danmaku',
  6: 'slow mode: wait a little',
  7: 'rejected by moderation',
  8: 'moderation unavailable',
  9: 'this room takes no danmaku',
  10: 'the server is busy, try again',
  [-1]: 'no answer from the server',
};

let client: TsimClient | null = null;
let received = 0;
let retryTicker: ReturnType<typeof setInterval> | undefined;

// ---- presets ---------------------------------------------------------------------------

const params = new URLSearchParams(location.search);
for (const [name, input] of [
  ['mid', ui.mid],
  ['room', ui.room],
  ['accepts', ui.accepts],
  ['key', ui.key],
  ['port', ui.port],
  ['heartbeat', ui.heartbeat],
] as const) {
  const v = params.get(name);
  if (v !== null) input.value = v;
}
ui.pushRoom.value = ui.room.value;
ui.pushMids.value = ui.mid.value;

function endpoint(): string {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const host = location.hostname.includes(':') ? `[${location.hostname}]` : location.hostname || '127.0.0.1';
  return `${scheme}://${host}:${ui.port.value || '3102'}/sub`;
}
const showEndpoint = (): void => void (ui.endpoint.textContent = endpoint());
ui.port.addEventListener('input', showEndpoint);
showEndpoint();

// ---- message list ----------------------------------------------------------------------

function clock(): string {
  const d = new Date();
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

function addRow(kind: 'push' | 'event' | 'error', label: string, body: string): void {
  const list = ui.messages;
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  const li = document.createElement('li');
  li.className = kind;
  const time = document.createElement('time');
  time.textContent = clock();
  const tag = document.createElement('span');
  tag.className = 'tag';
  tag.textContent = label;
  const text = document.createElement('span');
  text.className = 'text';
  text.textContent = body;
  li.append(time, tag, text);
  list.append(li);
  while (list.childElementCount > MAX_ROWS) list.firstElementChild?.remove();
  if (atBottom) list.scrollTop = list.scrollHeight;
}

function showPush(msg: PushMessage): void {
  received++;
  ui.count.textContent = String(received);
  addRow('push', msg.offset > 0 ? `op ${msg.op} #${msg.offset}` : `op ${msg.op}`, msg.text());
  if (msg.op === DANMAKU_OP) fly(msg);
}

/** A danmaku's JSON body (docs/history.md#sending), or any other text pushed to the room. */
function fly(msg: PushMessage): void {
  let text = msg.text();
  let color = 0xffffff;
  let own = false;
  try {
    const d = JSON.parse(text) as { text?: unknown; color?: unknown; mid?: unknown };
    if (typeof d.text === 'string') text = d.text;
    if (typeof d.color === 'number') color = d.color;
    own = String(d.mid) === ui.mid.value.trim();
  } catch {
    // plain text pushed through the HTTP API flies as it is
  }
  if (text.trim() === '') return;
  stage.add({ text: text.slice(0, 100), color: `#${(color & 0xffffff).toString(16).padStart(6, '0')}`, own });
}

function showSendReply(state: 'ok' | 'error' | 'pending', text: string): void {
  ui.danmakuReply.dataset.state = state;
  ui.danmakuReply.textContent = text;
}

ui.danmakuForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const c = client;
  const text = ui.danmakuText.value;
  if (c === null || c.state !== 'open') {
    showSendReply('error', 'connect first');
    return;
  }
  if (text.trim() === '') return;
  showSendReply('pending', 'sending…');
  void c.sendDanmaku({ text, color: Number(ui.danmakuColor.value) }).then((r) => {
    if (r.code === 0) {
      ui.danmakuText.value = '';
      showSendReply('ok', 'sent');
    } else {
      showSendReply('error', `refused (${r.code}): ${REFUSALS[r.code] ?? ''}${r.message ? ` — ${r.message}` : ''}`);
    }
  });
});

ui.clear.addEventListener('click', () => {
  ui.messages.replaceChildren();
  received = 0;
  ui.count.textContent = '0';
});

// ---- connection ------------------------------------------------------------------------

function setStatus(state: string, text: string): void {
  ui.status.dataset.state = state;
  ui.status.textContent = text;
  const active = state !== 'idle' && state !== 'closed';
  ui.connect.textContent = active ? 'Disconnect' : 'Connect';
  ui.changeRoom.disabled = state !== 'open';
}

function parseOps(text: string): number[] {
  return text
    .split(/[\s,]+/)
    .filter(Boolean)
    .map(Number)
    .filter((n) => Number.isInteger(n));
}

function parseMid(text: string): number | bigint {
  const t = text.trim();
  if (!/^-?\d+$/.test(t)) return 0;
  const n = Number(t);
  return Number.isSafeInteger(n) ? n : BigInt(t);
}

function connect(): void {
  const token: Record<string, unknown> = {
    mid: parseMid(ui.mid.value),
    room_id: ui.room.value.trim(),
    platform: 'web',
    accepts: parseOps(ui.accepts.value),
  };
  const key = ui.key.value.trim();
  if (key !== '') token.key = key;
  const url = endpoint();
  const heartbeatS = Number(ui.heartbeat.value);
  const c = new TsimClient({
    url,
    token,
    heartbeatMs: heartbeatS > 0 ? heartbeatS * 1000 : 30_000,
    reconnect: { baseMs: 1000, maxMs: 30_000 },
    // Replays the room's last danmaku on opening and recovers what a reconnect missed (docs/history.md).
    history: { last: 30 },
  });
  client = c;
  ui.currentRoom.textContent = (token.room_id as string) || '(none)';
  setStatus('connecting', 'connecting…');
  addRow('event', 'connect', `${url} token ${stringifyToken(token)}`);

  c.on('open', () => setStatus('authenticating', 'authenticating…'));
  c.on('auth', () => {
    clearInterval(retryTicker);
    setStatus('open', 'connected');
    addRow('event', 'auth', 'accepted by the server');
  });
  c.on('online', (n) => {
    ui.online.textContent = String(n);
  });
  c.on('message', showPush);
  c.on('roomState', (s) => addRow('event', 'history', `${s.room} epoch ${s.epoch}: replaying ${Math.max(0, s.last - s.first + 1)}`));
  c.on('notRecovered', (s) => addRow('error', 'history', `missed messages could not be replayed (${s.reason ?? 'unknown'})`));
  c.on('error', (err) => addRow('error', 'error', err.message));
  c.on('close', (ev) => {
    ui.online.textContent = '–';
    clearInterval(retryTicker);
    if (!ev.willReconnect) {
      setStatus('closed', 'disconnected');
      addRow('event', 'closed', ev.reason);
      return;
    }
    addRow('event', 'closed', `${ev.reason}; retrying in ${((ev.delayMs ?? 0) / 1000).toFixed(1)} s`);
    const due = Date.now() + (ev.delayMs ?? 0);
    const tick = (): void => setStatus('reconnecting', `reconnecting in ${Math.max(0, (due - Date.now()) / 1000).toFixed(0)} s`);
    tick();
    retryTicker = setInterval(tick, 500);
  });
}

ui.connectForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  if (client !== null && client.state !== 'closed') {
    const c = client;
    client = null;
    void c.close();
    return;
  }
  connect();
});

ui.roomForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const c = client;
  if (c === null) return;
  const room = ui.newRoom.value.trim();
  void c.changeRoom(room).then((ok) => {
    if (ok) {
      ui.currentRoom.textContent = room || '(none)';
      ui.pushRoom.value = room;
      addRow('event', 'room', room ? `moved to ${room}` : 'left the room');
    } else {
      addRow('error', 'room', 'no reply (not connected)');
    }
  });
});

// ---- push through the HTTP API ----------------------------------------------------------

function target(): string {
  const checked = ui.pushForm.querySelector<HTMLInputElement>('input[name="target"]:checked');
  return checked?.value ?? 'room';
}

function showTargetFields(): void {
  const t = target();
  for (const label of ui.pushForm.querySelectorAll<HTMLElement>('[data-target]')) {
    label.hidden = label.dataset.target !== t;
  }
  ui.pushRequest.textContent = `POST ${pushPath()}`;
}

function list(text: string): string[] {
  return text.split(/[\s,]+/).filter(Boolean);
}

function pushPath(): string {
  const q = new URLSearchParams({ operation: ui.pushOp.value.trim() });
  const t = target();
  if (t === 'room') {
    const room = ui.pushRoom.value.trim();
    const at = room.indexOf('://');
    q.set('type', at < 0 ? '' : room.slice(0, at));
    q.set('room', at < 0 ? room : room.slice(at + 3));
  } else if (t === 'keys') {
    for (const k of list(ui.pushKeys.value)) q.append('keys', k);
  } else if (t === 'mids') {
    for (const m of list(ui.pushMids.value)) q.append('mids', m);
  } else if (ui.pushSpeed.value.trim() !== '') {
    q.set('speed', ui.pushSpeed.value.trim());
  }
  return `/goim/push/${t}?${q.toString()}`;
}

ui.pushForm.addEventListener('change', showTargetFields);
ui.pushForm.addEventListener('input', showTargetFields);
showTargetFields();

ui.pushForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const path = pushPath();
  ui.pushRequest.textContent = `POST ${path}`;
  ui.pushReply.dataset.state = 'pending';
  ui.pushReply.textContent = '…';
  const headers: Record<string, string> = { 'content-type': 'text/plain; charset=utf-8' };
  // The API asks for a key unless it only listens on loopback (config api.auth); never put it in the URL.
  const apiKey = ui.pushApiKey.value.trim();
  if (apiKey !== '') headers.authorization = `Bearer ${apiKey}`;
  fetch(path, { method: 'POST', body: ui.pushBody.value, headers })
    .then(async (res) => {
      let body = await res.text();
      if (res.status === 401) body += `\n${apiKey === '' ? 'This server requires an API key: enter one above.' : 'The API key was refused.'}`;
      let ok = res.ok;
      try {
        ok = ok && (JSON.parse(body) as { code?: number }).code === 0;
      } catch {
        ok = false;
      }
      ui.pushReply.dataset.state = ok ? 'ok' : 'error';
      ui.pushReply.textContent = `HTTP ${res.status}\n${body}`;
    })
    .catch((err: unknown) => {
      ui.pushReply.dataset.state = 'error';
      ui.pushReply.textContent = `request failed: ${err instanceof Error ? err.message : String(err)}`;
    });
});

// ---- direct messages (durable inbox) ----------------------------------------------------

const dmMe = el<HTMLInputElement>('dm-me');
const dmPeer = el<HTMLInputElement>('dm-peer');
dmMe.value = params.get('dm') ?? dmMe.value;
dmPeer.value = params.get('peer') ?? dmPeer.value;
const dms = new DirectMessages(
  {
    status: el('dm-status'),
    connectForm: el('dm-connect-form'),
    me: dmMe,
    online: el('dm-online'),
    inbox: el('dm-inbox'),
    sendForm: el('dm-send-form'),
    peer: dmPeer,
    text: el('dm-text'),
    reply: el('dm-reply'),
    list: el('dm-list'),
  },
  endpoint,
  () => ui.pushApiKey.value.trim(),
);

setStatus('idle', 'disconnected');
if (params.get('connect') === '1') connect();
if (params.get('dmconnect') === '1') dms.toggle();
