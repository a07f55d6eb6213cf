// Prometheus text exposition of the rendezvous server's counters. Kept in-process and tiny:
// requests by route template and status, rate-limited and cap-refused counts, held long-poll GETs,
// connections refused or closed by the connection guards; live sessions are read from the store at
// scrape time.
import type { HeldStats } from "./long-poll.js";

export class RendezvousMetrics {
  private readonly requests = new Map<string, Map<number, number>>();
  rateLimited = 0;
  capRefused = 0;
  /** Connections refused at the per-client connection cap. */
  connectionsRefused = 0;
  /** Connections closed by the server: too many unanswered pipelined requests, a request not received in time. */
  readonly connectionsClosed = { pipelining: 0, request_timeout: 0 };
  /** Set by the plugin when long-poll is on. */
  heldStats: (() => HeldStats) | undefined;

  countRequest(method: string, route: string, status: number): void {
    this.routeCounter(method, route)(status);
  }

  /** A counting function for one (method, route), to be bound once per route. */
  routeCounter(method: string, route: string): (status: number) => void {
    const key = `${method}\u0000${route}`;
    let byStatus = this.requests.get(key);
    if (!byStatus) this.requests.set(key, (byStatus = new Map()));
    const counts = byStatus;
    return (status) => { counts.set(status, (counts.get(status) ?? 0) + 1); };
  }

  render(liveSessions: number | null): string {
    const lines: string[] = [];
    lines.push("# HELP rendezvous_live_sessions Live (unexpired) rendezvous sessions in the store.");
    lines.push("# TYPE rendezvous_live_sessions gauge");
    if (liveSessions !== null) lines.push(`rendezvous_live_sessions ${liveSessions}`);
    lines.push("# HELP rendezvous_requests_total HTTP requests by route and status.");
    lines.push("# TYPE rendezvous_requests_total counter");
    for (const [key, byStatus] of [...this.requests].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const [method, route] = key.split("\u0000") as [string, string];
      for (const [status, n] of [...byStatus].sort(([a], [b]) => a - b)) {
        lines.push(`rendezvous_requests_total{method="${label(method)}",route="${label(route)}",status="${status}"} ${n}`);
      }
    }
    lines.push("# HELP rendezvous_rate_limited_total Requests refused with 429 by the per-IP rate limits.");
    lines.push("# TYPE rendezvous_rate_limited_total counter");
    lines.push(`rendezvous_rate_limited_total ${this.rateLimited}`);
    lines.push("# HELP rendezvous_capacity_refused_total Session creations refused by a live-session cap.");
    lines.push("# TYPE rendezvous_capacity_refused_total counter");
    lines.push(`rendezvous_capacity_refused_total ${this.capRefused}`);
    lines.push("# HELP rendezvous_connections_refused_total Connections refused at the per-IP connection cap.");
    lines.push("# TYPE rendezvous_connections_refused_total counter");
    lines.push(`rendezvous_connections_refused_total ${this.connectionsRefused}`);
    lines.push("# HELP rendezvous_connections_closed_total Connections closed by the server, by reason.");
    lines.push("# TYPE rendezvous_connections_closed_total counter");
    for (const [reason, n] of Object.entries(this.connectionsClosed)) lines.push(`rendezvous_connections_closed_total{reason="${reason}"} ${n}`);
    const held = this.heldStats?.();
    if (held) {
      lines.push("# HELP rendezvous_held_requests Long-poll GETs held open right now.");
      lines.push("# TYPE rendezvous_held_requests gauge");
      lines.push(`rendezvous_held_requests ${held.held}`);
      lines.push("# HELP rendezvous_long_poll_total Long-poll GETs by how they ended (immediate: answered at the first read).");
      lines.push("# TYPE rendezvous_long_poll_total counter");
      for (const [outcome, n] of Object.entries(held.outcomes)) lines.push(`rendezvous_long_poll_total{outcome="${outcome}"} ${n}`);
      lines.push("# HELP rendezvous_long_poll_refused_total Long-poll GETs answered at once because a cap of held GETs was reached.");
      lines.push("# TYPE rendezvous_long_poll_refused_total counter");
      lines.push(`rendezvous_long_poll_refused_total ${held.refused}`);
    }
    return lines.join("\n") + "\n";
  }
}

function label(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}
