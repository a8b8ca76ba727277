/** Command-line options of the benchmarks (`npm run bench -- --records 1000`). */
const argv = process.argv.slice(2);

/** The command that reproduces this run, for the report. */
export function commandLine(script: string): string {
  return `npm run ${script}${argv.length ? ` -- ${argv.join(" ")}` : ""}`;
}

/** `--name N`: a positive number, or `fallback` when absent. */
export function numberOption(name: string, fallback: number): number {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(argv[i + 1]);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} needs a positive number, got ${argv[i + 1]}`);
  return v;
}

/** `--name text`: the value, or `fallback` when absent. */
export function stringOption(name: string, fallback: string): string {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = argv[i + 1];
  if (!v || v.startsWith("--")) throw new Error(`--${name} needs a value`);
  return v;
}

/** `--name a,b,c`: a comma-separated list, or `fallback` when absent. */
export function listOption(name: string, fallback: string[]): string[] {
  const i = argv.indexOf(`--${name}`);
  return i < 0 ? fallback : (argv[i + 1] ?? "").split(",").filter(Boolean);
}
