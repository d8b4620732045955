// Browser entry (`tsim-client` in browsers and bundlers; also bundled by the server's build to
// dist/web/tsim-client.js as the global `Tsim`): the WebSocket client and the frame codec. No
// Node modules may be reachable from here (tsconfig.browser.json checks it).

export * from './codec.js';
export { TsimClient, type TsimClientOptions, type WebSocketConstructor } from './client.js';
export {
  type ClientSession,
  type ClientState,
  type DanmakuInput,
  type DanmakuReply,
  type JoinOptions,
  type ReconnectOptions,
  type RoomsReply,
  type SessionOptions,
} from './session.js';
export { type HistoryAsk, type HistoryOptions, type RoomStateEvent } from './room-history.js';
export {
  InboxError,
  InboxMessage,
  type Inbox,
  type InboxAckResult,
  type InboxFetchResult,
  type InboxOptions,
  type InboxStateEvent,
  type KeyStorage,
} from './inbox.js';
export { PushMessage, type AuthEvent, type ClientEvents, type CloseEvent, type OpenEvent } from './messages.js';
export { stringifyToken, type Token, type TokenValue } from './token.js';
export { DEFAULT_BACKOFF, backoffDelay, fetchNodes, nodeTcpAddresses, nodeUrls, resolveBackoff, type Backoff, type WeightedNodes } from './nodes.js';
