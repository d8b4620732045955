// Server → client WebSocket frames (RFC 6455 §5.2), written by hand so that one push is
// framed once and the same bytes go to every socket (docs/protocol.md#websocket, docs/goim-test-vectors.md#websocket-payload-lengths): FIN set, no RSV
// bits, never masked, and the shortest payload-length form.

export const WS_BINARY = 0x2;
export const WS_PONG = 0xa;

/** Bytes of the WebSocket header for a payload of `len` bytes. */
export function wsHeaderLen(len: number): number {
  return len < 126 ? 2 : len < 65536 ? 4 : 10;
}

/** Writes a FIN frame header at offset 0; returns where the payload starts. */
export function writeWsHeader(buf: Buffer, opcode: number, len: number): number {
  buf[0] = 0x80 | opcode;
  if (len < 126) {
    buf[1] = len;
    return 2;
  }
  if (len < 65536) {
    buf[1] = 126;
    buf.writeUInt16BE(len, 2);
    return 4;
  }
  buf[1] = 127;
  buf.writeUInt32BE(Math.floor(len / 0x1_0000_0000), 2);
  buf.writeUInt32BE(len >>> 0, 6);
  return 10;
}

/** A complete control or data frame around `payload` (pongs; replies use frame-bytes.ts). */
export function wsFrame(opcode: number, payload: Uint8Array): Buffer {
  const buf = Buffer.allocUnsafe(wsHeaderLen(payload.length) + payload.length);
  buf.set(payload, writeWsHeader(buf, opcode, payload.length));
  return buf;
}
