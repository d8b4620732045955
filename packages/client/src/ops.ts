/**
 * goim operation codes (docs/protocol.md, "Operations"); the server's table too
 * (src/protocol/ops.ts re-exports it). Pushes carry an application-chosen op instead.
 */
export const Op = {
  Handshake: 0,
  HandshakeReply: 1,
  Heartbeat: 2,
  HeartbeatReply: 3,
  SendMsg: 4,
  SendMsgReply: 5,
  DisconnectReply: 6,
  Auth: 7,
  AuthReply: 8,
  Raw: 9,
  ProtoReady: 10,
  ProtoFinish: 11,
  ChangeRoom: 12,
  ChangeRoomReply: 13,
  Sub: 14,
  SubReply: 15,
  Unsub: 16,
  UnsubReply: 17,
  /** tsim: a room's history state (docs/history.md#opting-in), to opted-in connections only. */
  RoomState: 18,
} as const;
