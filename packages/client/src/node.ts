// Node entry (`tsim-client` under Node): everything the browser entry has, plus the raw TCP
// client.

export * from './browser.js';
export { TcpClient, parseTcpAddress, type TcpClientOptions } from './tcp-client.js';
