// AlterUserScramCredentials v0
// Upserts and deletes SCRAM credentials. The client sends salt and salted password (the
// password never leaves it); the broker keeps only StoredKey and ServerKey derived from
// them. All of a user's changes are checked before any is applied; one result per user.
import type { AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse } from "../../protocol/messages/index.js";
import { ErrorCode } from "../../protocol/errors.js";
import { mayManageUsers } from "../../security/authorize.js";
import { credentialFromSaltedPassword, hashBytesOf, scramMechanismOfCode, SCRAM_ITERATIONS_MAX, SCRAM_ITERATIONS_MIN, type ScramMechanism } from "../../security/scram.js";
import { defineHandler } from "../handler.js";
import { clusterCheck, deniedMessageOf } from "../access.js";
import { AclOperation as Op } from "../../security/acl.js";

type Upsertion = AlterUserScramCredentialsRequest["upsertions"][number];
type Change = { kind: "delete"; mechanism: ScramMechanism } | { kind: "upsert"; mechanism: ScramMechanism; u: Upsertion };

export const alterUserScramCredentials = defineHandler<AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse>({
  apiKey: 51,
  minVersion: 0,
  maxVersion: 0,
  access: { kind: "needs", needs: () => [clusterCheck(Op.ALTER)], denied: (req, errorCode) => refused(req, errorCode) },
  async handle(req, ctx) {
    const users = usersOf(req);
    if (!mayManageUsers(ctx.broker.config, ctx.conn.principal)) return refused(req, ErrorCode.CLUSTER_AUTHORIZATION_FAILED);
    const errors = new Map<string, { errorCode: number; errorMessage: string }>();
    const changes = new Map<string, Change[]>();
    const reject = (user: string, errorCode: number, errorMessage: string) => {
      if (!errors.has(user)) errors.set(user, { errorCode, errorMessage });
    };
    const entries = [
      ...req.deletions.map((d) => ({ user: d.name, code: d.mechanism, u: null })),
      ...req.upsertions.map((u) => ({ user: u.name, code: u.mechanism, u })),
    ];
    // A credential named twice is refused first, whatever else is wrong with the user's changes.
    const times = new Map<string, number>();
    for (const e of entries) times.set(`${e.code}\u0000${e.user}`, (times.get(`${e.code}\u0000${e.user}`) ?? 0) + 1);
    for (const e of entries) if (times.get(`${e.code}\u0000${e.user}`)! > 1) reject(e.user, ErrorCode.DUPLICATE_RESOURCE, "A user credential cannot be altered twice in the same request");
    for (const { user, code, u } of entries) {
      if (!user) {
        reject(user, ErrorCode.UNACCEPTABLE_CREDENTIAL, "Username must not be empty");
        continue;
      }
      const mechanism = scramMechanismOfCode(code);
      if (!mechanism) {
        reject(user, ErrorCode.UNSUPPORTED_SASL_MECHANISM, "Unknown SCRAM mechanism");
        continue;
      }
      if (u) {
        if (u.iterations < SCRAM_ITERATIONS_MIN) reject(user, ErrorCode.UNACCEPTABLE_CREDENTIAL, `Too few iterations (at least ${SCRAM_ITERATIONS_MIN})`);
        else if (u.iterations > SCRAM_ITERATIONS_MAX) reject(user, ErrorCode.UNACCEPTABLE_CREDENTIAL, `Too many iterations (at most ${SCRAM_ITERATIONS_MAX})`);
        else if (u.salt.length === 0) reject(user, ErrorCode.UNACCEPTABLE_CREDENTIAL, "Salt must not be empty");
        else if (u.saltedPassword.length !== hashBytesOf(mechanism)) reject(user, ErrorCode.UNACCEPTABLE_CREDENTIAL, `Salted password of ${mechanism} must be ${hashBytesOf(mechanism)} bytes`);
      } else if (!ctx.broker.controller.scram.get(user, mechanism)) {
        reject(user, ErrorCode.RESOURCE_NOT_FOUND, "Attempt to delete a user credential that does not exist");
      }
      const list = changes.get(user) ?? [];
      list.push(u ? { kind: "upsert", mechanism, u } : { kind: "delete", mechanism });
      changes.set(user, list);
    }
    const results: AlterUserScramCredentialsResponse["results"] = [];
    for (const user of users) {
      const error = errors.get(user);
      if (error) {
        results.push({ user, ...error });
        continue;
      }
      let result = { errorCode: ErrorCode.NONE as number, errorMessage: null as string | null };
      for (const c of changes.get(user) ?? []) {
        if (c.kind === "upsert") {
          await ctx.broker.controller.upsertScramCredential(user, credentialFromSaltedPassword(c.mechanism, c.u.salt, c.u.iterations, c.u.saltedPassword));
        } else {
          const r = await ctx.broker.controller.deleteScramCredential(user, c.mechanism);
          if (r.errorCode !== ErrorCode.NONE) result = r;
        }
      }
      results.push({ user, ...result });
    }
    return { throttleTimeMs: 0, results };
  },
});

function usersOf(req: AlterUserScramCredentialsRequest): string[] {
  return [...new Set([...req.deletions.map((d) => d.name), ...req.upsertions.map((u) => u.name)])];
}

function refused(req: AlterUserScramCredentialsRequest, errorCode: number): AlterUserScramCredentialsResponse {
  return { throttleTimeMs: 0, results: usersOf(req).map((user) => ({ user, errorCode, errorMessage: deniedMessageOf(errorCode) })) };
}
