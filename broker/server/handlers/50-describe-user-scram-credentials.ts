// DescribeUserScramCredentials v0
// Lists each user's SCRAM mechanisms and iteration counts (never salts or keys). No users
// (null or empty): every user with a credential.
import type { DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse } from "../../protocol/messages/index.js";
import { ErrorCode } from "../../protocol/errors.js";
import { mayManageUsers } from "../../security/authorize.js";
import { SCRAM_MECHANISM_CODE } from "../../security/scram.js";
import { defineHandler } from "../handler.js";
import { clusterCheck, deniedMessageOf } from "../access.js";
import { AclOperation as Op } from "../../security/acl.js";

type Result = DescribeUserScramCredentialsResponse["results"][number];

export const describeUserScramCredentials = defineHandler<DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse>({
  apiKey: 50,
  minVersion: 0,
  maxVersion: 0,
  access: { kind: "needs", needs: () => [clusterCheck(Op.DESCRIBE)], denied: (req, errorCode) => refused(req, errorCode) },
  handle(req, ctx) {
    const store = ctx.broker.controller.scram;
    const asked = req.users?.length ? req.users.map((u) => u.name) : null;
    if (!mayManageUsers(ctx.broker.config, ctx.conn.principal)) return refused(req, ErrorCode.CLUSTER_AUTHORIZATION_FAILED);
    const counts = new Map<string, number>();
    for (const u of asked ?? []) counts.set(u, (counts.get(u) ?? 0) + 1);
    const results: Result[] = [];
    for (const user of asked ? [...counts.keys()] : store.users()) {
      if ((counts.get(user) ?? 0) > 1) {
        results.push({ user, errorCode: ErrorCode.DUPLICATE_RESOURCE, errorMessage: "Cannot describe SCRAM credentials for the same user twice in a single request", credentialInfos: [] });
        continue;
      }
      const creds = store.mechanismsOf(user);
      if (creds.length === 0) {
        results.push({ user, errorCode: ErrorCode.RESOURCE_NOT_FOUND, errorMessage: "Attempt to describe a user credential that does not exist", credentialInfos: [] });
        continue;
      }
      const credentialInfos = creds.map((c) => ({ mechanism: SCRAM_MECHANISM_CODE[c.mechanism], iterations: c.iterations })).sort((a, b) => a.mechanism - b.mechanism);
      results.push({ user, errorCode: ErrorCode.NONE, errorMessage: null, credentialInfos });
    }
    return { throttleTimeMs: 0, errorCode: ErrorCode.NONE, errorMessage: null, results };
  },
});

function refused(req: DescribeUserScramCredentialsRequest, errorCode: number): DescribeUserScramCredentialsResponse {
  const errorMessage = deniedMessageOf(errorCode);
  const asked = req.users?.length ? req.users.map((u) => u.name) : [];
  return { throttleTimeMs: 0, errorCode, errorMessage, results: asked.map((user) => ({ user, errorCode, errorMessage, credentialInfos: [] })) };
}
