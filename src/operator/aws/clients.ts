import { EC2Client } from "@aws-sdk/client-ec2";
import { S3Client } from "@aws-sdk/client-s3";
import type { StreamCluster } from "../api/types.js";

/** Static keys, e.g. from the StreamCluster's `storage.credentialsSecret`. */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/**
 * Makes the S3 and EC2 clients the operator talks to. Injected, so tests point it at an
 * emulator and S3-compatible stores work: the bucket's client uses `storage.endpoint` when
 * the spec has one, else the operator-wide endpoint override (FLOE_AWS_ENDPOINT_URL), else
 * AWS. EC2 only ever uses the override or AWS (a VPC endpoint only exists in AWS).
 */
export interface AwsClientFactory {
  s3(sc: StreamCluster, credentials?: AwsCredentials): S3Client;
  ec2(sc: StreamCluster): EC2Client;
}

export interface AwsClientOptions {
  /** One endpoint for every AWS API (moto in tests, a LocalStack, a private S3 store). */
  endpointOverride?: string;
  /** Credentials when a spec names no secret; default: the SDK's chain (IRSA, env, node role). */
  credentials?: AwsCredentials;
  /** SDK attempts per call (default 3): throttling beyond them becomes a condition and a requeue. */
  maxAttempts?: number;
}

export function awsClientFactory(opts: AwsClientOptions = {}): AwsClientFactory {
  return {
    s3(sc, credentials) {
      const endpoint = sc.spec.storage.endpoint || opts.endpointOverride;
      return new S3Client({
        region: regionOf(sc),
        ...(endpoint ? { endpoint } : {}),
        // Emulators and most S3-compatible stores have no per-bucket DNS names.
        forcePathStyle: sc.spec.storage.forcePathStyle ?? (!sc.spec.storage.endpoint && Boolean(opts.endpointOverride)),
        ...((credentials ?? opts.credentials) ? { credentials: credentials ?? opts.credentials } : {}),
        maxAttempts: opts.maxAttempts ?? 3,
      });
    },
    ec2(sc) {
      return new EC2Client({
        region: regionOf(sc),
        ...(opts.endpointOverride ? { endpoint: opts.endpointOverride } : {}),
        ...(opts.credentials ? { credentials: opts.credentials } : {}),
        maxAttempts: opts.maxAttempts ?? 3,
      });
    },
  };
}

export function regionOf(sc: StreamCluster): string {
  return sc.spec.storage.region || "us-east-1";
}
