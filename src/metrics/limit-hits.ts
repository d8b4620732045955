// Counts of requests, connections or messages refused because a configured limit was
// reached, by limit name. Code enforcing a limit calls hit('<name>'); the process metrics
// export them as tsim_limit_hits_total{limit="<name>"}.
export class LimitHits {
  private readonly counts = new Map<string, number>();

  /** One refusal by `limit` (a short snake_case name, e.g. "connections_per_ip"). */
  hit(limit: string): void {
    this.counts.set(limit, (this.counts.get(limit) ?? 0) + 1);
  }

  /** Hits so far by limit name. */
  snapshot(): Record<string, number> {
    return Object.fromEntries(this.counts);
  }
}
