/**
 * The checks every group request makes before the coordinator sees it: the group id is
 * acceptable, and this broker coordinates that group (else NOT_COORDINATOR, so the
 * client looks the coordinator up again).
 */
import { ErrorCode } from "../../protocol/errors.js";
import type { Broker } from "../broker.js";

export const COORDINATOR_KEY_GROUP = 0;
export const COORDINATOR_KEY_TRANSACTION = 1;

/**
 * NONE when this broker may serve `groupId`. Like Kafka's group coordinator, an empty id
 * is INVALID_GROUP_ID for membership and offset APIs; Describe/DeleteGroups accept it.
 */
export function groupAccess(broker: Broker, groupId: string | null, opts: { allowEmpty?: boolean } = {}): number {
  if (groupId === null || (groupId === "" && !opts.allowEmpty)) return ErrorCode.INVALID_GROUP_ID;
  const coordinator = broker.coordinatorFor(COORDINATOR_KEY_GROUP, groupId);
  if (!coordinator) return ErrorCode.COORDINATOR_NOT_AVAILABLE;
  if (coordinator.nodeId !== broker.self.nodeId) return ErrorCode.NOT_COORDINATOR;
  return ErrorCode.NONE;
}

/** Kafka reports a member's host as Java's InetAddress.toString() does: "/<address>". */
export function clientHostOf(remoteAddress: string): string {
  return `/${remoteAddress}`;
}

/** All group operations allowed until ACLs land: READ, DELETE, DESCRIBE. */
export const GROUP_OPERATIONS_ALL = [3, 6, 8].reduce((acc, op) => acc | (1 << op), 0);
export const OPERATIONS_NOT_REQUESTED = -2147483648;
