// A small in-test LogicService for comet tests: parses the auth token loosely (JSON with
// mid, key, room_id, accepts), records every call, and can be told to fail or to hold calls.
//
//   const logic = new StubLogic({ heartbeatMs: 60_000 });
//   logic.failConnect = true;                        // next connects reject
//   const release = logic.hold('receive');           // receive() calls wait until release()
//   await logic.waitFor('disconnect', (r) => r.key === 'k1');
//   logic.calls.connect                              // every ConnectRequest so far
import type {
  ConnectReply,
  ConnectRequest,
  HistoryReply,
  InboxReply,
  HistoryRequest,
  LogicService,
  NodesReply,
  Proto,
  ReceiveResult,
  ReceiveRequest,
  SessionRef,
} from '../../src/ports/index.js';
import { historyAsk } from '../../src/protocol/history-ask.js';

export interface StubCalls {
  connect: ConnectRequest;
  disconnect: SessionRef;
  heartbeat: SessionRef;
  renewOnline: { server: string; roomCount: Record<string, number> };
  receive: { mid: bigint; key: string; room: string; proto: Proto };
  history: HistoryRequest;
}
export type StubMethod = keyof StubCalls;

export interface StubLogicOptions {
  /** Heartbeat timeout returned by connect (default 60 s). */
  heartbeatMs?: number;
  /** Global room → count map returned by renewOnline (default {}). */
  globalCounts?: Record<string, number>;
}

const DEFAULT_TIMEOUT_MS = 10_000;

export class StubLogic implements LogicService {
  heartbeatMs: number;
  globalCounts: Record<string, number>;
  /** true: every connect rejects; a function: rejects when it returns true for the token. */
  failConnect: boolean | ((token: Record<string, unknown>) => boolean) = false;
  /** What receive() answers (default: not handled, goim's echo). */
  receiveResult: ReceiveResult = { handled: false };
  /** What history() answers (default: the room keeps no history). */
  historyReply: (req: HistoryRequest) => HistoryReply = () => ({ epoch: '', first: 1, last: 0, records: [], recovered: true });
  /** Every call so far, per method, in call order. */
  readonly calls: { [M in StubMethod]: StubCalls[M][] } = {
    connect: [],
    disconnect: [],
    heartbeat: [],
    renewOnline: [],
    receive: [],
    history: [],
  };

  private readonly gates = new Map<StubMethod, Promise<void>>();
  private readonly listeners = new Set<() => void>();
  private keySeq = 0;

  constructor(opts: StubLogicOptions = {}) {
    this.heartbeatMs = opts.heartbeatMs ?? 60_000;
    this.globalCounts = opts.globalCounts ?? {};
  }

  /** Makes calls of `method` wait until the returned function is called. */
  hold(method: StubMethod): () => void {
    let release!: () => void;
    this.gates.set(method, new Promise<void>((r) => (release = r)));
    return () => {
      this.gates.delete(method);
      release();
    };
  }

  /** Resolves with the first recorded call of `method` matching `pred` (past or future). */
  waitFor<M extends StubMethod>(
    method: M,
    pred: (args: StubCalls[M]) => boolean = () => true,
    timeoutMs = DEFAULT_TIMEOUT_MS,
  ): Promise<StubCalls[M]> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const hit = this.calls[method].find(pred);
        if (hit === undefined) return;
        clearTimeout(timer);
        this.listeners.delete(check);
        resolve(hit);
      };
      const timer = setTimeout(() => {
        this.listeners.delete(check);
        reject(new Error(`stub logic: no matching ${method} call within ${timeoutMs} ms`));
      }, timeoutMs);
      this.listeners.add(check);
      check();
    });
  }

  async connect(req: ConnectRequest): Promise<ConnectReply> {
    await this.record('connect', req);
    let token: Record<string, unknown>;
    try {
      token = (JSON.parse(Buffer.from(req.token).toString()) ?? {}) as Record<string, unknown>;
    } catch (err) {
      throw new Error(`invalid token: ${(err as Error).message}`, { cause: err });
    }
    const fail = typeof this.failConnect === 'function' ? this.failConnect(token) : this.failConnect;
    if (fail) throw new Error('stub logic: connect refused');
    const mid = token.mid;
    return {
      mid: typeof mid === 'number' || typeof mid === 'string' ? BigInt(mid) : 0n,
      key: typeof token.key === 'string' && token.key !== '' ? token.key : `stub-key-${++this.keySeq}`,
      roomId: typeof token.room_id === 'string' ? token.room_id : '',
      accepts: Array.isArray(token.accepts) ? token.accepts.map(Number) : [],
      heartbeatMs: this.heartbeatMs,
      // As an auth mode that grants the room / accepts would (jwt, webhook).
      ...(token.room_fixed === true ? { roomFixed: true } : {}),
      ...(token.accepts_fixed === true ? { acceptsFixed: true } : {}),
      // As a JWT's `rooms` claim (docs/security.md#claims).
      ...(Array.isArray(token.rooms) ? { rooms: token.rooms.map(String) } : {}),
      // Opted in to room history, as logic passes the token's request on (docs/history.md#opting-in).
      ...(token.history !== undefined && token.history !== null ? { history: historyAsk(token.history) } : {}),
    };
  }

  async disconnect(req: SessionRef): Promise<boolean> {
    await this.record('disconnect', req);
    return true;
  }

  async heartbeat(req: SessionRef): Promise<void> {
    await this.record('heartbeat', req);
  }

  async renewOnline(server: string, roomCount: Record<string, number>): Promise<Record<string, number>> {
    await this.record('renewOnline', { server, roomCount: { ...roomCount } });
    return this.globalCounts;
  }

  async receive(req: ReceiveRequest): Promise<ReceiveResult> {
    await this.record('receive', { mid: req.mid, key: req.key, room: req.room, proto: { ...req.proto, body: Buffer.from(req.proto.body) } });
    return this.receiveResult;
  }

  async history(req: HistoryRequest): Promise<HistoryReply> {
    await this.record('history', req);
    return this.historyReply(req);
  }

  async nodes(): Promise<NodesReply> {
    throw new Error('stub logic: nodes not implemented');
  }

  async inbox(): Promise<InboxReply> {
    throw new Error('stub logic: inbox not implemented');
  }

  async inboxAck(): Promise<number> {
    throw new Error('stub logic: inboxAck not implemented');
  }

  async close(): Promise<void> {}

  /** Records the call (visible at once), then waits while the method is held. */
  private async record<M extends StubMethod>(method: M, args: StubCalls[M]): Promise<void> {
    this.calls[method].push(args);
    for (const l of [...this.listeners]) l();
    const gate = this.gates.get(method);
    if (gate) await gate;
  }
}
