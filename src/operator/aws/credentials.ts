import type { StreamCluster } from "../api/types.js";
import { KubeError, type KubeClient, type KubeObject } from "../kube/client.js";
import { R } from "../kube/resources.js";
import type { CredentialsLoader } from "./cloud.js";
import { CloudStepError } from "./errors.js";

/**
 * Static keys from `storage.credentialsSecret` (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 * optional AWS_SESSION_TOKEN) for S3 calls on that cluster's bucket; no secret named means
 * the SDK's default chain (IRSA, the node's role). A missing or unreadable secret is a
 * condition like any other cloud failure.
 */
export function secretCredentials(client: KubeClient): CredentialsLoader {
  return async (sc: StreamCluster) => {
    const name = sc.spec.storage.credentialsSecret;
    if (!name) return undefined;
    const ns = sc.metadata.namespace ?? "default";
    let secret: (KubeObject & { data?: Record<string, string> }) | null;
    try {
      secret = await client.getOrNull(R.secret, ns, name);
    } catch (err) {
      throw new CloudStepError({ reason: "CredentialsSecretUnreadable", message: `reading Secret ${ns}/${name} (storage.credentialsSecret): ${err instanceof KubeError ? err.message : String(err)}` });
    }
    if (!secret) throw new CloudStepError({ reason: "CredentialsSecretMissing", message: `Secret ${ns}/${name} named by storage.credentialsSecret does not exist` });
    const get = (k: string) => (secret.data?.[k] ? Buffer.from(secret.data[k], "base64").toString("utf8").trim() : undefined);
    const accessKeyId = get("AWS_ACCESS_KEY_ID");
    const secretAccessKey = get("AWS_SECRET_ACCESS_KEY");
    if (!accessKeyId || !secretAccessKey) throw new CloudStepError({ reason: "CredentialsSecretInvalid", message: `Secret ${ns}/${name} needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY` });
    const sessionToken = get("AWS_SESSION_TOKEN");
    return { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
  };
}
