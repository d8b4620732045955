// A forked load worker spoken to over IPC: each command is answered by one message whose `t`
// the caller names; a worker that exits rejects what was waiting for it.
import type { ChildProcess } from 'node:child_process';

export class IpcWorker<Cmd, Reply extends { t: string }> {
  private readonly waiters = new Map<string, { resolve: (m: Reply) => void; reject: (e: Error) => void }>();

  constructor(readonly child: ChildProcess) {
    child.on('message', (m: Reply) => {
      const w = this.waiters.get(m.t);
      if (w) {
        this.waiters.delete(m.t);
        w.resolve(m);
      }
    });
    child.once('exit', (code, signal) => {
      for (const w of this.waiters.values()) w.reject(new Error(`load worker ${child.pid} exited (${signal ?? code})`));
      this.waiters.clear();
    });
  }

  call<T extends Reply['t']>(msg: Cmd, t: T): Promise<Extract<Reply, { t: T }>> {
    return new Promise((resolve, reject) => {
      this.waiters.set(t, { resolve: resolve as (m: Reply) => void, reject });
      this.child.send(msg as object);
    });
  }
}
