import fs from "node:fs";
import https from "node:https";
import http from "node:http";
import { parse } from "yaml";

/**
 * A small Kubernetes API client: exactly what the operator uses (get, list, watch,
 * server-side apply, status patches, delete, events), over node:https with the cluster's
 * CA and a bearer token. Written for the operator instead of pulling a large SDK; every
 * error carries the verb, the path and the API server's own message.
 */
export interface KubeConfig {
  server: string;
  token?: string;
  ca?: Buffer;
  clientCert?: Buffer;
  clientKey?: Buffer;
  insecureSkipTlsVerify?: boolean;
}

export class KubeError extends Error {
  constructor(readonly status: number, readonly reason: string, message: string, readonly body?: unknown) {
    super(message);
    this.name = "KubeError";
  }
  get isConflict() {
    return this.status === 409;
  }
  get isNotFound() {
    return this.status === 404;
  }
  /** Worth retrying later: conflicts, throttling, server trouble. */
  get isTemporary() {
    return this.status === 409 || this.status === 429 || this.status >= 500;
  }
}

/** In a pod: the service account token and CA; elsewhere: $KUBECONFIG or ~/.kube/config. */
export function loadKubeConfig(env: NodeJS.ProcessEnv = process.env): KubeConfig {
  const saDir = "/var/run/secrets/kubernetes.io/serviceaccount";
  if (env.KUBERNETES_SERVICE_HOST && fs.existsSync(`${saDir}/token`)) {
    return {
      server: `https://${env.KUBERNETES_SERVICE_HOST}:${env.KUBERNETES_SERVICE_PORT ?? "443"}`,
      token: fs.readFileSync(`${saDir}/token`, "utf8").trim(),
      ca: fs.readFileSync(`${saDir}/ca.crt`),
    };
  }
  const file = env.KUBECONFIG ?? `${env.HOME}/.kube/config`;
  return kubeConfigFromFile(file);
}

export function kubeConfigFromFile(file: string): KubeConfig {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const doc = parse(fs.readFileSync(file, "utf8")) as any;
  const ctx = doc.contexts?.find((c: { name: string }) => c.name === doc["current-context"])?.context ?? doc.contexts?.[0]?.context;
  const cluster = doc.clusters?.find((c: { name: string }) => c.name === ctx?.cluster)?.cluster ?? doc.clusters?.[0]?.cluster;
  const user = doc.users?.find((u: { name: string }) => u.name === ctx?.user)?.user ?? doc.users?.[0]?.user ?? {};
  if (!cluster?.server) throw new Error(`${file}: no cluster server in the current context`);
  const b64 = (s?: string) => (s ? Buffer.from(s, "base64") : undefined);
  return {
    server: cluster.server,
    token: user.token,
    ca: b64(cluster["certificate-authority-data"]) ?? (cluster["certificate-authority"] ? fs.readFileSync(cluster["certificate-authority"]) : undefined),
    clientCert: b64(user["client-certificate-data"]),
    clientKey: b64(user["client-key-data"]),
    insecureSkipTlsVerify: cluster["insecure-skip-tls-verify"] === true,
  };
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; uid?: string; resourceVersion?: string; generation?: number; labels?: Record<string, string>; annotations?: Record<string, string>; finalizers?: string[]; deletionTimestamp?: string; ownerReferences?: unknown[] };
  [k: string]: unknown;
}

export interface WatchEvent<T = KubeObject> {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: T;
}

/** Where a kind lives in the API: group/version, plural and whether it is namespaced. */
export interface ResourceRef {
  apiVersion: string;
  plural: string;
  namespaced: boolean;
}

export function resourcePath(r: ResourceRef, namespace?: string, name?: string, subresource?: string): string {
  const base = r.apiVersion.includes("/") ? `/apis/${r.apiVersion}` : `/api/${r.apiVersion}`;
  const ns = r.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : "";
  return `${base}${ns}/${r.plural}${name ? `/${encodeURIComponent(name)}` : ""}${subresource ? `/${subresource}` : ""}`;
}

export class KubeClient {
  private readonly agent: https.Agent | http.Agent;
  private readonly url: URL;

  constructor(private readonly config: KubeConfig, readonly fieldManager = "floe-operator") {
    this.url = new URL(config.server);
    this.agent =
      this.url.protocol === "https:"
        ? new https.Agent({ keepAlive: true, ca: config.ca, cert: config.clientCert, key: config.clientKey, rejectUnauthorized: !config.insecureSkipTlsVerify })
        : new http.Agent({ keepAlive: true });
  }

