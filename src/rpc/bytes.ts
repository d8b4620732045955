// The generated messages type `bytes` fields as Buffer (ts-proto env=node); the ports use
// Uint8Array. A Buffer view over the same memory bridges the two without copying.

export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
