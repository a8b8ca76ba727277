/**
 * The checks every transaction request makes before the coordinator sees it, and how
 * coordinator failures are answered.
 */
import { ErrorCode } from "../../protocol/errors.js";
import type { Broker } from "../broker.js";
import { COORDINATOR_KEY_TRANSACTION } from "./group-access.js";

/** NONE when this broker coordinates `transactionalId`, else the error that sends the client looking again. */
export function txnAccess(broker: Broker, transactionalId: string | null): number {
  if (!transactionalId) return ErrorCode.INVALID_REQUEST;
  const coordinator = broker.coordinatorFor(COORDINATOR_KEY_TRANSACTION, transactionalId);
  if (!coordinator) return ErrorCode.COORDINATOR_NOT_AVAILABLE;
  if (coordinator.nodeId !== broker.self.nodeId) return ErrorCode.NOT_COORDINATOR;
  return ErrorCode.NONE;
}

/**
 * KIP-588: a fenced producer gets PRODUCER_FENCED from the versions that know it, and
 * INVALID_PRODUCER_EPOCH from older ones (as Kafka answers them).
 */
export function fencedCodeFor(apiVersion: number, firstVersionWithFenced: number): number {
  return apiVersion >= firstVersionWithFenced ? ErrorCode.PRODUCER_FENCED : ErrorCode.INVALID_PRODUCER_EPOCH;
}

/**
 * Runs a coordinator call. A failure to make state durable (WAL full, a marker that could
 * not be written) is answered as COORDINATOR_NOT_AVAILABLE, which clients retry: what was
 * made durable stays, and an unfinished commit or abort is completed by the coordinator's
 * ticker before the retry can see it.
 */
export async function coordinatorCall<T extends { errorCode: number; errorMessage?: string | null }>(broker: Broker, what: string, transactionalId: string, fn: () => Promise<T>): Promise<T | { errorCode: number; errorMessage: string }> {
  try {
    return await fn();
  } catch (err) {
    broker.logger.warn({ err, transactionalId }, `${what} failed; the client retries`);
    return { errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, errorMessage: `${what} for ${transactionalId} failed: ${(err as Error).message}` };
  }
}
