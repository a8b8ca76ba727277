import { partitionKey } from "./cluster-state.js";

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

export interface LoadBalanceOptions {
  /** Act only when the busiest broker carries more than mean × (1 + this). */
  thresholdRatio: number;
  /** …and more than this many bytes per second above the mean (small clusters' noise is not worth a move). */
  minBytesPerSec: number;
  /** At most this many swaps (two moves each) per round. */
  maxSwaps: number;
  /** Partitions that may not move for load now (moved recently). */
  frozen: ReadonlySet<string>;
}

/**
 * Evens out load (bytes in + out per second) once counts are balanced: swaps the leaders of
 * two partitions of the same topic, a busy one on the busiest broker and a quieter one on a
 * cooler broker. A swap keeps every broker's per-topic and total counts (and so each zone's),
 * so `planLeaders` leaves the result alone. Each swap must lower the busiest broker's load
 * and leave the cooler one below where the busiest was; partitions just moved are frozen, so
 * noisy rates cannot make leaders flap. `leaders` must all be led by eligible brokers.
 */
export function planLoadSwaps(leaders: readonly PartitionLeadership[], brokers: readonly BrokerCandidate[], rateOf: (topicId: string, partition: number) => number, opts: LoadBalanceOptions): LeaderMove[] {
  const eligible = eligibleBrokers(brokers);
  if (eligible.length < 2) return [];
  const led = new Map<number, PartitionLeadership[]>(eligible.map((b) => [b.id, []]));
  for (const p of [...leaders].sort(byKey)) led.get(p.leader)?.push({ ...p });
  const load = new Map<number, number>();
  for (const [id, list] of led) load.set(id, list.reduce((sum, p) => sum + rateOf(p.topicId, p.partition), 0));
  const mean = [...load.values()].reduce((a, b) => a + b, 0) / eligible.length;
  const frozen = new Set(opts.frozen);
  const moves: LeaderMove[] = [];

  type Swap = { a: PartitionLeadership; b: PartitionLeadership; cold: number; after: number };
  /** The swap that leaves the pair's busier side lightest (ties: the coolest partner, then the lowest keys). */
  function bestSwap(hot: number, colds: readonly BrokerCandidate[]): Swap | null {
    const hotLoad = load.get(hot)!;
    let best: Swap | null = null;
    for (const cold of colds) {
      const coldLoad = load.get(cold.id)!;
      for (const a of led.get(hot)!) {
        if (frozen.has(partitionKey(a.topicId, a.partition))) continue;
        const ra = rateOf(a.topicId, a.partition);
        for (const b of led.get(cold.id)!) {
          if (b.topicId !== a.topicId || frozen.has(partitionKey(b.topicId, b.partition))) continue;
          const d = ra - rateOf(b.topicId, b.partition);
          if (d <= 0) continue;
          const after = Math.max(hotLoad - d, coldLoad + d);
          if (after < hotLoad && (!best || after < best.after)) best = { a, b, cold: cold.id, after };
        }
      }
    }
    return best;
  }

  for (let swaps = 0; swaps < opts.maxSwaps; swaps++) {
    // Busiest first; ties by id, so the plan is deterministic.
    const order = [...eligible].sort((a, b) => load.get(b.id)! - load.get(a.id)! || a.id - b.id);
    const hot = order[0]!;
    const hotLoad = load.get(hot.id)!;
    if (hotLoad <= mean * (1 + opts.thresholdRatio) || hotLoad - mean < opts.minBytesPerSec) break;
    const best = bestSwap(hot.id, order.slice(1).reverse());
    // Worth it only if the busiest broker gets meaningfully lighter.
    if (!best || hotLoad - best.after < opts.minBytesPerSec / 4) break;
    const { a, b, cold } = best;
    const d = rateOf(a.topicId, a.partition) - rateOf(b.topicId, b.partition);
    const hotList = led.get(hot.id)!;
    const coldList = led.get(cold)!;
    hotList.splice(hotList.indexOf(a), 1, { ...b, leader: hot.id });
    coldList.splice(coldList.indexOf(b), 1, { ...a, leader: cold });
    load.set(hot.id, hotLoad - d);
    load.set(cold, load.get(cold)! + d);
    frozen.add(partitionKey(a.topicId, a.partition));
    frozen.add(partitionKey(b.topicId, b.partition));
    moves.push({ topicId: a.topicId, partition: a.partition, from: hot.id, to: cold }, { topicId: b.topicId, partition: b.partition, from: cold, to: hot.id });
  }
  return moves;
}
