// Evenly spaced events at a fixed rate for a fixed time, without drift: event k is due at
// start + k / rate, and each timer callback fires every event already due.

export interface Schedule {
  /** Resolves after the last event fired; the value is how many fired. */
  done: Promise<number>;
  /** Events fired so far. */
  fired(): number;
  /** Stops early (the pending events do not fire). */
  stop(): void;
}

/** Calls `fire` `rate` times per second for `durationMs` (rate × duration events in all). */
export function every(rate: number, durationMs: number, fire: () => void): Schedule {
  const total = Math.floor((rate * durationMs) / 1000);
  const start = performance.now();
  const gap = 1000 / rate;
  let k = 0;
  let timer: NodeJS.Timeout | null = null;
  let finish!: (n: number) => void;
  const done = new Promise<number>((resolve) => (finish = resolve));
  const loop = (): void => {
    timer = null;
    const now = performance.now();
    while (k < total && start + k * gap <= now) {
      k++;
      fire();
    }
    if (k >= total) return finish(k);
    timer = setTimeout(loop, Math.max(0, start + k * gap - performance.now()));
  };
  if (total === 0) finish(0);
  else loop();
  return {
    done,
    fired: () => k,
    stop: () => {
      if (timer) clearTimeout(timer);
      timer = null;
      finish(k);
    },
  };
}
