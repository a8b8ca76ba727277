import type { FastifyInstance } from "fastify";
import type { BrokerRegistration, HeartbeatAnswer } from "./membership.js";
import type { AdvertisedListener } from "../server/broker.js";
import { loadReportProblem, type LoadReport } from "./partition-load.js";
import { InternalCallError, postInternal, STATUS_NOT_OWNER } from "./internal-http.js";

/**
 * Broker → controller calls (registration, heartbeats, drains) as JSON over the brokers'
 * internal HTTP port (`internal-http.ts`). The metadata log in the object store stays the
 * source of truth; these calls only carry liveness and say how far the log has gone, so a
 * broker that is behind catches up from the store.
 *
 * The controller's address is found in the lease object: its holder is `<nodeId>@<url>`.
 */
export interface ControllerApi {
  register(reg: BrokerRegistration): Promise<{ brokerEpoch: number; metadataIndex: string }>;
  /** `load`: the partitions' traffic, sent once per report interval (`partition-load.ts`). */
  heartbeat(id: number, brokerEpoch: number, load?: LoadReport): Promise<HeartbeatAnswer & { metadataIndex: string }>;
  drain(id: number): Promise<{ found: boolean; partitionsLeft: number }>;
}

/** The answer of a broker that is not (or no longer) the controller. */
export class NotControllerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NotControllerError";
  }
}

export const holderOf = (nodeId: number, url: string) => `${nodeId}@${url}`;

export function parseHolder(holder: string): { nodeId: number; url: string } | null {
  const at = holder.indexOf("@");
  const nodeId = Number(holder.slice(0, at));
  if (at <= 0 || !Number.isInteger(nodeId)) return null;
  return { nodeId, url: holder.slice(at + 1) };
}

const isInt = (v: unknown): v is number => Number.isInteger(v);
/** A bound on what one registration may carry; Kafka clusters rarely have more than three or four. */
const MAX_LISTENERS = 16;

