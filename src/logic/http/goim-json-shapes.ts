// The JSON shapes goim's HTTP API gives what logic answers (docs/http-api.md): snake_case
// names in Go field order, `omitempty` on every NodesReply field, float32 backoff values,
// Go maps for instance metadata. Logic returns plain values; only this file knows goim's JSON.
import type { Instance, NodesReply } from '../../ports/index.js';
import { float32Shortest } from '../../protocol/go/go-json.js';
import type { OnlineTotal, RoomTop } from '../online.js';

/** /goim/online/top: `[{"room_id":…,"count":…}]`. */
export function roomTopJson(tops: readonly RoomTop[]): Array<{ room_id: string; count: number }> {
  return tops.map((t) => ({ room_id: t.roomId, count: t.count }));
}

/** /goim/online/total. */
export function onlineTotalJson(t: OnlineTotal): { conn_count: number; ip_count: number } {
  return { conn_count: t.connCount, ip_count: t.ipCount };
}

export interface NodesReplyJson {
  domain?: string;
  tcp_port?: number;
  ws_port?: number;
  wss_port?: number;
  heartbeat?: number;
  nodes?: string[];
  backoff?: { max_delay?: number; base_delay?: number; factor?: number; jitter?: number };
  heartbeat_max?: number;
}

const nonZero = <T>(v: T): T | undefined => (v === 0 || v === '' ? undefined : v);

export function nodesReplyJson(r: NodesReply): NodesReplyJson {
  return {
    domain: nonZero(r.domain),
    tcp_port: nonZero(r.tcpPort),
    ws_port: nonZero(r.wsPort),
    wss_port: nonZero(r.wssPort),
    heartbeat: nonZero(r.heartbeat),
    nodes: r.nodes.length > 0 ? r.nodes : undefined,
    backoff: {
      max_delay: nonZero(r.backoff.maxDelay),
      base_delay: nonZero(r.backoff.baseDelay),
      factor: nonZero(float32Shortest(r.backoff.factor)),
      jitter: nonZero(float32Shortest(r.backoff.jitter)),
    },
    heartbeat_max: nonZero(r.heartbeatMax),
  };
}

export interface InstanceJson {
  region: string;
  zone: string;
  env: string;
  appid: string;
  hostname: string;
  addrs: string[];
  version: string;
  latest_timestamp: number;
  /** A Go map: encoded with sorted keys. */
  metadata: Map<string, string>;
}

/** The /goim/nodes/instances list; null while there is none (goim answers `"data":null`). */
export function instancesJson(list: readonly Instance[]): InstanceJson[] | null {
  return list.length > 0 ? list.map(instanceJson) : null;
}

/** A discovery instance as goim's /goim/nodes/instances lists it (all fields present). */
function instanceJson(i: Instance): InstanceJson {
  return {
    region: i.region,
    zone: i.zone,
    env: i.env,
    appid: i.appid,
    hostname: i.hostname,
    addrs: i.addrs ?? [],
    version: i.version,
    latest_timestamp: Number.isFinite(i.latestTimestamp) ? Math.trunc(i.latestTimestamp) : 0,
    metadata: new Map(Object.entries(i.metadata ?? {})),
  };
}
