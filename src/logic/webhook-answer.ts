// Reading a webhook's answer (auth/webhook.ts, danmaku/moderation.ts) within a byte bound:
// the body is streamed and the call given up past `maxBytes`, so a peer cannot grow the heap.

/** The answer broke the bound; the message says how. */
export class AnswerError extends Error {}

/** The whole body, at most `maxBytes`; rejects with AnswerError past it. */
export async function readAnswer(res: Response, maxBytes: number): Promise<Buffer> {
  if (res.body === null) return Buffer.alloc(0);
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > maxBytes) {
      await reader.cancel().catch(() => {});
      throw new AnswerError(`answer larger than ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}
