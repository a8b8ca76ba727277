import { pino, type Logger } from "pino";

export type { Logger };

/**
 * One logger per component, passed in rather than imported globally, so tests can
 * silence or capture it and every line carries the component's name.
 */
export function createLogger(component: string, level: string = process.env.FLOE_LOG_LEVEL ?? "info"): Logger {
  return pino({ level, base: { component }, timestamp: pino.stdTimeFunctions.isoTime });
}

/** A logger that drops everything: the default for library code constructed without one. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}

/**
 * On Node 20 the AWS SDK prints a plain-text warning to stderr (its releases from 2027 need
 * Node 22), which breaks a one-JSON-object-per-line log. The pinned SDK supports Node 20:
 * switch the warning off and say the same once, at debug level, in JSON. Call before the
 * first SDK client is made.
 */
export function quietAwsSdkNodeWarning(logger: Logger, env: NodeJS.ProcessEnv = process.env): void {
  if (Number(process.versions.node.split(".")[0]) >= 22 || env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED !== undefined) return;
  env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";
  logger.debug({ node: process.version }, "AWS SDK releases after January 2027 require Node 22; this build's SDK supports Node 20");
}
