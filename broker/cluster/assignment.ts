/**
 * Which broker leads which partition: the controller's pure planning step, spec in, moves
 * out. Moving a partition copies no data (its log lives in the object store), but every
 * move still costs clients a metadata refresh and a retried request, so the plan changes
 * as few leaders as balance allows:
 *
 * - a partition whose leader is dead, draining or unknown always moves;
 * - otherwise a partition moves only off a broker that leads more than its share;
 * - shares differ by at most one partition between eligible brokers (and, where there is a
 *   choice, the brokers that already lead more keep the larger shares);
 * - a partition that must move goes to the broker furthest below its share, preferring
 *   one that leads the fewest partitions of the same topic, then a zone that holds the
 *   fewest of that topic, then the lowest id, so the plan is deterministic.
 */
export interface BrokerCandidate {
  id: number;
  zone: string;
  /** Registered and heartbeating. */
  alive: boolean;
  /** Asked to give up its partitions (scale-in, rolling restart). */
  draining: boolean;
}

export interface PartitionLeadership {
  topicId: string;
  partition: number;
  /** Current leader id, or -1 when none leads. */
  leader: number;
}

export interface LeaderMove {
  topicId: string;
  partition: number;
  from: number;
  to: number;
}

export function eligibleBrokers(brokers: readonly BrokerCandidate[]): BrokerCandidate[] {
  return brokers.filter((b) => b.alive && !b.draining).sort((a, b) => a.id - b.id);
}

export function planLeaders(partitions: readonly PartitionLeadership[], brokers: readonly BrokerCandidate[]): LeaderMove[] {
  const eligible = eligibleBrokers(brokers);
  if (eligible.length === 0 || partitions.length === 0) return [];
  const ids = new Set(eligible.map((b) => b.id));
  const zoneOf = new Map(eligible.map((b) => [b.id, b.zone]));

  const led = new Map<number, PartitionLeadership[]>(eligible.map((b) => [b.id, []]));
  const homeless: PartitionLeadership[] = [];
  for (const p of [...partitions].sort(byKey)) {
    if (ids.has(p.leader)) led.get(p.leader)!.push(p);
    else homeless.push(p);
  }

  // Shares: floor(P/N) each, one more for the `P mod N` brokers that already lead the most;
  // among equally loaded brokers, zones take turns, so a small topic still spans zones.
  const base = Math.floor(partitions.length / eligible.length);
  const extra = partitions.length % eligible.length;
  const rankInZone = new Map<number, number>();
  const perZone = new Map<string, number>();
  for (const b of eligible) {
    rankInZone.set(b.id, perZone.get(b.zone) ?? 0);
    perZone.set(b.zone, (perZone.get(b.zone) ?? 0) + 1);
  }
  const byLoad = [...eligible].sort((a, b) => led.get(b.id)!.length - led.get(a.id)!.length || rankInZone.get(a.id)! - rankInZone.get(b.id)! || a.id - b.id);
  const share = new Map(byLoad.map((b, i) => [b.id, base + (i < extra ? 1 : 0)]));

  // Brokers over their share give up the partitions of the topics they hold most of first.
  for (const b of eligible) {
    const mine = led.get(b.id)!;
    while (mine.length > share.get(b.id)!) {
      const perTopic = countBy(mine, (p) => p.topicId);
      let pick = mine.length - 1;
      for (let i = mine.length - 1; i >= 0; i--) if (perTopic.get(mine[i]!.topicId)! > perTopic.get(mine[pick]!.topicId)!) pick = i;
      homeless.push(mine.splice(pick, 1)[0]!);
    }
  }

  // Per-topic counts by broker and by zone, kept up to date as partitions are placed.
  const topicByBroker = new Map<string, number>();
  const topicByZone = new Map<string, number>();
  const bump = (p: PartitionLeadership, broker: number) => {
    const kb = `${p.topicId}\u0000${broker}`;
    const kz = `${p.topicId}\u0000${zoneOf.get(broker)}`;
    topicByBroker.set(kb, (topicByBroker.get(kb) ?? 0) + 1);
    topicByZone.set(kz, (topicByZone.get(kz) ?? 0) + 1);
  };
  for (const [broker, mine] of led) for (const p of mine) bump(p, broker);

  const moves: LeaderMove[] = [];
  for (const p of homeless.sort(byKey)) {
    let best: BrokerCandidate | null = null;
    let bestScore: number[] = [];
    for (const b of eligible) {
      const room = share.get(b.id)! - led.get(b.id)!.length;
      if (room <= 0) continue;
      const score = [-room, topicByBroker.get(`${p.topicId}\u0000${b.id}`) ?? 0, topicByZone.get(`${p.topicId}\u0000${b.zone}`) ?? 0, b.id];
      if (!best || lexLess(score, bestScore)) [best, bestScore] = [b, score];
    }
    // Shares add up to the partition count, so some broker always has room.
    if (!best) throw new Error("leader planning invariant broken: no broker has room");
    led.get(best.id)!.push(p);
    bump(p, best.id);
    if (p.leader !== best.id) moves.push({ topicId: p.topicId, partition: p.partition, from: p.leader, to: best.id });
  }
  return moves;
}

function byKey(a: PartitionLeadership, b: PartitionLeadership): number {
  return a.topicId < b.topicId ? -1 : a.topicId > b.topicId ? 1 : a.partition - b.partition;
}

function countBy<T>(items: readonly T[], key: (t: T) => string): Map<string, number> {
  const m = new Map<string, number>();
  for (const t of items) m.set(key(t), (m.get(key(t)) ?? 0) + 1);
  return m;
}

function lexLess(a: number[], b: number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]!;
  return false;
}
