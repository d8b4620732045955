// A small typed listener registry: browsers have no node:events, and EventTarget would
// lose the payload types.

export type Listener<T> = (payload: T) => void;

export class Listeners<Events extends object> {
  private readonly table = new Map<keyof Events, Set<Listener<never>>>();

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof Events>(type: K, listener: Listener<Events[K]>): () => void {
    let set = this.table.get(type);
    if (set === undefined) this.table.set(type, (set = new Set()));
    set.add(listener);
    return () => this.off(type, listener);
  }

  /** Adds a listener that runs at most once. */
  once<K extends keyof Events>(type: K, listener: Listener<Events[K]>): () => void {
    const off = this.on(type, (payload) => {
      off();
      listener(payload);
    });
    return off;
  }

  off<K extends keyof Events>(type: K, listener: Listener<Events[K]>): void {
    this.table.get(type)?.delete(listener);
  }

  /**
   * Calls every listener of `type`. A throwing listener does not stop the others or the
   * protocol code that emitted: its exception is re-thrown on its own (as EventTarget does).
   */
  emit<K extends keyof Events>(type: K, payload: Events[K]): void {
    const set = this.table.get(type);
    if (set === undefined || set.size === 0) return;
    for (const listener of [...set]) {
      try {
        (listener as Listener<Events[K]>)(payload);
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }

  count(type: keyof Events): number {
    return this.table.get(type)?.size ?? 0;
  }
}
