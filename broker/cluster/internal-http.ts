/**
 * Broker-to-broker calls: JSON over each broker's internal HTTP port (next to `/metrics`),
 * at the `internalUrl` it registered with. The metadata log stays the source of truth;
 * these calls only ask the broker that owns something (a partition, a coordinator) to act.
 */

/** A call the other broker answered with an error status (421: it does not own what was asked for). */
export class InternalCallError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = "InternalCallError";
  }
}

export const STATUS_NOT_OWNER = 421;

export async function postInternal<T>(baseUrl: string, path: string, body: unknown, timeoutMs: number): Promise<T> {
  const res = await fetch(`${baseUrl}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), signal: AbortSignal.timeout(timeoutMs) });
  const answer = (await res.json().catch(() => ({}))) as T & { error?: string };
  if (!res.ok) throw new InternalCallError(`${path} at ${baseUrl} failed with HTTP ${res.status}: ${answer.error ?? "no detail"}`, res.status);
  return answer;
}
