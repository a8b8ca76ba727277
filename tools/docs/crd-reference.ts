// Flattens the StreamCluster's OpenAPI schema (src/operator/api/crd.ts) into rows for
// docs/reference/streamcluster.md, so the reference lists exactly what the API server enforces.
type Schema = Record<string, unknown>;

export interface FieldRow {
  path: string;
  type: string;
  default: string;
  validation: string;
  description: string;
}

export interface RuleRow {
  path: string;
  rule: string;
  message: string;
}

const code = (v: unknown) => (v === "" ? '`""`' : `\`${typeof v === "string" ? v : JSON.stringify(v)}\``);
/** Markdown table cells cannot hold a raw pipe or a newline. */
const cell = (text: string) => text.replaceAll("|", "\\|").replaceAll("\n", " ");

function typeOf(s: Schema): string {
  if (s.type === "array") return `array of ${typeOf((s.items ?? {}) as Schema)}`;
  if (s.type === "object" && s.additionalProperties) return "map of string";
  return String(s.type ?? "any");
}

function bound(min: unknown, max: unknown): string {
  if (min !== undefined && max !== undefined) return `${min} … ${max}`;
  if (min !== undefined) return `≥ ${min}`;
  if (max !== undefined) return `≤ ${max}`;
  return "";
}

function validationOf(s: Schema, required: boolean): string {
  const parts: string[] = [];
  if (required) parts.push("required");
  if (Array.isArray(s.enum)) parts.push(`one of ${s.enum.map(code).join(", ")}`);
  const bounds = bound(s.minimum, s.maximum);
  if (bounds) parts.push(bounds);
  const length = bound(s.minLength, s.maxLength);
  if (length) parts.push(`length ${length}`);
  const count = bound(s.minItems, s.maxItems);
  if (count) parts.push(`${count} items`);
  if (s.pattern !== undefined) parts.push(`matches ${code(s.pattern)}`);
  const items = s.items as Schema | undefined;
  const itemLength = items && bound(items.minLength, items.maxLength);
  if (itemLength) parts.push(`each of length ${itemLength}`);
  if (s.format !== undefined) parts.push(String(s.format));
  return parts.length ? cell(parts.join("; ")) : "";
}

/** Every field under `schema`, depth first, in declaration order. */
export function schemaFields(schema: Schema, prefix: string): FieldRow[] {
  const rows: FieldRow[] = [];
  const walk = (s: Schema, path: string) => {
    const required = new Set((s.required as string[] | undefined) ?? []);
    for (const [name, child] of Object.entries((s.properties ?? {}) as Record<string, Schema>)) {
      const childPath = `${path}.${name}`;
      rows.push({
        path: childPath,
        type: typeOf(child),
        default: child.default === undefined ? "" : code(child.default),
        validation: validationOf(child, required.has(name)),
        description: cell(String(child.description ?? "")),
      });
      walk(child, childPath);
      const items = child.items as Schema | undefined;
      if (items?.properties) walk(items, `${childPath}[]`);
    }
  };
  walk(schema, prefix);
  return rows;
}

/** Every CEL rule (`x-kubernetes-validations`) under `schema`, with the object it applies to. */
export function schemaRules(schema: Schema, prefix: string): RuleRow[] {
  const rows: RuleRow[] = [];
  const walk = (s: Schema, path: string) => {
    for (const v of (s["x-kubernetes-validations"] ?? []) as { rule: string; message: string }[]) rows.push({ path, rule: cell(v.rule), message: cell(v.message) });
    for (const [name, child] of Object.entries((s.properties ?? {}) as Record<string, Schema>)) walk(child, `${path}.${name}`);
  };
  walk(schema, prefix);
  return rows;
}
