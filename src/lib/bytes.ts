// Buffer views of Uint8Array values: the ports carry Uint8Array, while Node's APIs and the
// generated gRPC messages (ts-proto env=node types `bytes` as Buffer) want a Buffer. A view
// over the same memory bridges the two without copying.

export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
