import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

/**
 * Reads a Dockerfile and replays it without a Docker engine: each stage gets its own folder
 * standing for its root filesystem, COPY copies into it (from the build context or from an
 * earlier stage's folder), RUN runs in the stage's WORKDIR with the stage's ENV. The base
 * image contributes nothing but the `node` on this machine, so the final stage's folder is
 * exactly the layer the Dockerfile adds: what the image ships on top of node:slim.
 *
 * Only what the project's Dockerfile needs is understood; anything else fails loudly rather
 * than being skipped.
 */
export interface Instruction {
  op: string;
  args: string;
  line: number;
}

export interface Stage {
  index: number;
  name: string | null;
  base: string;
  instructions: Instruction[];
}

export interface Dockerfile {
  args: Record<string, string>;
  stages: Stage[];
}

const KNOWN = new Set(["FROM", "ARG", "WORKDIR", "COPY", "RUN", "ENV", "LABEL", "USER", "VOLUME", "EXPOSE", "ENTRYPOINT", "CMD"]);

export function parseDockerfile(text: string): Dockerfile {
  const logical: { text: string; line: number }[] = [];
  let pending: { text: string; line: number } | null = null;
  text.split("\n").forEach((raw, i) => {
    const trimmed = raw.trim();
    // Comments and blank lines end nothing: they may sit inside a continued instruction.
    if (trimmed === "" || trimmed.startsWith("#")) return;
    const continued = trimmed.endsWith("\\");
    const body = continued ? trimmed.slice(0, -1).trim() : trimmed;
    pending = pending ? { text: `${pending.text} ${body}`, line: pending.line } : { text: body, line: i + 1 };
    if (!continued) {
      logical.push(pending);
      pending = null;
    }
  });
  if (pending) throw new Error("Dockerfile ends inside a continued line");

  const out: Dockerfile = { args: {}, stages: [] };
  for (const { text: l, line } of logical) {
    const m = /^(\w+)\s+(.*)$/.exec(l);
    if (!m) throw new Error(`Dockerfile line ${line}: cannot read "${l}"`);
    const op = m[1]!.toUpperCase();
    const args = m[2]!;
    if (!KNOWN.has(op)) throw new Error(`Dockerfile line ${line}: ${op} is not replayed by this test; teach test/packaging/dockerfile.ts`);
    if (op === "FROM") {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      if (!f) throw new Error(`Dockerfile line ${line}: cannot read FROM ${args}`);
      out.stages.push({ index: out.stages.length, name: f[2] ?? null, base: substitute(f[1]!, out.args), instructions: [] });
    } else if (out.stages.length === 0) {
      if (op !== "ARG") throw new Error(`Dockerfile line ${line}: only ARG may come before the first FROM`);
      const [k, v] = args.split("=", 2);
      out.args[k!] = v ?? "";
    } else {
      out.stages.at(-1)!.instructions.push({ op, args, line });
    }
  }
  return out;
}

export function substitute(s: string, vars: Record<string, string>): string {
  return s.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a: string | undefined, b: string | undefined) => {
    const k = (a ?? b)!;
    if (!(k in vars)) throw new Error(`Dockerfile uses $${k}, which no ARG or ENV defines`);
    return vars[k]!;
  });
}

/** `K=V K2="v 2"` as in ENV and LABEL. */
export function keyValues(s: string, vars: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /([\w.-]+)=("(?:[^"\\]|\\.)*"|\S+)/g;
  let m: RegExpExecArray | null;
  let consumed = "";
  while ((m = re.exec(s))) {
    const raw = m[2]!;
    out[m[1]!] = substitute(raw.startsWith('"') ? raw.slice(1, -1) : raw, vars);
    consumed += m[0];
  }
  if (consumed.replace(/\s/g, "").length !== s.replace(/\s/g, "").length) throw new Error(`cannot read key=value pairs in "${s}"`);
  return out;
}

export interface ReplayedStage {
  stage: Stage;
  root: string;
  workdir: string;
  env: Record<string, string>;
  labels: Record<string, string>;
  user: string | null;
  entrypoint: string[];
  cmd: string[];
  volumes: string[];
  expose: number[];
  runs: string[];
  copies: { from: string | null; chown: string | null; sources: string[]; dest: string }[];
}