function registrationProblem(b: Partial<BrokerRegistration>): string | null {
  if (!isInt(b.id) || b.id < 0) return "id must be a non-negative integer";
  if (typeof b.incarnationId !== "string" || !b.incarnationId) return "incarnationId must be a non-empty string";
  if (typeof b.zone !== "string") return "zone must be a string";
  if (!Array.isArray(b.listeners) || b.listeners.length === 0 || b.listeners.length > MAX_LISTENERS) return `listeners must be a list of 1..${MAX_LISTENERS}`;
  const names = new Set<string>();
  for (const l of b.listeners as Partial<AdvertisedListener>[]) {
    if (typeof l.name !== "string" || !l.name) return "listener name must be a non-empty string";
    if (names.has(l.name)) return `listener ${l.name} is given twice`;
    names.add(l.name);
    if (typeof l.host !== "string" || !l.host) return `listener ${l.name}: host must be a non-empty string`;
    if (!isInt(l.port) || l.port < 1 || l.port > 65535) return `listener ${l.name}: port must be 1..65535`;
  }
  if (b.walType !== "file" && b.walType !== "nfs" && b.walType !== "s3") return "walType must be file, nfs or s3";
  if (b.internalUrl !== undefined && (typeof b.internalUrl !== "string" || !/^https?:\/\//.test(b.internalUrl))) return "internalUrl must be an http(s) URL";
  return null;
}

/**
 * Serves the controller calls. `current()` is the live controller on this broker, or null
 * while another broker holds the lease (the caller then looks the holder up again).
 */
export function controllerRoutes(app: FastifyInstance, current: () => ControllerApi | null): void {
  const withController = async <T>(reply: { code(n: number): unknown }, run: (c: ControllerApi) => Promise<T>): Promise<T | { error: string }> => {
    const c = current();
    if (!c) {
      reply.code(STATUS_NOT_OWNER);
      return { error: "not the controller" };
    }
    try {
      return await run(c);
    } catch (err) {
      reply.code(503);
      return { error: `controller could not complete the call: ${(err as Error).message}` };
    }
  };
  app.post("/internal/v1/brokers/register", async (req, reply) => {
    const problem = registrationProblem((req.body ?? {}) as Partial<BrokerRegistration>);
    if (problem) {
      reply.code(400);
      return { error: `invalid registration: ${problem}` };
    }
    return withController(reply, (c) => c.register(req.body as BrokerRegistration));
  });
  app.post("/internal/v1/brokers/heartbeat", async (req, reply) => {
    const { id, brokerEpoch, load } = (req.body ?? {}) as { id?: unknown; brokerEpoch?: unknown; load?: unknown };
    const problem = !isInt(id) || !isInt(brokerEpoch) ? "id and brokerEpoch must be integers" : load === undefined ? null : loadReportProblem(load);
    if (problem) {
      reply.code(400);
      return { error: `invalid heartbeat: ${problem}` };
    }
    return withController(reply, (c) => c.heartbeat(id as number, brokerEpoch as number, load as LoadReport | undefined));
  });
  app.post("/internal/v1/brokers/:id/drain", async (req, reply) => {
    const id = Number((req.params as { id: string }).id);
    if (!isInt(id)) {
      reply.code(400);
      return { error: "invalid broker id" };
    }
    return withController(reply, (c) => c.drain(id));
  });
}

/** The broker's side of the calls, with a per-call time bound. */
export class HttpControllerClient implements ControllerApi {
  constructor(
    readonly baseUrl: string,
    private readonly timeoutMs = 2000,
  ) {}

  register(reg: BrokerRegistration) {
    return this.post<{ brokerEpoch: number; metadataIndex: string }>("/internal/v1/brokers/register", reg);
  }

  heartbeat(id: number, brokerEpoch: number, load?: LoadReport) {
    return this.post<HeartbeatAnswer & { metadataIndex: string }>("/internal/v1/brokers/heartbeat", { id, brokerEpoch, ...(load ? { load } : {}) });
  }

  drain(id: number) {
    return this.post<{ found: boolean; partitionsLeft: number }>(`/internal/v1/brokers/${id}/drain`, {});
  }

  private async post<T>(path: string, body: unknown): Promise<T> {
    try {
      return await postInternal<T>(this.baseUrl, path, body, this.timeoutMs);
    } catch (err) {
      if (err instanceof InternalCallError && err.status === STATUS_NOT_OWNER) throw new NotControllerError(`${this.baseUrl} is not the controller`);
      throw err;
    }
  }
}

// ---- controller → broker: partition releases before a move ----

export interface PartitionsCall {
  generation: number;
  partitions: { topicId: string; partition: number }[];
}

function partitionsCallProblem(b: Partial<PartitionsCall>): string | null {
  if (!isInt(b.generation) || b.generation < 1) return "generation must be a positive integer";
  if (!Array.isArray(b.partitions)) return "partitions must be an array";
  for (const p of b.partitions as unknown[]) {
    const tp = p as Partial<{ topicId: unknown; partition: unknown }>;
    if (typeof tp?.topicId !== "string" || !isInt(tp.partition) || tp.partition < 0) return "each partition needs a topicId string and a partition index";
  }
  return null;
}

/**
 * The broker's side of a move: `release` stops writes to the partitions and resolves once
 * everything acknowledged for them is in committed objects; `resume` undoes a release the
 * controller will not follow with a move.
 */
export function partitionRoutes(app: FastifyInstance, handlers: { release(call: PartitionsCall): Promise<{ released: number }>; resume(call: PartitionsCall): { resumed: number } }): void {
  const parse = (body: unknown, reply: { code(n: number): unknown }): PartitionsCall | { error: string } => {
    const problem = partitionsCallProblem((body ?? {}) as Partial<PartitionsCall>);
    if (!problem) return body as PartitionsCall;
    reply.code(400);
    return { error: `invalid partitions call: ${problem}` };
  };
  app.post("/internal/v1/partitions/release", async (req, reply) => {
    const call = parse(req.body, reply);
    if ("error" in call) return call;
    try {
      return await handlers.release(call);
    } catch (err) {
      reply.code(503);
      return { error: `could not release the partitions: ${(err as Error).message}` };
    }
  });
  app.post("/internal/v1/partitions/resume", async (req, reply) => {
    const call = parse(req.body, reply);
    if ("error" in call) return call;
    return handlers.resume(call);
  });
}

/** The controller's side: asks the broker at `baseUrl` (its internal URL). */
export function callPartitions(baseUrl: string, action: "release" | "resume", call: PartitionsCall, timeoutMs: number): Promise<{ released?: number; resumed?: number }> {
  return postInternal(baseUrl, `/internal/v1/partitions/${action}`, call, timeoutMs);
}
