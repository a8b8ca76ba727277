import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadBrokerConfig, type BrokerConfig } from "../broker/config.js";
import { startBroker, type RunningBroker } from "../broker/server/runtime.js";
import { silentLogger, createLogger } from "../src/common/logger.js";

/**
 * An in-process broker on a free loopback port with its own data folder, for tests that
 * drive it with real clients. `restart()` closes it and opens the same folder again.
 */
export interface TestBroker {
  readonly port: number;
  readonly bootstrap: string;
  readonly dataDir: string;
  readonly running: RunningBroker;
  restart(): Promise<void>;
  close(): Promise<void>;
}

export async function startTestBroker(overrides: Partial<BrokerConfig> = {}): Promise<TestBroker> {
  const dataDir = overrides.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "floe-test-"));
  const logger = process.env.FLOE_TEST_LOGS ? createLogger("broker", "debug") : silentLogger();
  let config = loadBrokerConfig({}, { host: "127.0.0.1", port: 0, httpPort: -1, groupInitialRebalanceDelayMs: 0, uploadIntervalMs: 200, ...overrides, dataDir });
  let running = await startBroker(config, logger);
  // Keep the same port across restarts so clients reconnect to the same address.
  config = { ...config, port: running.port };
  const handle: TestBroker = {
    get port() {
      return running.port;
    },
    get bootstrap() {
      return `127.0.0.1:${running.port}`;
    },
    dataDir,
    get running() {
      return running;
    },
    async restart() {
      await running.close();
      running = await startBroker(config, logger);
    },
    async close() {
      await running.close();
    },
  };
  return handle;
}
