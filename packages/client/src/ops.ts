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
  /** tsim: the state of a room's history (docs/history.md#opting-in); only to clients that opted in. */
  RoomState: 18,
  /** tsim: join an extra room (docs/protocol.md#several-rooms); the connection becomes multi-room. */
  Join: 19,
  JoinReply: 20,
  /** tsim: leave one of the connection's rooms. */
  Leave: 21,
  LeaveReply: 22,
  /** tsim: a room batch to a multi-room connection: u16 room length, room, the batch's frames. */
  RoomMessage: 23,
  /** tsim, durable inbox (docs/protocol.md#durable-inbox): acknowledge up to a seq, and its reply. */
  InboxAck: 24,
  InboxAckReply: 25,
  /** tsim, durable inbox: re-send stored messages after a seq, and its reply (after the messages). */
  InboxFetch: 26,
  /** tsim, durable inbox: one durable message (seq, op, body); only to connections that opted in. */
  InboxMessage: 27,
  InboxFetchReply: 28,
  /** tsim, durable inbox: the device's watermark and the inbox's range, once after auth. */
  InboxState: 29,
} as const;
