// The undo steps of a role's start-up, run newest first on shutdown (or when start-up fails
// half way), so a role stops in the reverse of the order it started.
import type { Logger } from '../log.js';

interface Step {
  what: string;
  run: () => Promise<void>;
}

export class Teardown {
  private readonly steps: Step[] = [];
  private running: Promise<void> | undefined;

  constructor(private readonly log: Logger) {}

  /** Registers the undo of a step that just succeeded. */
  add(what: string, run: () => Promise<void>): void {
    this.steps.push({ what, run });
  }

  /**
   * Runs every step once, newest first. A failing step is logged and the others still run;
   * the promise then rejects with the first failure (the process exits non-zero).
   */
  run(): Promise<void> {
    this.running ??= (async () => {
      let first: Error | undefined;
      for (const step of this.steps.reverse()) {
        try {
          await step.run();
        } catch (err) {
          const e = err instanceof Error ? err : new Error(String(err));
          this.log.error({ err: e.message }, `shutdown: ${step.what} failed`);
          first ??= new Error(`${step.what}: ${e.message}`, { cause: e });
        }
      }
      if (first) throw first;
    })();
    return this.running;
  }
}
