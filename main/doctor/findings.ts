// What one walk through a rendezvous session found, per check: the walk touches several checks at
// each step (one GET shows consistency, the ETag and the Content-Type at once), so findings are
// collected here and reported when the walk ends. The first problem of a check is its finding; a
// check the walk never reached is "not checked", saying why.
import type { DoctorContext } from "./context.js";
import type { CheckId } from "./types.js";

interface Problem {
  readonly status: "fail" | "warn";
  readonly summary: string;
  readonly fix: string;
}

/** Thrown to end a walk early: the session cannot be used for the steps that follow. */
export class WalkStopped extends Error {
  override readonly name = "WalkStopped";
}

export class Findings {
  private readonly problems = new Map<CheckId, Problem>();
  private readonly seen = new Set<CheckId>();
  private readonly notes = new Map<CheckId, string[]>();
  /** Why the walk ended before every check was reached. */
  stoppedBecause: string | undefined;

  /** The check was exercised (and passed, unless a problem is recorded); `note` adds to its pass summary. */
  saw(id: CheckId, note?: string): void {
    this.seen.add(id);
    if (note) this.notes.set(id, [...(this.notes.get(id) ?? []), note]);
  }

  fail(id: CheckId, summary: string, fix: string): void {
    this.seen.add(id);
    const prev = this.problems.get(id);
    if (!prev || prev.status === "warn") this.problems.set(id, { status: "fail", summary, fix });
  }

  warn(id: CheckId, summary: string, fix: string): void {
    this.seen.add(id);
    if (!this.problems.has(id)) this.problems.set(id, { status: "warn", summary, fix });
  }

  /** End the walk: what follows cannot be checked on this session. */
  stop(why: string): never {
    this.stoppedBecause ??= why;
    throw new WalkStopped(why);
  }

  status(id: CheckId): "pass" | "warn" | "fail" | "unseen" {
    const p = this.problems.get(id);
    if (p) return p.status;
    return this.seen.has(id) ? "pass" : "unseen";
  }

  problem(id: CheckId): Problem | undefined {
    return this.problems.get(id);
  }

  /** Merge another walk's findings (two prefixes of one API report as one check). */
  absorb(other: Findings, label = ""): void {
    const labelled = (text: string) => (label ? `${label}: ${text}` : text);
    for (const id of other.seen) this.seen.add(id);
    for (const [id, p] of other.problems) {
      const prev = this.problems.get(id);
      if (!prev || (prev.status === "warn" && p.status === "fail")) this.problems.set(id, { ...p, summary: labelled(p.summary) });
    }
    for (const [id, n] of other.notes) this.notes.set(id, [...(this.notes.get(id) ?? []), ...n.map(labelled)]);
    if (other.stoppedBecause && !this.stoppedBecause) this.stoppedBecause = labelled(other.stoppedBecause);
  }

  /** Report each of `ids`: its problem, its pass summary, or "not checked" with why. */
  report(ctx: DoctorContext, ids: readonly CheckId[], passSummary: Partial<Record<CheckId, string>>, notChecked: string): void {
    for (const id of ids) {
      const p = this.problems.get(id);
      if (p) ctx.report(id, p.status, p.summary, p.fix);
      else if (this.seen.has(id)) {
        const notes = this.notes.get(id);
        ctx.report(id, "pass", [passSummary[id], ...(notes ?? [])].filter(Boolean).join("; ") || "as expected");
      } else ctx.report(id, "skip", `not checked: ${this.stoppedBecause ?? notChecked}`);
    }
  }
}
