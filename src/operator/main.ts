// Entry point of the operator process: `node dist/src/operator/main.js`.
import { ConfigError } from "../common/config.js";
import { createLogger, quietAwsSdkNodeWarning } from "../common/logger.js";
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
  quietAwsSdkNodeWarning(logger, env);
  const registry = createRegistry("operator");
  let kube;
  try {
    kube = loadKubeConfig(env);
  } catch (err) {
    // Outside a pod with no kubeconfig: say what was looked for, not just ENOENT.
    throw new ConfigError(`no Kubernetes credentials: no in-cluster service account token, and the kubeconfig ${env.KUBECONFIG ?? "~/.kube/config"} could not be read (${(err as Error).message}); set KUBECONFIG`);
  }
  const client = new KubeClient(kube);
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
