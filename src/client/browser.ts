// Browser entry (bundled to dist/web/tsim-client.js as the global `Tsim`): the WebSocket
// client and the frame codec. No Node modules may be reachable from here.

export * from './codec.js';
export { TsimClient, type TsimClientOptions, type WebSocketConstructor } from './client.js';
export { type ClientState, type ReconnectOptions, type SessionOptions } from './session.js';
export { PushMessage, type AuthEvent, type ClientEvents, type CloseEvent, type OpenEvent } from './messages.js';
export { stringifyToken, type Token, type TokenValue } from './token.js';
export { DEFAULT_BACKOFF, backoffDelay, fetchNodes, nodeTcpAddresses, nodeUrls, type Backoff, type WeightedNodes } from './nodes.js';
