// The server side of the WebSocket opening handshake (RFC 6455 §4.2), on an upgrade request
// Node's HTTP server has parsed. The checks and answers are those of ws 8 (which did this
// before ws-reader.ts replaced it): a bad request gets an HTTP error, not a silent close.
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** 16 random bytes in base64. */
const KEY = /^[+/0-9A-Za-z]{22}==$/;
/** An HTTP token (RFC 7230 tchar). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Sec-WebSocket-Accept for a Sec-WebSocket-Key. */
function acceptKey(key: string): string {
  return createHash('sha1')
    .update(key + GUID)
    .digest('base64');
}

/**
 * The subprotocol answered: the first one offered (as ws did; goim offers none), '' when the
 * header is absent, undefined when it is malformed (not a list of distinct tokens).
 */
function chosenProtocol(header: string | undefined): string | undefined {
  if (header === undefined) return '';
  const seen = new Set<string>();
  for (const part of header.split(',')) {
    const p = part.trim();
    if (!TOKEN.test(p) || seen.has(p)) return undefined;
    seen.add(p);
  }
  return seen.values().next().value;
}

/**
 * Checks the upgrade request and writes the 101 answer; false when it was refused (an HTTP
 * error is written and the socket ends) or the socket is already half gone (destroyed).
 */
export function acceptUpgrade(req: IncomingMessage, socket: Duplex): boolean {
  const key = req.headers['sec-websocket-key'];
  const version = Number(req.headers['sec-websocket-version']);
  const protocol = chosenProtocol(req.headers['sec-websocket-protocol']);
  if (req.method !== 'GET') return refuse(socket, 405, 'Invalid HTTP method');
  if (req.headers.upgrade?.toLowerCase() !== 'websocket') return refuse(socket, 400, 'Invalid Upgrade header');
  if (key === undefined || !KEY.test(key)) return refuse(socket, 400, 'Missing or invalid Sec-WebSocket-Key header');
  if (version !== 13 && version !== 8) {
    return refuse(socket, 400, 'Missing or invalid Sec-WebSocket-Version header', 'Sec-WebSocket-Version: 13, 8\r\n');
  }
  if (protocol === undefined) return refuse(socket, 400, 'Invalid Sec-WebSocket-Protocol header');
  // The client already sent its FIN (or the socket failed): nothing to answer.
  if (!socket.readable || !socket.writable) {
    socket.destroy();
    return false;
  }
  socket.write(
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${acceptKey(key)}\r\n` +
      (protocol === '' ? '' : `Sec-WebSocket-Protocol: ${protocol}\r\n`) +
      '\r\n',
  );
  return true;
}

function refuse(socket: Duplex, status: number, message: string, extraHeaders = ''): false {
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: text/plain\r\n` +
      `Content-Length: ${Buffer.byteLength(message)}\r\n${extraHeaders}\r\n${message}`,
  );
  return false;
}
