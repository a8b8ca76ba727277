/**
 * Turns an AWS SDK error into a condition reason and a sentence. Every failure of a cloud
 * call becomes a False condition and a retry with backoff: permissions get fixed, throttling
 * passes, a bucket name gets changed. Nothing here ever deletes anything.
 */
export interface CloudFailure {
  /** CamelCase, for the condition's reason. */
  reason: string;
  /** What was attempted and what AWS said. */
  message: string;
}

interface SdkError {
  name?: string;
  Code?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $response?: { statusCode?: number };
}

const THROTTLING = new Set(["SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException", "RequestThrottled", "RequestThrottledException", "ProvisionedThroughputExceededException"]);
const DENIED = new Set(["AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "Forbidden", "AllAccessDisabled", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AuthFailure", "InvalidClientTokenId", "ExpiredToken"]);

export function errorCode(err: unknown): string {
  const e = err as SdkError;
  return e?.Code ?? e?.name ?? e?.code ?? "Error";
}

export function httpStatus(err: unknown): number | undefined {
  const e = err as SdkError;
  return e?.$metadata?.httpStatusCode ?? e?.$response?.statusCode;
}

export function classify(err: unknown, attempted: string): CloudFailure {
  const code = errorCode(err);
  const status = httpStatus(err);
  const detail = (err as SdkError)?.message;
  // HEAD answers carry no body, so the SDK only knows the status ("Forbidden", "NotFound", or a bare number).
  const said = `${code}${status ? ` (HTTP ${status})` : ""}${detail && detail !== code && detail !== "UnknownError" ? `: ${detail}` : ""}`;
  const message = `${attempted}: ${said}`;
  if (THROTTLING.has(code) || status === 429 || status === 503) return { reason: "Throttled", message: `${message}; will retry with backoff` };
  if (DENIED.has(code) || status === 403) return { reason: "AccessDenied", message: `${message}; grant the operator's role the permission (docs/iam-policy.json) and it retries` };
  if (code === "BucketAlreadyExists") return { reason: "BucketOwnedByOthers", message: `${message}; the name is taken by another AWS account: choose another storage.bucket` };
  if (code === "CredentialsProviderError" || /Could not load credentials/i.test(detail ?? "")) return { reason: "CredentialsMissing", message };
  if (code === "NotImplemented" || status === 501) return { reason: "NotSupportedByStore", message: `${message}; this S3-compatible store lacks the feature` };
  if (status !== undefined && status >= 500) return { reason: "AwsUnavailable", message: `${message}; will retry with backoff` };
  if (status === undefined && /ECONNREFUSED|ENOTFOUND|ETIMEDOUT|ECONNRESET|EAI_AGAIN|socket hang up|TimeoutError/i.test(`${code} ${detail ?? ""}`)) {
    return { reason: "EndpointUnreachable", message: `${message}; will retry` };
  }
  return { reason: /^[A-Z][A-Za-z0-9]{0,63}$/.test(code) ? code : "AwsError", message };
}

/** Thrown inside a step to stop it with a chosen reason (not an SDK error). */
export class CloudStepError extends Error {
  constructor(readonly failure: CloudFailure) {
    super(failure.message);
    this.name = "CloudStepError";
  }
}

/** Runs one AWS call, labelling any failure with what was being attempted. */
export async function attempt<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof CloudStepError) throw err;
    throw new CloudStepError(classify(err, what));
  }
}
