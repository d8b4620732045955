// goim's weighted comet balancer (docs/http-api.md#how-comets-are-chosen). The arithmetic is
// IEEE double and the expressions are evaluated in goim's order so results match to the last
// bit (docs/goim-test-vectors.md#balancer-worked-example).
import type { Instance } from '../ports/index.js';
import { tryParseGoInt } from '../protocol/go/go-strconv.js';

const MIN_WEIGHT = 1;
const MAX_WEIGHT = 1 << 20;
/** Most nodes handed to one client. */
const MAX_NODES = 5;
const INT64_MIN = -(2 ** 63);

interface WeightedNode {
  region: string;
  hostname: string;
  addrs: string[];
  fixedWeight: number;
  currentWeight: number;
  currentConns: number;
  /** The instance's latestTimestamp when this state was built. */
  updated: number;
}

/** Go's int64(f) on amd64: truncation, and the "integer indefinite" value for NaN or overflow. */
function toInt64(f: number): number {
  return Number.isFinite(f) && Math.abs(f) < 2 ** 63 ? Math.trunc(f) : INT64_MIN;
}

function calculateWeight(n: WeightedNode, totalWeight: number, totalConns: number, gainWeight: number): void {
  const fixedWeight = n.fixedWeight * gainWeight;
  totalWeight += toInt64(fixedWeight) - n.fixedWeight;
  if (totalConns > 0) {
    const weightRatio = fixedWeight / totalWeight;
    const connRatio = (n.currentConns / totalConns) * 0.5;
    const diff = weightRatio - connRatio;
    const multiple = diff * totalConns;
    const floor = Math.floor(multiple);
    n.currentWeight = floor - multiple >= -0.5 ? toInt64(fixedWeight + floor) : toInt64(fixedWeight + Math.ceil(multiple));
    if (diff < 0) {
      if (MIN_WEIGHT > n.currentWeight) n.currentWeight = MIN_WEIGHT;
    } else if (MAX_WEIGHT < n.currentWeight) {
      n.currentWeight = MAX_WEIGHT;
    }
  } else {
    n.currentWeight = 0;
  }
}

export interface NodeAddrs {
  /** `hostname + hostDomain` of up to 5 nodes, best first. */
  domains: string[];
  /** The `addrs` metadata of the same nodes, concatenated. */
  addrs: string[];
}

export class WeightedBalancer {
  private nodes = new Map<string, WeightedNode>();
  private totalConns = 0;
  private totalWeight = 0;

  get size(): number {
    return this.nodes.size;
  }

  /**
   * Replaces the node set from registry instances (already filtered by the caller).
   * Ignored — returns false — when the list is empty or has fewer than half the current
   * nodes (goim's protection against registry glitches). A node whose latestTimestamp did
   * not change keeps its state (including connections counted by nodeAddrs).
   */
  update(instances: readonly Instance[]): boolean {
    if (instances.length === 0 || Math.fround(Math.fround(instances.length) / Math.fround(this.nodes.size)) < 0.5) {
      return false;
    }
    const nodes = new Map<string, WeightedNode>();
    let totalConns = 0;
    let totalWeight = 0;
    for (const ins of instances) {
      const old = this.nodes.get(ins.hostname);
      if (old !== undefined && old.updated === ins.latestTimestamp) {
        nodes.set(ins.hostname, old);
        totalConns += old.currentConns;
        totalWeight += old.fixedWeight;
        continue;
      }
      const meta = ins.metadata ?? {};
      const weight = tryParseGoInt(meta.weight ?? '', 32);
      if (weight === undefined) continue;
      const conns = tryParseGoInt(meta.conn_count ?? '', 32);
      if (conns === undefined) continue;
      const node: WeightedNode = {
        region: ins.region,
        hostname: ins.hostname,
        addrs: (meta.addrs ?? '').split(','),
        fixedWeight: Number(weight),
        currentWeight: 0,
        currentConns: Number(conns),
        updated: ins.latestTimestamp,
      };
      nodes.set(ins.hostname, node);
      totalConns += node.currentConns;
      totalWeight += node.fixedWeight;
    }
    this.nodes = nodes;
    this.totalConns = totalConns;
    this.totalWeight = totalWeight;
    return true;
  }

  /**
   * Ranks the nodes for one client of `region` and counts the client on the best one.
   * Equal weights keep registry order (goim leaves their order unspecified).
   */
  nodeAddrs(region: string, hostDomain: string, regionWeight: number): NodeAddrs {
    const ranked = [...this.nodes.values()];
    for (const n of ranked) {
      let gainWeight = 1.0;
      if (n.region === region) gainWeight *= regionWeight;
      calculateWeight(n, this.totalWeight, this.totalConns, gainWeight);
    }
    ranked.sort((a, b) => b.currentWeight - a.currentWeight);
    if (ranked.length > 0) {
      ranked[0].currentConns++;
      this.totalConns++;
    }
    const domains: string[] = [];
    const addrs: string[] = [];
    for (const n of ranked.slice(0, MAX_NODES)) {
      domains.push(n.hostname + hostDomain);
      addrs.push(...n.addrs);
    }
    return { domains, addrs };
  }

  /** Current weights and connection counts (diagnostics and tests). */
  snapshot(): Array<{ hostname: string; currentWeight: number; currentConns: number; fixedWeight: number }> {
    return [...this.nodes.values()].map((n) => ({
      hostname: n.hostname,
      currentWeight: n.currentWeight,
      currentConns: n.currentConns,
      fixedWeight: n.fixedWeight,
    }));
  }

  get totals(): { conns: number; weight: number } {
    return { conns: this.totalConns, weight: this.totalWeight };
  }
}
