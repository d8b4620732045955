// goim client over WebSocket, for browsers and Node (its global WebSocket; versions in the
// README). One goim frame per binary WebSocket message in both directions; pushes arrive as
// op-9 envelopes (docs/protocol.md#pushes-on-the-wire).

import { CodecError, decodeFrame } from './codec.js';
import { nodeUrls } from './nodes.js';
import type { Link, LinkEvents } from './link.js';
import { ClientSession, type SessionOptions } from './session.js';

/** Anything constructed like the standard WebSocket (the global one, or `ws`'s). */
export type WebSocketConstructor = new (url: string) => WebSocket;

export interface TsimClientOptions extends SessionOptions {
  /** Comet address(es), e.g. `ws://127.0.0.1:3102/sub`; several are tried in turn on reconnect. */
  url?: string | string[];
  /** With `nodes` and no `url`: use the wss port (default: when the page itself is https). */
  secure?: boolean;
  /** WebSocket implementation (default: the global one). */
  WebSocket?: WebSocketConstructor;
}

export class TsimClient extends ClientSession {
  protected readonly envelopes = true;
  private readonly Socket: WebSocketConstructor | undefined;

  constructor(options: TsimClientOptions) {
    const urls = wsUrls(options);
    for (const u of urls) {
      if (!/^(wss?|https?):\/\/[^/]/i.test(u)) throw new TypeError(`TsimClient: not a WebSocket URL: ${u}`);
    }
    super(urls, options);
    this.Socket = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  }

  protected dial(url: string, events: LinkEvents): Link {
    const Socket = this.Socket;
    if (Socket === undefined) throw new Error('no WebSocket implementation (needs a browser, Node.js >= 24, or the WebSocket option)');
    const ws = new Socket(url);
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => events.opened();
    ws.onmessage = (ev: MessageEvent) => {
      const data: unknown = ev.data;
      if (typeof data === 'string') {
        events.broken(new CodecError('text WebSocket message (goim frames are binary)'));
        return;
      }
      const bytes = ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data as ArrayBuffer);
      let frame;
      try {
        frame = decodeFrame(bytes, 0);
      } catch (err) {
        events.broken(err as Error);
        return;
      }
      if (frame === null) {
        events.broken(new CodecError(`WebSocket message of ${bytes.length} bytes holds no whole frame`));
        return;
      }
      events.frame(frame);
    };
    ws.onerror = () => events.failed(new Error(`websocket error on ${url}`));
    ws.onclose = (ev: CloseEvent) => events.closed(ev.reason || `websocket closed (code ${ev.code})`, ev.code);
    return {
      send: (bytes) => ws.send(bytes),
      close: () => ws.close(1000),
    };
  }
}

function wsUrls(options: TsimClientOptions): string[] {
  if (options.url !== undefined) return Array.isArray(options.url) ? options.url : [options.url];
  if (options.nodes !== undefined) {
    const secure = options.secure ?? (globalThis as { location?: { protocol?: string } }).location?.protocol === 'https:';
    return nodeUrls(options.nodes, secure);
  }
  return [];
}
