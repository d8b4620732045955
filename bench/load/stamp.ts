// The benchmark message body: the send time, so that a client can compute push→client
// latency. Every process runs on the same machine, so one clock serves all of them:
// performance.timeOrigin + performance.now() in ms with microsecond decimals.
//
//   {"t":1760000000000.123}                 23 bytes (the default)
//   {"t":1760000000000.123,"p":"xxxx…"}     padded to a requested size
//
// The integer part has 13 digits until the year 2286, so every body has the same size.

/** Milliseconds since the epoch, fractional; comparable across processes on this machine. */
export function clockMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Smallest body: the stamp alone. */
export const MIN_BODY_BYTES = 23;
const PAD_OVERHEAD = 7; // ,"p":""

/** Body text carrying `stampMs`, padded to `size` bytes (at least MIN_BODY_BYTES). */
export function stampBody(stampMs: number, size = MIN_BODY_BYTES): string {
  const t = `{"t":${stampMs.toFixed(3).padStart(17, '0')}`;
  if (size < MIN_BODY_BYTES + PAD_OVERHEAD) return `${t}}`;
  return `${t},"p":"${'x'.repeat(size - MIN_BODY_BYTES - PAD_OVERHEAD)}"}`;
}

/** Size a body really has when `size` is asked for (sizes that cannot be padded round down). */
export function bodySize(size: number): number {
  return size < MIN_BODY_BYTES + PAD_OVERHEAD ? MIN_BODY_BYTES : size;
}

/** Reads the stamp from body bytes buf[start, end) without allocating; NaN when absent. */
export function parseStamp(buf: Uint8Array, start: number, end: number): number {
  // Skip to the value after `"t":`.
  let i = start + 5;
  if (end - start < 6 || buf[start + 2] !== 0x74 /* t */ || buf[start + 4] !== 0x3a /* : */) return Number.NaN;
  let int = 0;
  let frac = 0;
  let scale = 1;
  let digits = 0;
  let dot = false;
  for (; i < end; i++) {
    const c = buf[i];
    if (c >= 0x30 && c <= 0x39) {
      digits++;
      if (dot) {
        frac = frac * 10 + (c - 0x30);
        scale *= 10;
      } else {
        int = int * 10 + (c - 0x30);
      }
    } else if (c === 0x2e && !dot) {
      dot = true;
    } else {
      break;
    }
  }
  return digits === 0 ? Number.NaN : int + frac / scale;
}

/** parseStamp for a string body (socket.io delivers text). */
export function parseStampText(body: string): number {
  if (body.charCodeAt(2) !== 0x74 || body.charCodeAt(4) !== 0x3a) return Number.NaN;
  return Number.parseFloat(body.slice(5));
}
