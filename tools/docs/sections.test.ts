import fs from "node:fs";
import { describe, expect, it } from "vitest";
import { docPath, SECTIONS, withSection } from "./sections.js";

describe("generated doc sections", () => {
  it.each(SECTIONS.map((s) => [`docs/${s.file}: ${s.name}`, s] as const))("%s matches the code (run `npm run docs`)", (_label, section) => {
    const text = fs.readFileSync(docPath(section), "utf8");
    expect(text).toBe(withSection(text, section));
  });
});
