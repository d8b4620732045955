// Bounds the messages a job holds unacknowledged. Waiters are admitted strictly in arrival
// order, so a message that had to wait is never overtaken by a later one.
import { Fifo } from '../lib/fifo.js';

export class Admission {
  private used = 0;
  private readonly waiters = new Fifo<() => void>();
  private drainWaiters: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  get pending(): number {
    return this.used;
  }

  /** Takes a slot at once when one is free and nobody is waiting. */
  tryEnter(): boolean {
    if (this.used < this.limit && this.waiters.length === 0) {
      this.used++;
      return true;
    }
    return false;
  }

  /** Resolves once a slot was handed over (in call order). */
  enter(): Promise<void> {
    if (this.tryEnter()) return Promise.resolve();
    return new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  leave(): void {
    const next = this.waiters.shift();
    // The slot passes straight to the next waiter, so tryEnter() cannot jump the line.
    if (next) next();
    else if (--this.used === 0 && this.drainWaiters.length > 0) {
      const ws = this.drainWaiters;
      this.drainWaiters = [];
      for (const w of ws) w();
    }
  }

  /** Resolves once no slot is taken and nobody waits. */
  whenDrained(): Promise<void> {
    if (this.used === 0) return Promise.resolve();
    return new Promise<void>((resolve) => this.drainWaiters.push(resolve));
  }
}
