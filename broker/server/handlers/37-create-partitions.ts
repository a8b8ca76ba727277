// CreatePartitions v0-3
// v1: same as v0.  v2: flexible.  v3: may return THROTTLING_QUOTA_EXCEEDED (never here).
// Floe places partitions itself: explicit assignments are refused with INVALID_REQUEST.
// A topic named twice in one request gets one INVALID_REQUEST result.
import type { CreatePartitionsRequest, CreatePartitionsResponse } from "../../protocol/messages/index.js";
import { ErrorCode } from "../../protocol/errors.js";
import { defineHandler } from "../handler.js";
import { topicCheck, deniedMessageOf } from "../access.js";
import { AclOperation as Op } from "../../security/acl.js";
import { defaultsCreatePartitionsResponse } from "../../protocol/messages/index.js";

type Result = CreatePartitionsResponse["results"][number];

export const createPartitions = defineHandler<CreatePartitionsRequest, CreatePartitionsResponse>({
  apiKey: 37,
  minVersion: 0,
  maxVersion: 3,
  access: {
    kind: "needs",
    needs: (req) => req.topics.map((t) => topicCheck(t.name, Op.ALTER)),
    denied: (req, errorCode) => ({ ...defaultsCreatePartitionsResponse(), results: req.topics.map((t) => ({ name: t.name, errorCode, errorMessage: deniedMessageOf(errorCode) })) }),
  },
  async handle(req, ctx) {
    const { broker } = ctx;
    const counts = new Map<string, number>();
    for (const t of req.topics) counts.set(t.name, (counts.get(t.name) ?? 0) + 1);
    const answered = new Set<string>();
    const results: Result[] = [];
    for (const t of req.topics) {
      if (answered.has(t.name)) continue;
      answered.add(t.name);
      const result = (errorCode: number, errorMessage: string | null): Result => ({ name: t.name, errorCode, errorMessage });
      if (counts.get(t.name)! > 1) {
        results.push(result(ErrorCode.INVALID_REQUEST, `Topic '${t.name}' is named more than once in the request.`));
        continue;
      }
      const topic = broker.topics.byTopicName(t.name);
      if (!topic) {
        results.push(result(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `Topic '${t.name}' does not exist.`));
        continue;
      }
      if (t.assignments !== null && t.assignments.length > 0) {
        results.push(result(ErrorCode.INVALID_REQUEST, "Manual partition assignment is not supported: Floe places partitions itself."));
        continue;
      }
      const before = topic.partitions;
      const changed = await broker.controller.createPartitions(topic, t.count, req.validateOnly);
      if (changed.errorCode === ErrorCode.NONE && !req.validateOnly) broker.logger.info({ topic: t.name, from: before, to: t.count }, "created partitions");
      results.push(result(changed.errorCode, changed.errorMessage));
    }
    return { throttleTimeMs: 0, results };
  },
});
