// goim operation codes: one table for the server and the client SDK, kept in the client
// package (packages/client/src/ops.ts), which has no dependencies of its own.
export { Op } from 'tsim-client/codec';
