/** goim.protocol.Proto: a frame as carried between roles (src/rpc/proto/goim/protocol/protocol.proto). */
export interface Proto {
  ver: number;
  op: number;
  seq: number;
  body: Uint8Array;
}
