// The ports between roles, one file each (docs/architecture.md, "Ports and adapters"). Each
// has an in-memory adapter (embedded mode) and a network adapter (distributed mode); role
// code depends only on these interfaces.
export type { Proto } from './proto.js';
export type {
  ConnectReply,
  ConnectRequest,
  HistoryAsk,
  HistoryReply,
  ReplayRecord,
  HistoryRequest,
  InboxAckRequest,
  InboxRecord,
  InboxReply,
  InboxRequest,
  LogicService,
  NodesReply,
  ReceiveRequest,
  ReceiveResult,
} from './logic-service.js';
export type {
  HistoryRecord,
  HistoryStore,
  RoomHistory,
  RoomOpen,
  AppendBatch,
  PruneRule,
  PageBound,
  RecordPage,
  ProgressCursor,
} from './history-store.js';
export { ROOM_BATCH_PARTS_MAX, type CometDialer, type CometOps, type CometService, type RoomBatchParts } from './comet-service.js';
export type { ServerOnline, SessionRef, SessionStore } from './session-store.js';
export { PushType, type InboxSeqs, type PushHandler, type PushMsg, type PushQueue } from './push-queue.js';
export { AppId, type Instance, type Registry } from './registry.js';
export type { LeaseStore } from './lease-store.js';
export type { SendGuard } from './send-guard.js';
export {
  DEFAULT_INBOX_LIMITS,
  INBOX_MAX_MIDS,
  InboxAckRangeError,
  type DeviceMark,
  type InboxLimits,
  type InboxEntry,
  type InboxItem,
  type InboxPage,
  type InboxPruneRule,
  type InboxState,
  type InboxStore,
} from './inbox-store.js';
