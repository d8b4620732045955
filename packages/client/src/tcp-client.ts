// goim client over the raw TCP protocol (Node only). Same API as TsimClient; the stream
// carries bare frames, and pushes arrive unwrapped: a room batch is simply several frames
// (docs/protocol.md#pushes-on-the-wire).

import { connect as netConnect } from 'node:net';
import { DEFAULT_MAX_FRAME, FrameStreamReader } from './codec.js';
import { nodeTcpAddresses } from './nodes.js';
import type { Link, LinkEvents } from './link.js';
import { ClientSession, type SessionOptions } from './session.js';

export interface TcpClientOptions extends SessionOptions {
  /** Comet address(es): `host:port` or `tcp://host:port` (port default 3101). */
  url?: string | string[];
  /** Largest frame accepted from the server before the stream is treated as corrupt. */
  maxFrame?: number;
}

export class TcpClient extends ClientSession {
  protected readonly envelopes = false;
  private readonly maxFrame: number;

  constructor(options: TcpClientOptions) {
    super(tcpUrls(options), options);
    this.maxFrame = options.maxFrame ?? DEFAULT_MAX_FRAME;
  }

  protected dial(url: string, events: LinkEvents): Link {
    const { host, port } = parseTcpAddress(url);
    const socket = netConnect({ host, port });
    socket.setNoDelay(true);
    const reader = new FrameStreamReader(this.maxFrame);
    socket.on('connect', () => events.opened());
    socket.on('data', (chunk: Buffer) => {
      try {
        reader.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength), (f) => events.frame(f));
      } catch (err) {
        events.broken(err as Error);
      }
    });
    socket.on('error', (err) => events.failed(new Error(`tcp ${host}:${port}: ${err.message}`)));
    socket.on('close', () => events.closed('socket closed'));
    return {
      send: (bytes) => {
        socket.write(bytes);
      },
      close: (graceful) => {
        if (!graceful) {
          socket.destroy();
          return;
        }
        socket.end();
        // A peer that never closes its side must not keep the socket forever.
        setTimeout(() => socket.destroy(), 3000).unref();
      },
    };
  }
}

/** Host and port of `host:port`, `[v6]:port` or `tcp://host:port`; the port defaults to 3101. */
export function parseTcpAddress(address: string): { host: string; port: number } {
  const u = new URL(address.includes('://') ? address : `tcp://${address}`);
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  if (host === '') throw new TypeError(`tcp address without host: ${address}`);
  return { host, port: u.port === '' ? 3101 : Number(u.port) };
}

function tcpUrls(options: TcpClientOptions): string[] {
  if (options.url !== undefined) return Array.isArray(options.url) ? options.url : [options.url];
  if (options.nodes !== undefined) return nodeTcpAddresses(options.nodes);
  return [];
}
