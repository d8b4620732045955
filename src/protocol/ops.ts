// goim operation codes: one table for the server and the client SDK, kept in the client
// package (packages/client/src/ops.ts), which has no dependencies of its own.
export { Op } from 'tsim-client/codec';

/** The durable inbox's ops (docs/protocol.md#durable-inbox): no push may carry one. */
export const FIRST_INBOX_OP = 24;
export const LAST_INBOX_OP = 29;
