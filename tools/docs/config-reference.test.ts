import fs from "node:fs";
import { describe, expect, it } from "vitest";
import { DOC_PATH, withRenderedSettings } from "./config-reference.js";

describe("docs/configuration.md", () => {
  it("lists exactly the broker settings the code reads (run `npm run docs` after changing them)", () => {
    const doc = fs.readFileSync(DOC_PATH, "utf8");
    expect(doc).toBe(withRenderedSettings(doc));
  });
});
