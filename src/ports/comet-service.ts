// job → comet: what job calls on one comet (goim.comet.Comet). adapters/memory/comet-client.ts
// calls a Comet in the same process, adapters/grpc/comet-client.ts one over gRPC; the comet's
// side of the call (adapters/grpc/comet-server.ts, the memory adapter) serves CometOps.
import type { Proto } from './proto.js';
import type { InboxSeqs } from './push-queue.js';
import type { Instance } from './registry.js';

/**
 * The room batches one BroadcastRoom call carries, numbered by the job lane that sends them
 * (docs/internal-protocol.md#room-batch-numbers): a comet that applied some of them already
 * (a retried call whose first answer came too late) writes only the others.
 */
export interface RoomBatchParts {
  /** The sending lane: random, fixed for the lane's life. */
  lane: string;
  /** Per batch, in body order: its number, strictly increasing within the lane. */
  seqs: readonly number[];
  /** Per batch: its body bytes (whole frames); together they are the call's body. */
  lens: readonly number[];
}

/** Most room batches one call carries (a merge never passes it). */
export const ROOM_BATCH_PARTS_MAX = 16;

/** What job calls on one comet; a failed call rejects. */
export interface CometService {
  /** `inbox`: a durable push's seqs per user (docs/protocol.md#durable-inbox). */
  pushMsg(keys: string[], protoOp: number, proto: Proto, inbox?: InboxSeqs): Promise<void>;
  broadcast(protoOp: number, proto: Proto, speed: number): Promise<void>;
  /** `parts`: the room batches `proto` carries, so the comet writes each once. */
  broadcastRoom(roomId: string, proto: Proto, parts?: RoomBatchParts): Promise<void>;
  rooms(): Promise<string[]>;
  close(): Promise<void>;
}

/**
 * The operations a comet serves, as the adapters call them: the Comet role implements them
 * synchronously (a throw is a failed call), a CometService asynchronously.
 */
export interface CometOps {
  pushMsg(keys: string[], protoOp: number, proto: Proto, inbox?: InboxSeqs): void | Promise<void>;
  broadcast(protoOp: number, proto: Proto, speed: number): void | Promise<void>;
  /**
   * `parts`: as CometService's; null: the call carried a numbering that could not be read
   * (the whole body is written, as without one).
   */
  broadcastRoom(roomId: string, proto: Proto, parts?: RoomBatchParts | null): void | Promise<void>;
  rooms(): string[] | Promise<string[]>;
}

/** Turns a registry instance into a CometService for it (direct call, or gRPC to its address). */
export type CometDialer = (instance: Instance) => CometService;
