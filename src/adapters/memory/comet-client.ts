import type { CometOps, CometService } from '../../ports/index.js';

/** An in-process CometService calling `comet` (the Comet role) directly; its throws surface as rejections. */
export function directCometClient(comet: CometOps): CometService {
  return {
    async pushMsg(keys, protoOp, proto, inbox) {
      return comet.pushMsg(keys, protoOp, proto, inbox);
    },
    async broadcast(protoOp, proto, speed) {
      return comet.broadcast(protoOp, proto, speed);
    },
    async broadcastRoom(roomId, proto, parts) {
      return comet.broadcastRoom(roomId, proto, parts);
    },
    async rooms() {
      return comet.rooms();
    },
    async close() {},
  };
}
