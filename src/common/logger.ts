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
