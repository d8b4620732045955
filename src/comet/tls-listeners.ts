// Which certificates the TLS client listeners use, loaded at start: wss listeners use
// websocket.certFile / privateFile; TCP-over-TLS listeners use tcp.certFile / privateFile, or
// the websocket ones when both tcp files are unset — then the same loaded set when wss is on,
// so one reload (SIGHUP) renews both (docs/configuration.md, [tcp] and [websocket]).
import type { ListenerTls } from './tcp-server.js';
import { TlsCredentials } from './tls-credentials.js';

/** A certificate and private key file setting (comma-separated lists paired by position). */
export interface CertFiles {
  certFile: string;
  privateFile: string;
}

export interface TlsListenerSettings {
  /** websocket.tlsOpen: wss is on, and its certificates are required. */
  wss: boolean;
  /** Whether there are TCP-over-TLS listeners (tcp.tlsBind not empty). */
  tcpTls: boolean;
  /** websocket.certFile / privateFile. */
  websocket: CertFiles;
  /** tcp.certFile / privateFile; both empty = the websocket ones. */
  tcp: CertFiles;
  /** protocol.handshakeTimeout: how long a TLS handshake may take from accept. */
  handshakeTimeoutMs: number;
}

export interface TlsListeners {
  /** The wss listeners' TLS; undefined when wss is off. */
  wss: ListenerTls | undefined;
  /** The TCP-over-TLS listeners' TLS; undefined when there are none. */
  tcp: ListenerTls | undefined;
  /** Every certificate set loaded (at most two), for reloads. */
  credentials: TlsCredentials[];
}

/** Loads the certificates each TLS listener uses; rejects naming the setting of a file that cannot be used. */
export async function loadTlsListeners(s: TlsListenerSettings): Promise<TlsListeners> {
  const credentials: TlsCredentials[] = [];
  const load = async (files: CertFiles, what: string): Promise<ListenerTls> => {
    const c = new TlsCredentials(files.certFile, files.privateFile, what);
    await c.load();
    credentials.push(c);
    return { credentials: c, handshakeTimeoutMs: s.handshakeTimeoutMs };
  };
  const wss = s.wss ? await load(s.websocket, 'websocket.certFile') : undefined;
  let tcp: ListenerTls | undefined;
  if (s.tcpTls) {
    const own = s.tcp.certFile !== '' || s.tcp.privateFile !== '';
    if (own) tcp = await load(s.tcp, 'tcp.certFile');
    else tcp = wss ?? (await load(s.websocket, 'websocket.certFile (for tcp.tlsBind)'));
  }
  return { wss, tcp, credentials };
}
