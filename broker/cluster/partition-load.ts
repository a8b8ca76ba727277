import { partitionKey } from "./cluster-state.js";

/**
 * Traffic per partition, so the controller can balance load (bytes in and out) and not only
 * partition counts. Each leader meters what it appends and serves (`PartitionTraffic`) and
 * sends the rates with a heartbeat every report interval; the controller keeps the latest
 * rate of every partition (`PartitionLoads`) and `planLoadSwaps` in `assignment.ts` uses it.
 *
 * Rates are soft state: a new controller learns them again within one report interval, and
 * until then it balances counts only.
 */
export interface PartitionRate {
  topicId: string;
  partition: number;
  /** Record-batch bytes appended per second (Produce, offset commits, markers). */
  bytesInPerSec: number;
  /** Record-batch bytes returned by Fetch per second. */
  bytesOutPerSec: number;
}

export interface LoadReport {
  /** How long the rates were measured over. */
  windowMs: number;
  /** Partitions with any traffic in the window; a led partition left out had none. */
  partitions: PartitionRate[];
}


/** The leader's meter: byte counts since the last report. */
export class PartitionTraffic {
  private counts = new Map<string, { topicId: string; partition: number; bytesIn: number; bytesOut: number }>();
  private windowStart: number;

  constructor(
    private readonly reportIntervalMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.windowStart = now();
  }

  add(topicId: string, partition: number, bytesIn: number, bytesOut: number): void {
    const k = partitionKey(topicId, partition);
    const c = this.counts.get(k);
    if (c) {
      c.bytesIn += bytesIn;
      c.bytesOut += bytesOut;
    } else {
      this.counts.set(k, { topicId, partition, bytesIn, bytesOut });
    }
  }

  /** The rates of the window that just ended, once per report interval (null before then); starts the next window. */
  reportIfDue(): LoadReport | null {
    const now = this.now();
    const windowMs = now - this.windowStart;
    if (windowMs < this.reportIntervalMs) return null;
    const perSec = 1000 / windowMs;
    const partitions = [...this.counts.values()].map((c) => ({ topicId: c.topicId, partition: c.partition, bytesInPerSec: Math.round(c.bytesIn * perSec), bytesOutPerSec: Math.round(c.bytesOut * perSec) }));
    this.counts = new Map();
    this.windowStart = now;
    return { windowMs, partitions };
  }
}

/** What a heartbeat's `load` must look like; null when it is well-formed. */
export function loadReportProblem(r: unknown): string | null {
  const report = r as Partial<LoadReport> | null;
  if (typeof report !== "object" || report === null) return "load must be an object";
  if (!Number.isFinite(report.windowMs) || (report.windowMs as number) <= 0) return "load.windowMs must be a positive number";
  if (!Array.isArray(report.partitions)) return "load.partitions must be an array";
  for (const p of report.partitions as Partial<PartitionRate>[]) {
    if (typeof p?.topicId !== "string" || !Number.isInteger(p.partition) || (p.partition as number) < 0) return "each load entry needs a topicId string and a partition index";
    if (!(Number(p.bytesInPerSec) >= 0) || !(Number(p.bytesOutPerSec) >= 0)) return "load rates must be non-negative numbers";
  }
  return null;
}

/**
 * The controller's view: the last rate each partition's leader reported. A report counts
 * only for partitions its sender leads now and led for the whole window (a partition that
 * just moved keeps the rate its previous leader measured, so a fresh leader's partial window
 * does not look like a cold partition).
 */
export class PartitionLoads {
  private readonly rates = new Map<string, number>();

  constructor(
    /** The leader of a partition now, and since when (ms) this controller knows it. */
    private readonly leaderSince: (topicId: string, partition: number) => { leader: number; sinceMs: number } | null,
    private readonly now: () => number,
  ) {}

  observe(brokerId: number, report: LoadReport): void {
    const windowStart = this.now() - report.windowMs;
    const ledAllWindow = (topicId: string, partition: number) => {
      const lead = this.leaderSince(topicId, partition);
      return lead !== null && lead.leader === brokerId && lead.sinceMs <= windowStart;
    };
    const reported = new Set<string>();
    for (const p of report.partitions) {
      const k = partitionKey(p.topicId, p.partition);
      reported.add(k);
      if (ledAllWindow(p.topicId, p.partition)) this.rates.set(k, p.bytesInPerSec + p.bytesOutPerSec);
    }
    // Known partitions it led all window but left out had no traffic.
    for (const k of this.rates.keys()) {
      if (reported.has(k)) continue;
      const [topicId, partition] = splitKey(k);
      if (ledAllWindow(topicId, partition)) this.rates.set(k, 0);
    }
  }

  /** Bytes per second of a partition (in + out); 0 when unknown. */
  rateOf(topicId: string, partition: number): number {
    return this.rates.get(partitionKey(topicId, partition)) ?? 0;
  }

  /** Whether any rate was reported yet (without any, only counts are balanced). */
  get known(): boolean {
    return this.rates.size > 0;
  }
}

function splitKey(k: string): [string, number] {
  const at = k.lastIndexOf(":");
  return [k.slice(0, at), Number(k.slice(at + 1))];
}
