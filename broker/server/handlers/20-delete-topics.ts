// DeleteTopics v0-6
// v1: throttle time.  v4: flexible.  v5: per-topic error message.
// v6: topics named by name or by topic id (name nullable); results carry the topic id.
// A topic named twice in one request gets one INVALID_REQUEST result. Internal topics
// are refused by the controller.
import type { DeleteTopicsRequest, DeleteTopicsResponse } from "../../protocol/messages/index.js";
import { ErrorCode } from "../../protocol/errors.js";
import { ZERO_UUID } from "../../protocol/primitives.js";
import type { TopicInfo } from "../../cluster/topics.js";
import { defineHandler, type RequestContext } from "../handler.js";
import { topicCheck, deniedMessageOf } from "../access.js";
import { AclOperation as Op } from "../../security/acl.js";
import { defaultsDeleteTopicsResponse, defaultsDeleteTopicsResponseDeletableTopicResult } from "../../protocol/messages/index.js";

type Result = DeleteTopicsResponse["responses"][number];

export const deleteTopics = defineHandler<DeleteTopicsRequest, DeleteTopicsResponse>({
  apiKey: 20,
  minVersion: 0,
  maxVersion: 6,
  access: {
    kind: "needs",
    needs: (req, ctx) => namesOf(req, ctx).flatMap((t) => (t.name ? [topicCheck(t.name, Op.DELETE)] : [])),
    denied: (req, errorCode, ctx) => ({
      ...defaultsDeleteTopicsResponse(),
      responses: namesOf(req, ctx).map((t) => ({ ...defaultsDeleteTopicsResponseDeletableTopicResult(), name: t.name, topicId: t.topicId, errorCode, errorMessage: deniedMessageOf(errorCode) })),
    }),
  },
  async handle(req, ctx) {
    const { broker } = ctx;
    const wanted = requested(req, ctx);
    const keyOf = (w: { name: string | null; topicId: string }) => (w.name !== null ? `n:${w.name}` : `i:${w.topicId}`);
    const counts = new Map<string, number>();
    for (const w of wanted) counts.set(keyOf(w), (counts.get(keyOf(w)) ?? 0) + 1);
    const answered = new Set<string>();
    const responses: Result[] = [];
    for (const w of wanted) {
      const key = keyOf(w);
      if (answered.has(key)) continue;
      answered.add(key);
      const result = (topic: TopicInfo | undefined, errorCode: number, errorMessage: string | null): Result => ({
        name: topic?.name ?? w.name,
        topicId: topic?.topicId ?? w.topicId,
        errorCode,
        errorMessage,
      });
      if (counts.get(key)! > 1) {
        responses.push(result(undefined, ErrorCode.INVALID_REQUEST, `Topic ${w.name ?? w.topicId} is named more than once in the request.`));
        continue;
      }
      if (w.name !== null && w.topicId !== ZERO_UUID) {
        responses.push(result(undefined, ErrorCode.INVALID_REQUEST, "Give either a topic name or a topic id, not both."));
        continue;
      }
      const topic = w.name !== null ? broker.topics.byTopicName(w.name) : broker.topics.byTopicId(w.topicId);
      if (!topic) {
        responses.push(
          w.name !== null
            ? result(undefined, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `Topic '${w.name}' does not exist.`)
            : result(undefined, ErrorCode.UNKNOWN_TOPIC_ID, `Topic id ${w.topicId} does not exist.`),
        );
        continue;
      }
      const deleted = await broker.controller.deleteTopic(topic);
      if (deleted.errorCode === ErrorCode.NONE) broker.logger.info({ topic: topic.name, topicId: topic.topicId }, "deleted topic");
      responses.push(result(topic, deleted.errorCode, deleted.errorMessage));
    }
    return { throttleTimeMs: 0, responses };
  },
});

/** The topics a request names, by name (v0-5) or by name or id (v6). */
function requested(req: DeleteTopicsRequest, ctx: RequestContext): { name: string | null; topicId: string }[] {
  return ctx.apiVersion >= 6 ? req.topics.map((t) => ({ name: t.name, topicId: t.topicId })) : req.topicNames.map((name) => ({ name, topicId: ZERO_UUID }));
}

/** Like `requested`, with the names of topics asked for by id filled in where the id is known (for the ACL check). */
function namesOf(req: DeleteTopicsRequest, ctx: RequestContext): { name: string | null; topicId: string }[] {
  return requested(req, ctx).map((t) => (t.name !== null ? t : { name: ctx.broker.topics.byTopicId(t.topicId)?.name ?? null, topicId: t.topicId }));
}
