import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["{src,broker,tools,bench,test}/**/*.test.ts"],
    exclude: ["**/node_modules/**", "dist/**"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores: integration tests start brokers and external clients, so keep parallelism modest.
    maxWorkers: 2,
  },
});