/** Replays every stage in order under `outDir/<stage>`; returns them, the last being the image. */
export function replayDockerfile(df: Dockerfile, context: string, outDir: string, log: (line: string) => void = () => {}): ReplayedStage[] {
  const done: ReplayedStage[] = [];
  const byName = new Map<string, ReplayedStage>();
  for (const stage of df.stages) {
    const root = path.join(outDir, stage.name ?? `stage-${stage.index}`);
    fs.mkdirSync(root, { recursive: true });
    const r: ReplayedStage = { stage, root, workdir: "/", env: {}, labels: {}, user: null, entrypoint: [], cmd: [], volumes: [], expose: [], runs: [], copies: [] };
    const vars = (): Record<string, string> => ({ ...df.args, ...r.env });
    const inRoot = (p: string) => path.join(root, path.posix.isAbsolute(p) ? p : path.posix.join(r.workdir, p));
    for (const ins of stage.instructions) {
      const where = `Dockerfile line ${ins.line} (${ins.op})`;
      switch (ins.op) {
        case "ARG": {
          const [k, v] = ins.args.split("=", 2);
          // A stage-local ARG redeclares a global one (taking its value) or brings its default.
          df.args[k!] = v ?? df.args[k!] ?? "";
          break;
        }
        case "WORKDIR":
          r.workdir = path.posix.resolve(r.workdir, ins.args);
          fs.mkdirSync(inRoot("."), { recursive: true });
          break;
        case "ENV":
          Object.assign(r.env, keyValues(ins.args, vars()));
          break;
        case "LABEL":
          Object.assign(r.labels, keyValues(ins.args, vars()));
          break;
        case "USER":
          r.user = ins.args.trim();
          break;
        case "ENTRYPOINT":
          r.entrypoint = jsonArray(ins.args, where);
          break;
        case "CMD":
          r.cmd = jsonArray(ins.args, where);
          break;
        case "VOLUME":
          r.volumes = jsonArray(ins.args, where);
          break;
        case "EXPOSE":
          r.expose = ins.args.split(/\s+/).map(Number);
          break;
        case "COPY": {
          const words = ins.args.split(/\s+/);
          let from: string | null = null;
          let chown: string | null = null;
          while (words[0]?.startsWith("--")) {
            const flag = words.shift()!;
            const [k, v] = flag.slice(2).split("=", 2);
            if (k === "from") from = v!;
            else if (k === "chown") chown = v!;
            else throw new Error(`${where}: COPY --${k} is not replayed`);
          }
          const dest = words.pop()!;
          const sources = words;
          const srcRoot = from === null ? context : (byName.get(from) ?? done[Number(from)])?.root;
          if (!srcRoot) throw new Error(`${where}: no earlier stage ${from}`);
          const toDir = dest.endsWith("/") || sources.length > 1;
          for (const src of sources) {
            // COPY --from paths start at the other stage's root, as in Docker.
            const srcPath = path.join(srcRoot, src);
            if (!fs.existsSync(srcPath)) throw new Error(`${where}: ${src} does not exist ${from === null ? "in the build context" : `in stage ${from}`}`);
            const target = toDir ? path.join(inRoot(dest), path.basename(src)) : inRoot(dest);
            fs.mkdirSync(path.dirname(target), { recursive: true });
            fs.cpSync(srcPath, target, { recursive: true, verbatimSymlinks: true });
            if (chown && process.getuid?.() === 0) {
              const [u, g] = chown.split(":").map(Number);
              chownTree(target, u!, g ?? u!);
            }
          }
          r.copies.push({ from, chown, sources, dest });
          break;
        }
        case "RUN": {
          // Absolute paths would escape the stage folder onto this machine: the Dockerfile keeps RUN relative.
          if (/(^|[\s=;&|])\/(?!dev\/null)/.test(ins.args)) throw new Error(`${where}: RUN with an absolute path cannot be replayed safely: ${ins.args}`);
          log(`[${stage.name ?? stage.index}] RUN ${ins.args}`);
          execFileSync("bash", ["-euo", "pipefail", "-c", ins.args], {
            cwd: inRoot("."),
            env: { ...process.env, ...r.env },
            stdio: ["ignore", "pipe", "pipe"],
            timeout: 600_000,
          });
          r.runs.push(ins.args);
          break;
        }
        default:
          throw new Error(`${where}: not replayed`);
      }
    }
    done.push(r);
    if (stage.name) byName.set(stage.name, r);
  }
  return done;
}

function jsonArray(s: string, where: string): string[] {
  const v = JSON.parse(s) as unknown;
  if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) throw new Error(`${where}: expected the JSON (exec) form, got ${s}`);
  return v as string[];
}

function chownTree(p: string, uid: number, gid: number): void {
  fs.lchownSync(p, uid, gid);
  if (fs.lstatSync(p).isDirectory()) for (const e of fs.readdirSync(p)) chownTree(path.join(p, e), uid, gid);
}

/** Every file under `dir` with its size and modification time, to prove nothing wrote there. */
export function snapshotTree(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else {
        const st = fs.lstatSync(p);
        out.set(path.relative(dir, p), `${st.size}:${st.mtimeMs}`);
      }
    }
  };
  walk(dir);
  return out;
}
