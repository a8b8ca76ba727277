// Entry point of the broker process: `npm start` or `node dist/broker/main.js`.
import { ConfigError } from "../src/common/config.js";
import { createLogger, quietAwsSdkNodeWarning } from "../src/common/logger.js";
import { loadBrokerConfig } from "./config.js";
import { startBroker } from "./server/runtime.js";

async function main(): Promise<void> {
  let config;
  try {
    config = loadBrokerConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`floe broker: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger("broker", config.logLevel);
  quietAwsSdkNodeWarning(logger);
  let running;
  try {
    running = await startBroker(config, logger);
  } catch (err) {
    logger.fatal({ err }, "broker failed to start");
    process.exit(1);
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    running.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, "unclean shutdown");
        process.exit(1);
      },
    );
  };
  void running.fatal.then((err) => {
    logger.fatal({ err }, "broker cannot continue; exiting so it restarts");
    stopping = true;
    // Exit code 75 (EX_TEMPFAIL): a restart fixes it. Nothing is left to save (the WAL is
    // another broker's now), so the close gets a few seconds, not more.
    const exit = () => process.exit(75);
    setTimeout(exit, 3000).unref();
    running.close().then(exit, exit);
  });
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

void main();
