// Entry point of the operator process: `node dist/src/operator/main.js`.
import { ConfigError } from "../common/config.js";
import { createLogger } from "../common/logger.js";
import { createRegistry } from "../common/metrics.js";
import { startOpsServer } from "../common/http.js";
import { KubeClient, loadKubeConfig } from "./kube/client.js";
import { Operator } from "./operator.js";
import { awsClientFactory } from "./aws/clients.js";

async function main(): Promise<void> {
  const env = process.env;
  const logger = createLogger("operator", env.FLOE_LOG_LEVEL ?? "info");
  const httpPort = Number(env.FLOE_OPERATOR_HTTP_PORT ?? 8080);
  if (!Number.isInteger(httpPort)) throw new ConfigError(`FLOE_OPERATOR_HTTP_PORT must be an integer, got ${env.FLOE_OPERATOR_HTTP_PORT}`);
  // The AWS SDK would print a plain-text stderr warning (its releases from 2027 need Node 22),
  // breaking the one-JSON-object-per-line log; the pinned SDK supports Node 20. Say it in JSON.
  if (Number(process.versions.node.split(".")[0]) < 22 && env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED === undefined) {
    env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";
    logger.info({ node: process.version }, "AWS SDK releases after January 2027 require Node 22; this build's SDK supports Node 20");
  }
  const registry = createRegistry("operator");
  const client = new KubeClient(loadKubeConfig(env));
  const operator = new Operator(client, logger, registry, {
    leaseNamespace: env.FLOE_OPERATOR_NAMESPACE ?? env.POD_NAMESPACE ?? "floe-system",
    watchNamespace: env.FLOE_WATCH_NAMESPACE || undefined,
    identity: env.POD_NAME,
    // One endpoint for S3 and EC2 calls: an emulator in tests, or an S3-compatible store's
    // default when a StreamCluster names none. Unset: AWS.
    aws: awsClientFactory({ endpointOverride: env.FLOE_AWS_ENDPOINT_URL || undefined }),
  }, () => process.exit(0));
  const ops = await startOpsServer({ host: "0.0.0.0", port: httpPort, registry, ready: () => operator.ready, logger });
  operator.start();
  const stop = async () => {
    await operator.stop();
    await ops.close();
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop());
  process.on("SIGINT", () => void stop());
}

main().catch((err: unknown) => {
  process.stderr.write(`floe operator: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(err instanceof ConfigError ? 2 : 1);
});
