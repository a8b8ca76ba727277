import type { ScramCredential, ScramMechanism } from "./scram.js";
import { SCRAM_MECHANISMS } from "./scram.js";

/**
 * SCRAM credentials as metadata records. Only the salt, the iteration count, StoredKey and
 * ServerKey are written (RFC 5802 section 5.1), never a password or a salted password, so
 * the metadata log in the bucket cannot be used to log in.
 */
export type ScramRecord =
  | { type: "scram-credential-upserted"; user: string; mechanism: ScramMechanism; iterations: number; salt: string; storedKey: string; serverKey: string }
  | { type: "scram-credential-deleted"; user: string; mechanism: ScramMechanism };


export function upsertRecord(user: string, cred: ScramCredential): ScramRecord {
  return {
    type: "scram-credential-upserted",
    user,
    mechanism: cred.mechanism,
    iterations: cred.iterations,
    salt: cred.salt.toString("base64"),
    storedKey: cred.storedKey.toString("base64"),
    serverKey: cred.serverKey.toString("base64"),
  };
}

/** The users' credentials, rebuilt from the records in log order (replay and live alike). */
export class ScramCredentialStore {
  private readonly byUser = new Map<string, Map<ScramMechanism, ScramCredential>>();

  apply(record: ScramRecord): void {
    if (!SCRAM_MECHANISMS.includes(record.mechanism)) return; // a record from a newer broker: ignore, do not crash replay
    if (record.type === "scram-credential-upserted") {
      let creds = this.byUser.get(record.user);
      if (!creds) this.byUser.set(record.user, (creds = new Map()));
      creds.set(record.mechanism, {
        mechanism: record.mechanism,
        iterations: record.iterations,
        salt: Buffer.from(record.salt, "base64"),
        storedKey: Buffer.from(record.storedKey, "base64"),
        serverKey: Buffer.from(record.serverKey, "base64"),
      });
    } else {
      const creds = this.byUser.get(record.user);
      creds?.delete(record.mechanism);
      if (creds?.size === 0) this.byUser.delete(record.user);
    }
  }

  get(user: string, mechanism: ScramMechanism): ScramCredential | null {
    return this.byUser.get(user)?.get(mechanism) ?? null;
  }

  /** Mechanisms a user has credentials for (empty: no such user). */
  mechanismsOf(user: string): ScramCredential[] {
    return [...(this.byUser.get(user)?.values() ?? [])];
  }

  users(): string[] {
    return [...this.byUser.keys()].sort();
  }
}
