// What every contract suite (test/contracts/*.contract.ts) takes: a factory that makes one
// fresh adapter for one case, and says how to remove what the case left behind. The memory
// adapter's factory is a constructor call; a real engine's gives each case its own key
// prefix or stream, so cases never see each other's data and leave nothing behind.
import { afterEach } from 'node:test';

export interface Opened<T> {
  subject: T;
  /** Closes the adapter and deletes what the case stored (keys, streams). */
  dispose(): Promise<void>;
}

export type Factory<T> = () => Promise<Opened<T>>;

export interface ContractOptions {
  /** A skip reason (serviceGate's answer for a real engine), or false to run. */
  skip?: false | string;
}

/**
 * For use inside a suite's describe(): `open()` makes a subject with `factory`, and every
 * subject opened by a case is disposed after it, pass or fail.
 */
export function opener<T>(factory: Factory<T>): () => Promise<T> {
  const opened: Opened<T>[] = [];
  afterEach(async () => {
    const all = opened.splice(0);
    await Promise.all(all.map((o) => o.dispose()));
  });
  return async () => {
    const o = await factory();
    opened.push(o);
    return o.subject;
  };
}
