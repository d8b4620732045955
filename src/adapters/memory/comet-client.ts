import type { CometClient, Proto } from '../../ports/index.js';

/** The part of a comet that job drives (goim.comet.Comet); the Comet role implements it. */
export interface CometService {
  pushMsg(keys: string[], protoOp: number, proto: Proto): void;
  broadcast(protoOp: number, proto: Proto, speed: number): void;
  broadcastRoom(roomId: string, proto: Proto): void;
  rooms(): string[];
}

/** An in-process CometClient: a direct call, errors surface as rejections. */
export function directCometClient(comet: CometService): CometClient {
  return {
    async pushMsg(keys, protoOp, proto) {
      comet.pushMsg(keys, protoOp, proto);
    },
    async broadcast(protoOp, proto, speed) {
      comet.broadcast(protoOp, proto, speed);
    },
    async broadcastRoom(roomId, proto) {
      comet.broadcastRoom(roomId, proto);
    },
    async rooms() {
      return comet.rooms();
    },
    async close() {},
  };
}
