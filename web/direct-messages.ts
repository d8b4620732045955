// The demo's direct-message panel: a second TsimClient that opts in to the user's durable inbox
// (docs/client.md#durable-inbox), and a form that sends durable pushes to another user through
// the HTTP API on the same origin. Going offline closes the client and going online reconnects
// it with the same device key, so what arrived meanwhile comes in order, each message once.

import { TsimClient, type InboxMessage } from 'tsim-client';

/** The operation DMs are pushed with: outside the live room's accepts, so only inbox connections see them. */
const DM_OP = 2001;
const MAX_ROWS = 500;
const MAX_TEXT = 500;

export interface DirectMessageElements {
  status: HTMLElement;
  connectForm: HTMLFormElement;
  me: HTMLInputElement;
  online: HTMLButtonElement;
  inbox: HTMLElement;
  sendForm: HTMLFormElement;
  peer: HTMLInputElement;
  text: HTMLInputElement;
  reply: HTMLElement;
  list: HTMLOListElement;
}

export class DirectMessages {
  private client: TsimClient | null = null;
  /** The user and address the client was made for: it (and its key) is reused while they stay the same. */
  private made = '';

  constructor(
    private readonly ui: DirectMessageElements,
    /** The comet's WebSocket URL, as the page's connection form says. */
    private readonly endpoint: () => string,
    /** The push form's API key, when one is needed. */
    private readonly apiKey: () => string,
  ) {
    ui.connectForm.addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.toggle();
    });
    ui.sendForm.addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.send();
    });
    this.setStatus('idle', 'offline');
  }

  toggle(): void {
    const c = this.client;
    if (c !== null && c.state !== 'closed' && c.state !== 'idle') {
      void c.close();
      return;
    }
    const me = this.ui.me.value.trim();
    if (!/^[1-9]\d{0,15}$/.test(me)) {
      this.setStatus('closed', 'user id: a positive integer');
      return;
    }
    const made = `${me} ${this.endpoint()}`;
    if (c !== null && this.made === made) {
      c.connect();
      return;
    }
    this.ui.list.replaceChildren();
    this.made = made;
    this.client = this.open(Number(me));
  }

  private open(mid: number): TsimClient {
    // accepts [] : only durable messages reach this connection (as op 27, whatever its accepts).
    const c = new TsimClient({
      url: this.endpoint(),
      token: { mid, platform: 'web', accepts: [] },
      inbox: true,
      reconnect: { baseMs: 1000, maxMs: 30_000 },
    });
    this.setStatus('connecting', 'connecting…');
    c.on('auth', () => this.setStatus('open', 'online'));
    c.on('inboxState', (s) => {
      this.ui.inbox.textContent = `inbox: acknowledged up to #${s.acked}, stored #${s.first}–#${s.last}`;
    });
    c.on('inbox', (m) => this.show(m));
    c.on('close', (ev) => this.setStatus(ev.willReconnect ? 'reconnecting' : 'closed', ev.willReconnect ? 'reconnecting…' : 'offline'));
    return c;
  }

  private show(m: InboxMessage): void {
    let from = '?';
    let text = m.text();
    try {
      const d = JSON.parse(text) as { from?: unknown; text?: unknown };
      if (typeof d.text === 'string') text = d.text;
      if (typeof d.from === 'string' || typeof d.from === 'number') from = String(d.from);
    } catch {
      // a plain-text durable push (curl) is shown as it is
    }
    const list = this.ui.list;
    const li = document.createElement('li');
    li.className = 'push';
    li.dataset.seq = String(m.seq);
    const seq = document.createElement('time');
    seq.textContent = `#${m.seq}`;
    const tag = document.createElement('span');
    tag.className = 'tag';
    tag.textContent = `from ${from}`;
    const body = document.createElement('span');
    body.className = 'text';
    body.textContent = text;
    li.append(seq, tag, body);
    list.append(li);
    while (list.childElementCount > MAX_ROWS) list.firstElementChild?.remove();
    list.scrollTop = list.scrollHeight;
  }

  private send(): void {
    const me = this.ui.me.value.trim();
    const peer = this.ui.peer.value.trim();
    const text = this.ui.text.value;
    if (!/^[1-9]\d{0,15}$/.test(peer)) return this.showReply('error', 'to: a positive user id');
    if (text.trim() === '') return;
    if (text.length > MAX_TEXT) return this.showReply('error', `at most ${MAX_TEXT} characters`);
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    const key = this.apiKey();
    if (key !== '') headers.authorization = `Bearer ${key}`;
    const path = `/goim/push/mids?${new URLSearchParams({ operation: String(DM_OP), mids: peer, durable: '1' }).toString()}`;
    this.showReply('pending', 'sending…');
    fetch(path, { method: 'POST', body: JSON.stringify({ from: /^\d+$/.test(me) ? Number(me) : me, text }), headers })
      .then(async (res) => {
        const answer = await res.text();
        let code: unknown;
        try {
          code = (JSON.parse(answer) as { code?: unknown }).code;
        } catch {
          code = undefined;
        }
        if (res.ok && code === 0) {
          this.ui.text.value = '';
          this.showReply('ok', `sent to ${peer}`);
        } else {
          this.showReply('error', `HTTP ${res.status}: ${answer.slice(0, 200)}`);
        }
      })
      .catch((err: unknown) => this.showReply('error', `request failed: ${err instanceof Error ? err.message : String(err)}`));
  }

  private showReply(state: 'ok' | 'error' | 'pending', text: string): void {
    this.ui.reply.dataset.state = state;
    this.ui.reply.textContent = text;
  }

  private setStatus(state: string, text: string): void {
    this.ui.status.dataset.state = state;
    this.ui.status.textContent = text;
    const active = state !== 'idle' && state !== 'closed';
    this.ui.online.textContent = active ? 'Go offline' : 'Go online';
    this.ui.me.disabled = active;
  }
}
