import fs from "node:fs";
import { describe, expect, it } from "vitest";
import { DOC_PATH, withRenderedApiTable } from "./api-table.js";

describe("docs/compatibility.md", () => {
  it("shows exactly the API versions the broker serves (run `npm run docs` after changing handlers)", () => {
    const doc = fs.readFileSync(DOC_PATH, "utf8");
    expect(doc).toBe(withRenderedApiTable(doc));
  });
});
