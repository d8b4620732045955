// Which registered comets logic counts and balances over (docs/http-api.md#which-comets-count):
// those with metadata whose `offline` parses (Go ParseBool) as false and whose `conn_count`
// and `ip_count` parse as int32. Totals for /goim/online/total come from the same metadata.
import type { Instance } from '../ports/index.js';
import { parseGoBool, tryParseGoInt } from '../protocol/go/go-strconv.js';

export interface AcceptedComets {
  instances: Instance[];
  connCount: number;
  ipCount: number;
}

export function acceptComets(all: readonly Instance[]): AcceptedComets {
  const instances: Instance[] = [];
  let connCount = 0;
  let ipCount = 0;
  for (const ins of all) {
    const meta = ins.metadata;
    if (meta === undefined || meta === null) continue;
    if (parseGoBool(meta.offline ?? '') !== false) continue;
    const conns = tryParseGoInt(meta.conn_count ?? '', 32);
    if (conns === undefined) continue;
    const ips = tryParseGoInt(meta.ip_count ?? '', 32);
    if (ips === undefined) continue;
    connCount += Number(conns);
    ipCount += Number(ips);
    instances.push(ins);
  }
  return { instances, connCount, ipCount };
}
