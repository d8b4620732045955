// logic → job: the push queue. adapters/memory/push-queue.ts (embedded mode) and
// adapters/nats/push-queue.ts (JetStream, partitioned), adapters/kafka/push-queue.ts (goim's Kafka topic).

export const PushType = { PUSH: 0, ROOM: 1, BROADCAST: 2 } as const;
export type PushType = (typeof PushType)[keyof typeof PushType];

/** goim.logic.PushMsg (docs/internal-protocol.md, "The queue message"). */
export interface PushMsg {
  type: PushType;
  operation: number;
  speed: number;
  server: string;
  room: string;
  keys: string[];
  msg: Uint8Array;
  /** tsim extensions (docs/history.md#the-queue-message); absent in goim's messages. */
  id?: string;
  /** Sender mid of a danmaku (0n / absent for HTTP pushes). */
  sender?: bigint;
  /** Logic's accept time, Unix ms. */
  time?: number;
  /** Video position in ms. */
  progress?: number;
  /**
   * A durable push (docs/protocol.md#durable-inbox): the target users and, in the same order,
   * the seq each one's inbox gave the message. Absent for other pushes.
   */
  inbox?: InboxSeqs;
}

/** Each user's inbox seq of one durable push: `seqs[i]` is the seq of `mids[i]`. */
export interface InboxSeqs {
  mids: bigint[];
  seqs: number[];
}

/**
 * Handles one queued message. The queue acknowledges it only when the promise resolves
 * (the comets accepted it); a rejection means "redeliver later".
 */
export type PushHandler = (msg: PushMsg) => Promise<void>;

export interface PushQueue {
  /** Resolves once the queue has durably accepted the message. */
  publish(msg: PushMsg): Promise<void>;
  /** Starts delivering to `handler`; resolves once consuming has begun. */
  consume(handler: PushHandler): Promise<void>;
  /** Stops consuming; waits for handlers in flight. */
  close(): Promise<void>;
}