  async request<T>(method: string, path: string, body?: unknown, contentType = "application/json"): Promise<T> {
    const payload = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
    const res = await this.send(method, path, payload, contentType);
    const text = await readAll(res);
    const status = res.statusCode ?? 0;
    if (status >= 200 && status < 300) {
      // Health endpoints (/readyz, /livez) answer plain text; everything else is JSON.
      const json = String(res.headers["content-type"] ?? "application/json").includes("json");
      return (text ? (json ? JSON.parse(text) : text) : {}) as T;
    }
    let message = text;
    let reason = "";
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
      message = (parsed as { message?: string }).message ?? text;
      reason = (parsed as { reason?: string }).reason ?? "";
    } catch {
      /* not JSON */
    }
    throw new KubeError(status, reason, `${method} ${path}: ${status} ${reason} ${message}`.trim(), parsed);
  }

  get<T = KubeObject>(r: ResourceRef, namespace: string | undefined, name: string): Promise<T> {
    return this.request("GET", resourcePath(r, namespace, name));
  }

  async getOrNull<T = KubeObject>(r: ResourceRef, namespace: string | undefined, name: string): Promise<T | null> {
    try {
      return await this.get<T>(r, namespace, name);
    } catch (err) {
      if (err instanceof KubeError && err.isNotFound) return null;
      throw err;
    }
  }

  list<T = KubeObject>(r: ResourceRef, namespace?: string, labelSelector?: string): Promise<{ items: T[]; metadata: { resourceVersion: string } }> {
    const q = labelSelector ? `?labelSelector=${encodeURIComponent(labelSelector)}` : "";
    return this.request("GET", resourcePath(r, namespace) + q);
  }

  /** Server-side apply: the operator owns exactly the fields it sends. */
  apply<T = KubeObject>(r: ResourceRef, obj: KubeObject, opts: { force?: boolean; subresource?: string } = {}): Promise<T> {
    const q = `?fieldManager=${encodeURIComponent(this.fieldManager)}&force=${opts.force ?? true}`;
    return this.request("PATCH", resourcePath(r, obj.metadata.namespace, obj.metadata.name, opts.subresource) + q, obj, "application/apply-patch+yaml");
  }

  mergePatch<T = KubeObject>(r: ResourceRef, namespace: string | undefined, name: string, patch: unknown, subresource?: string): Promise<T> {
    return this.request("PATCH", resourcePath(r, namespace, name, subresource), patch, "application/merge-patch+json");
  }

  async delete(r: ResourceRef, namespace: string | undefined, name: string, propagationPolicy: "Foreground" | "Background" | "Orphan" = "Background"): Promise<void> {
    try {
      await this.request("DELETE", resourcePath(r, namespace, name), { kind: "DeleteOptions", apiVersion: "v1", propagationPolicy });
    } catch (err) {
      if (!(err instanceof KubeError && err.isNotFound)) throw err;
    }
  }

  /** PUT with the object's resourceVersion: fails with 409 if someone changed it meanwhile. */
  update<T = KubeObject>(r: ResourceRef, obj: KubeObject): Promise<T> {
    return this.request("PUT", resourcePath(r, obj.metadata.namespace, obj.metadata.name), obj);
  }

  create<T = KubeObject>(r: ResourceRef, obj: KubeObject): Promise<T> {
    return this.request("POST", resourcePath(r, obj.metadata.namespace), obj);
  }

  /**
   * Streams watch events from `resourceVersion` until the server ends the watch or
   * `signal` aborts. A 410 Gone surfaces as a KubeError so the caller relists.
   */
  async *watch<T = KubeObject>(r: ResourceRef, namespace: string | undefined, resourceVersion: string, signal: AbortSignal): AsyncGenerator<WatchEvent<T>> {
    const path = `${resourcePath(r, namespace)}?watch=1&allowWatchBookmarks=true&resourceVersion=${encodeURIComponent(resourceVersion)}&timeoutSeconds=300`;
    const res = await this.send("GET", path, undefined, "application/json", signal);
    if ((res.statusCode ?? 0) >= 300) {
      const text = await readAll(res);
      throw new KubeError(res.statusCode ?? 0, "", `WATCH ${path}: ${res.statusCode} ${text}`);
    }
    let buf = "";
    try {
      for await (const chunk of res) {
        buf += chunk.toString("utf8");
        let nl: number;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (!line) continue;
          const ev = JSON.parse(line) as WatchEvent<T>;
          if (ev.type === "ERROR") {
            const status = ev.object as unknown as { code?: number; message?: string; reason?: string };
            throw new KubeError(status.code ?? 500, status.reason ?? "", `WATCH ${path}: ${status.message ?? "error"}`);
          }
          yield ev;
        }
      }
    } catch (err) {
      if (signal.aborted) return;
      throw err;
    }
  }

  private send(method: string, path: string, payload: string | undefined, contentType: string, signal?: AbortSignal): Promise<http.IncomingMessage> {
    const lib = this.url.protocol === "https:" ? https : http;
    return new Promise((resolve, reject) => {
      const req = lib.request(
        {
          protocol: this.url.protocol,
          hostname: this.url.hostname,
          port: this.url.port,
          method,
          path,
          agent: this.agent,
          signal,
          headers: {
            accept: "application/json",
            ...(this.config.token ? { authorization: `Bearer ${this.config.token}` } : {}),
            ...(payload !== undefined ? { "content-type": contentType, "content-length": Buffer.byteLength(payload) } : {}),
          },
        },
        resolve,
      );
      req.on("error", reject);
      req.setTimeout(method === "GET" && path.includes("watch=1") ? 330_000 : 30_000, () => req.destroy(new Error(`${method} ${path}: timed out`)));
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

async function readAll(res: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
