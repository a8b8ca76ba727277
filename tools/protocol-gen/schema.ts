// Reading Kafka's message schemas (JSON with whole-line // comments) into typed records.
import fs from "node:fs";
import path from "node:path";

export interface VersionRange {
  min: number;
  max: number; // Infinity for "N+"
}

export interface FieldSchema {
  name: string;
  type: string;
  versions: string;
  nullableVersions?: string;
  taggedVersions?: string;
  tag?: number;
  default?: string | number | boolean;
  flexibleVersions?: string;
  fields?: FieldSchema[];
  about?: string;
}

export interface StructSchema {
  name: string;
  versions: string;
  fields: FieldSchema[];
}

export interface MessageSchema {
  apiKey?: number;
  type: "request" | "response" | "header" | "data";
  listeners?: string[];
  name: string;
  validVersions: string;
  flexibleVersions: string;
  latestVersionUnstable?: boolean;
  fields: FieldSchema[];
  commonStructs?: StructSchema[];
}

/** "0-11" → 0..11, "9+" → 9..∞, "3" → 3..3, "none" → null. */
export function parseVersions(spec: string | undefined): VersionRange | null {
  if (spec === undefined || spec === "none" || spec === "") return null;
  const plus = /^(\d+)\+$/.exec(spec);
  if (plus) return { min: Number(plus[1]), max: Infinity };
  const range = /^(\d+)-(\d+)$/.exec(spec);
  if (range) return { min: Number(range[1]), max: Number(range[2]) };
  if (/^\d+$/.test(spec)) return { min: Number(spec), max: Number(spec) };
  throw new Error(`cannot parse version spec ${JSON.stringify(spec)}`);
}

export function readSchema(file: string): MessageSchema {
  const text = fs
    .readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => !line.trimStart().startsWith("//"))
    .join("\n");
  return JSON.parse(text) as MessageSchema;
}

export function readAllSchemas(dir: string): MessageSchema[] {
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map((f) => readSchema(path.join(dir, f)));
}
