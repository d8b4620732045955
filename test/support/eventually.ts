// The one bounded poll of the test suite: for conditions no event announces (a counter on
// another object, a server's state read back), re-checked on a short interval. Prefer
// waiting for an event where there is one; this only bounds how long a test may wait.

const INTERVAL_MS = 5;

/**
 * Resolves once `check()` returns true, re-checking every few milliseconds (an async check
 * runs to completion before the next); rejects after `timeoutMs`, naming `what`.
 */
export async function eventually(check: () => boolean | Promise<boolean>, what = 'condition', timeoutMs = 15_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, INTERVAL_MS));
  }
}
