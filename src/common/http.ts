import Fastify, { type FastifyInstance } from "fastify";
import type { Registry } from "prom-client";
import type { Logger } from "pino";

export interface OpsServerOptions {
  host: string;
  port: number;
  registry: Registry;
  /** Liveness: the process is not wedged. */
  healthy?: () => boolean;
  /** Readiness: the component can serve traffic now (e.g. storage recovered). */
  ready: () => boolean;
  logger: Logger;
  /** Extra routes (e.g. the broker's admin endpoints) registered before listening. */
  routes?: (app: FastifyInstance) => void;
}

/** `/metrics`, `/healthz` and `/readyz`, the same for the broker and the operator. */
export async function startOpsServer(opts: OpsServerOptions): Promise<{ app: FastifyInstance; port: number; close(): Promise<void> }> {
  const app = Fastify({ logger: false });
  app.get("/metrics", async (_req, reply) => {
    reply.header("content-type", opts.registry.contentType);
    return opts.registry.metrics();
  });
  app.get("/healthz", async (_req, reply) => {
    const ok = opts.healthy ? opts.healthy() : true;
    reply.code(ok ? 200 : 503);
    return { status: ok ? "ok" : "unhealthy" };
  });
  app.get("/readyz", async (_req, reply) => {
    const ok = opts.ready();
    reply.code(ok ? 200 : 503);
    return { status: ok ? "ready" : "not ready" };
  });
  opts.routes?.(app);
  await app.listen({ host: opts.host, port: opts.port });
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : opts.port;
  opts.logger.info({ port }, "ops http server listening");
  return { app, port, close: () => app.close() };
}
