/**
 * Which broker leads which partition: the controller's pure planning step, spec in, moves
 * out. Moving a partition copies no data (its log lives in the object store), but every
 * move still costs clients a metadata refresh and a retried request, so the plan changes
 * as few leaders as balance allows. Balance means both:
 *
 * - per topic: every eligible broker leads floor(P/N) or ceil(P/N) of the topic's P
 *   partitions (topics differ in traffic, so a topic's load must spread too);
 * - overall: the brokers' totals differ by at most one.
 *
 * Topics are planned one after another (by id). A topic's `P mod N` larger shares go to the
 * brokers with the lowest totals so far, which keeps the totals within one; among equals,
 * to those that already lead more of the topic (fewer moves), then to zones that hold the
 * fewest larger shares of the topic (a small topic still spans zones), then the lowest id.
 * Partitions of dead, draining or unknown leaders, and those beyond a broker's share, move
 * to brokers below their share, preferring a zone with the fewest of the topic. The plan
 * is deterministic, and planning again after applying it moves nothing.
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
  const zoneOf = new Map(eligible.map((b) => [b.id, b.zone]));
  const totals = new Map(eligible.map((b) => [b.id, 0]));
  const byTopic = new Map<string, PartitionLeadership[]>();
  for (const p of [...partitions].sort(byKey)) {
    const list = byTopic.get(p.topicId);
    if (list) list.push(p);
    else byTopic.set(p.topicId, [p]);
  }

  const moves: LeaderMove[] = [];
  for (const list of byTopic.values()) {
    const led = new Map<number, PartitionLeadership[]>(eligible.map((b) => [b.id, []]));
    const homeless: PartitionLeadership[] = [];
    for (const p of list) (led.get(p.leader) ?? homeless).push(p);

    // Shares of this topic: the larger ones picked one at a time, by the rules above.
    const base = Math.floor(list.length / eligible.length);
    const share = new Map(eligible.map((b) => [b.id, base]));
    const largerPerZone = new Map<string, number>();
    const candidates = [...eligible];
    for (let k = list.length % eligible.length; k > 0; k--) {
      let best = 0;
      for (let i = 1; i < candidates.length; i++) if (lexLess(extraRank(candidates[i]!), extraRank(candidates[best]!))) best = i;
      const b = candidates.splice(best, 1)[0]!;
      share.set(b.id, base + 1);
      largerPerZone.set(b.zone, (largerPerZone.get(b.zone) ?? 0) + 1);
    }
    function extraRank(b: BrokerCandidate): number[] {
      return [totals.get(b.id)!, -led.get(b.id)!.length, largerPerZone.get(b.zone) ?? 0, b.id];
    }

    // Over its share: the highest partitions move.
    for (const b of eligible) {
      const mine = led.get(b.id)!;
      while (mine.length > share.get(b.id)!) homeless.push(mine.pop()!);
    }
    const perZone = new Map<string, number>();
    for (const [id, mine] of led) perZone.set(zoneOf.get(id)!, (perZone.get(zoneOf.get(id)!) ?? 0) + mine.length);
    for (const p of homeless.sort(byKey)) {
      let best: BrokerCandidate | null = null;
      let bestScore: number[] = [];
      for (const b of eligible) {
        const room = share.get(b.id)! - led.get(b.id)!.length;
        if (room <= 0) continue;
        const score = [perZone.get(b.zone) ?? 0, -room, b.id];
        if (!best || lexLess(score, bestScore)) [best, bestScore] = [b, score];
      }
      // Shares add up to the topic's partition count, so some broker always has room.
      if (!best) throw new Error("leader planning invariant broken: no broker has room");
      led.get(best.id)!.push(p);
      perZone.set(best.zone, (perZone.get(best.zone) ?? 0) + 1);
      if (p.leader !== best.id) moves.push({ topicId: p.topicId, partition: p.partition, from: p.leader, to: best.id });
    }
    for (const [id, mine] of led) totals.set(id, totals.get(id)! + mine.length);
  }
  return moves;
}

function byKey(a: PartitionLeadership, b: PartitionLeadership): number {
  return a.topicId < b.topicId ? -1 : a.topicId > b.topicId ? 1 : a.partition - b.partition;
}


function lexLess(a: number[], b: number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]!;
  return false;
}
