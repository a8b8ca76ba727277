import fs from "node:fs/promises";
import type { Logger } from "pino";
import { ConfigError } from "../../src/common/config.js";
import type { Controller } from "../cluster/controller.js";
import { credentialFromPassword, passwordMatches, SCRAM_MECHANISMS } from "./scram.js";

/** `user:password` per line; blank lines and `#` comments skipped. The password may contain ':'. */
export function parseUsersFile(text: string, file: string): { user: string; password: string }[] {
  const out: { user: string; password: string }[] = [];
  const seen = new Set<string>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith("#")) return;
    const at = line.indexOf(":");
    // Never echo the line: it holds a password.
    if (at <= 0 || at === line.length - 1) throw new ConfigError(`${file}:${i + 1}: expected user:password`);
    const user = line.slice(0, at);
    if (seen.has(user)) throw new ConfigError(`${file}:${i + 1}: user ${JSON.stringify(user)} is listed twice`);
    seen.add(user);
    out.push({ user, password: line.slice(at + 1) });
  });
  return out;
}

/**
 * Gives every user in FLOE_SASL_USERS_FILE salted SCRAM credentials for both mechanisms,
 * unless the stored ones already match (so a restart writes nothing, and changing a password
 * in the file, e.g. a rotated Secret, takes effect at the next start).
 */
export async function bootstrapUsers(controller: Controller, file: string, iterations: number, logger: Logger): Promise<number> {
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (err) {
    throw new ConfigError(`FLOE_SASL_USERS_FILE: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let written = 0;
  for (const { user, password } of parseUsersFile(text, file)) {
    for (const mechanism of SCRAM_MECHANISMS) {
      const stored = controller.scram.get(user, mechanism);
      if (stored && passwordMatches(stored, password)) continue;
      await controller.upsertScramCredential(user, credentialFromPassword(mechanism, password, iterations));
      written++;
    }
  }
  if (written) logger.info({ file, credentials: written }, "SCRAM credentials from the users file stored in the metadata log");
  return written;
}
