// job → comet: what job calls on one comet (goim.comet.Comet). adapters/memory/comet-client.ts
// calls a Comet in the same process, adapters/grpc/comet-client.ts one over gRPC; the comet's
// side of the call (adapters/grpc/comet-server.ts, the memory adapter) serves CometOps.
import type { Proto } from './proto.js';
import type { InboxSeqs } from './push-queue.js';
import type { Instance } from './registry.js';

/** What job calls on one comet; a failed call rejects. */
export interface CometService {
  /** `inbox`: a durable push's seqs per user (docs/protocol.md#durable-inbox). */
  pushMsg(keys: string[], protoOp: number, proto: Proto, inbox?: InboxSeqs): Promise<void>;
  broadcast(protoOp: number, proto: Proto, speed: number): Promise<void>;
  broadcastRoom(roomId: string, proto: Proto): Promise<void>;
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
  broadcastRoom(roomId: string, proto: Proto): void | Promise<void>;
  rooms(): string[] | Promise<string[]>;
}

/** Turns a registry instance into a CometService for it (direct call, or gRPC to its address). */
export type CometDialer = (instance: Instance) => CometService;
