import net from "node:net";
import tls from "node:tls";
import { encodeRequest, responseHeaderVersion } from "../../../broker/protocol/framing.js";
import { ResponseHeader } from "../../../broker/protocol/messages/headers.js";
import {
  API_SPECS,
  type AlterClientQuotasResponse,
  type AlterUserScramCredentialsResponse,
  type DescribeClientQuotasResponse,
  type CreateAclsRequestAclCreation,
  type CreateAclsResponse,
  type DeleteAclsRequestFilter,
  type DeleteAclsResponse,
  type DescribeAclsRequest,
  type DescribeAclsResponse,
  type SaslAuthenticateResponse,
  type SaslHandshakeResponse,
} from "../../../broker/protocol/messages/index.js";
import { Reader } from "../../../broker/protocol/primitives.js";
import { errorInfo } from "../../../broker/protocol/errors.js";
import { ScramClientExchange, SCRAM_MECHANISM_CODE, saltPassword, type ScramMechanism } from "../../../broker/security/scram.js";
import type { AclBinding } from "../../../broker/security/acl.js";
import crypto from "node:crypto";

/**
 * The few Kafka Admin calls the operator makes to manage StreamUsers, over one connection,
 * with the repo's generated codecs: SASL/SCRAM login, AlterUserScramCredentials, the
 * three ACL APIs and the user's client quotas. Requests go one at a time (the operator has no need to pipeline).
 */
export interface AdminConnection {
  host: string;
  port: number;
  /** TLS to the listener; `ca` is the PEM bundle to trust (absent: the system roots). */
  tls?: { ca?: string; servername?: string; cert?: string; key?: string };
  /** SCRAM login; absent: the client certificate (tls.cert) is the login. */
  sasl?: { mechanism: ScramMechanism; username: string; password: string };
  timeoutMs?: number;
}

/** A failure the Kafka side reported or the connection hit, with a reason for a status condition. */
export class KafkaAdminError extends Error {
  constructor(readonly reason: "Unreachable" | "AuthenticationFailed" | "Refused", message: string) {
    super(message);
    this.name = "KafkaAdminError";
  }
}

// Versions: the newest the broker serves that every Kafka broker since 2.x understands too.
const V = { saslHandshake: 1, saslAuthenticate: 1, describeAcls: 1, createAcls: 1, deleteAcls: 1, alterScram: 0, describeQuotas: 1, alterQuotas: 1 } as const;

export class KafkaAdminClient {
  private socket: net.Socket | null = null;
  private correlation = 0;
  private buffered = Buffer.alloc(0);
  private waiting: { resolve: (frame: Buffer) => void; reject: (err: Error) => void } | null = null;
  private failure: Error | null = null;

  private constructor(private readonly opts: AdminConnection) {}

  /** Connects and logs in; throws KafkaAdminError (Unreachable or AuthenticationFailed). */
  static async connect(opts: AdminConnection): Promise<KafkaAdminClient> {
    const client = new KafkaAdminClient(opts);
    await client.open();
    try {
      await client.login();
    } catch (err) {
      client.close();
      throw err;
    }
    return client;
  }

  private open(): Promise<void> {
    const { host, port } = this.opts;
    const timeoutMs = this.opts.timeoutMs ?? 10_000;
    return new Promise((resolve, reject) => {
      const where = `${host}:${port}`;
      const socket = this.opts.tls
        ? tls.connect({ host, port, ca: this.opts.tls.ca, cert: this.opts.tls.cert, key: this.opts.tls.key, servername: this.opts.tls.servername ?? (net.isIP(host) ? undefined : host) })
        : net.connect({ host, port });
      const ready = this.opts.tls ? "secureConnect" : "connect";
      const timer = setTimeout(() => socket.destroy(new Error(`no connection within ${timeoutMs} ms`)), timeoutMs);
      socket.once(ready, () => {
        clearTimeout(timer);
        this.socket = socket;
        resolve();
      });
      socket.on("data", (chunk: Buffer) => this.onData(chunk));
      socket.on("error", (err) => {
        clearTimeout(timer);
        const e = new KafkaAdminError("Unreachable", `connecting to ${where}: ${err.message}`);
        this.fail(e);
        reject(e);
      });
      socket.on("close", () => this.fail(new KafkaAdminError("Unreachable", `${where} closed the connection`)));
    });
  }

  private onData(chunk: Buffer): void {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    while (this.buffered.length >= 4) {
      const size = this.buffered.readInt32BE(0);
      if (this.buffered.length < 4 + size) return;
      const frame = this.buffered.subarray(4, 4 + size);
      this.buffered = this.buffered.subarray(4 + size);
      const w = this.waiting;
      this.waiting = null;
      w?.resolve(frame);
    }
  }

  private fail(err: Error): void {
    if (!this.failure) this.failure = err;
    const w = this.waiting;
    this.waiting = null;
    w?.reject(err);
  }

  private async call<T>(apiKey: number, version: number, body: unknown): Promise<T> {
    if (this.failure) throw this.failure;
    if (!this.socket) throw new KafkaAdminError("Unreachable", "not connected");
    const spec = API_SPECS.get(apiKey)!;
    const id = ++this.correlation;
    const frame = await new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new KafkaAdminError("Unreachable", `${spec.name} got no answer within ${this.opts.timeoutMs ?? 10_000} ms`)), this.opts.timeoutMs ?? 10_000);
      this.waiting = {
        resolve: (f) => (clearTimeout(timer), resolve(f)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      };
      this.socket!.write(encodeRequest(apiKey, version, id, "floe-operator", body));
    });
    const r = new Reader(frame);
    const header = ResponseHeader.decode(r, responseHeaderVersion(apiKey, version));
    if (header.correlationId !== id) throw new KafkaAdminError("Unreachable", `${spec.name}: answer for request ${header.correlationId}, expected ${id}`);
    return spec.response.decode(r, version) as T;
  }

  private async login(): Promise<void> {
    if (!this.opts.sasl) return;
    const { mechanism, username, password } = this.opts.sasl;
    const hs = await this.call<SaslHandshakeResponse>(17, V.saslHandshake, { mechanism });
    if (hs.errorCode !== 0) throw new KafkaAdminError("AuthenticationFailed", `SASL handshake for ${mechanism}: ${errorInfo(hs.errorCode).name} (the listener offers ${hs.mechanisms.join(", ") || "no SASL"})`);
    const scram = new ScramClientExchange(mechanism, username, password);
    const step = async (token: string): Promise<string> => {
      let res: SaslAuthenticateResponse;
      try {
        res = await this.call<SaslAuthenticateResponse>(36, V.saslAuthenticate, { authBytes: Buffer.from(token) });
      } catch (err) {
        // The broker closes the connection after a failed login; the close may win the race.
        throw new KafkaAdminError("AuthenticationFailed", `SASL ${mechanism} login as ${username}: ${(err as Error).message}`);
      }
      if (res.errorCode !== 0) throw new KafkaAdminError("AuthenticationFailed", `SASL ${mechanism} login as ${username}: ${res.errorMessage ?? errorInfo(res.errorCode).name}`);
      return res.authBytes.toString();
    };
    const serverFirst = await step(scram.first());
    const serverFinal = await step(scram.final(serverFirst));
    if (!scram.verify(serverFinal)) throw new KafkaAdminError("AuthenticationFailed", "the broker's SCRAM signature is wrong: it does not hold this user's credential");
  }

  /** Sets the user's SCRAM credential for `mechanism` (salted here; the password never goes on the wire). */
  async upsertScram(user: string, mechanism: ScramMechanism, password: string, iterations = 8192): Promise<void> {
    const salt = crypto.randomBytes(32);
    const res = await this.call<AlterUserScramCredentialsResponse>(51, V.alterScram, {
      deletions: [],
      upsertions: [{ name: user, mechanism: SCRAM_MECHANISM_CODE[mechanism], iterations, salt, saltedPassword: saltPassword(mechanism, password, salt, iterations) }],
    });
    for (const r of res.results) if (r.errorCode !== 0) throw refused(`storing the SCRAM credential of ${user}`, r.errorCode, r.errorMessage);
  }

  /** Removes the user's credentials for these mechanisms; a missing one is not an error. */
  async deleteScram(user: string, mechanisms: readonly ScramMechanism[]): Promise<void> {
    for (const mechanism of mechanisms) {
      const res = await this.call<AlterUserScramCredentialsResponse>(51, V.alterScram, { deletions: [{ name: user, mechanism: SCRAM_MECHANISM_CODE[mechanism] }], upsertions: [] });
      for (const r of res.results) {
        if (r.errorCode !== 0 && errorInfo(r.errorCode).name !== "RESOURCE_NOT_FOUND") throw refused(`deleting the ${mechanism} credential of ${user}`, r.errorCode, r.errorMessage);
      }
    }
  }

  /** Every ACL whose principal is `principal`. */
  async aclsOf(principal: string): Promise<AclBinding[]> {
    // ANY for every code: resource type 1, pattern type 1, operation 1, permission 1.
    const filter: DescribeAclsRequest = { resourceTypeFilter: 1, resourceNameFilter: null, patternTypeFilter: 1, principalFilter: principal, hostFilter: null, operation: 1, permissionType: 1 };
    const res = await this.call<DescribeAclsResponse>(29, V.describeAcls, filter);
    if (res.errorCode !== 0) throw refused(`listing the ACLs of ${principal}`, res.errorCode, res.errorMessage);
    return res.resources.flatMap((r) => r.acls.map((a) => ({ resourceType: r.resourceType, resourceName: r.resourceName, patternType: r.patternType, principal: a.principal, host: a.host, operation: a.operation, permissionType: a.permissionType })));
  }

  async createAcls(acls: readonly AclBinding[]): Promise<void> {
    if (!acls.length) return;
    const creations: CreateAclsRequestAclCreation[] = acls.map((a) => ({ resourceType: a.resourceType, resourceName: a.resourceName, resourcePatternType: a.patternType, principal: a.principal, host: a.host, operation: a.operation, permissionType: a.permissionType }));
    const res = await this.call<CreateAclsResponse>(30, V.createAcls, { creations });
    res.results.forEach((r, i) => {
      if (r.errorCode !== 0) throw refused(`creating ACL ${describeAcl(acls[i]!)}`, r.errorCode, r.errorMessage);
    });
  }

  /** Deletes exactly these bindings (each as a filter that matches only itself). */
  async deleteAcls(acls: readonly AclBinding[]): Promise<void> {
    if (!acls.length) return;
    const filters: DeleteAclsRequestFilter[] = acls.map((a) => ({ resourceTypeFilter: a.resourceType, resourceNameFilter: a.resourceName, patternTypeFilter: a.patternType, principalFilter: a.principal, hostFilter: a.host, operation: a.operation, permissionType: a.permissionType }));
    const res = await this.call<DeleteAclsResponse>(31, V.deleteAcls, { filters });
    res.filterResults.forEach((r, i) => {
      if (r.errorCode !== 0) throw refused(`deleting ACL ${describeAcl(acls[i]!)}`, r.errorCode, r.errorMessage);
    });
  }

  /** The quotas set for exactly this user (no client-id part), key -> value. */
  async quotasOfUser(user: string): Promise<Map<string, number>> {
    const res = await this.call<DescribeClientQuotasResponse>(48, V.describeQuotas, { components: [{ entityType: "user", matchType: 0, match: user }], strict: true });
    if (res.errorCode !== 0) throw refused(`listing the quotas of ${user}`, res.errorCode, res.errorMessage);
    return new Map((res.entries ?? []).flatMap((e) => e.values.map((v) => [v.key, v.value] as const)));
  }

  /** Sets `set` and removes `remove` on the user's own quota entity, in one change. */
  async alterUserQuotas(user: string, set: ReadonlyMap<string, number>, remove: readonly string[]): Promise<void> {
    if (set.size === 0 && remove.length === 0) return;
    const ops = [...[...set].map(([key, value]) => ({ key, value, remove: false })), ...remove.map((key) => ({ key, value: 0, remove: true }))];
    const res = await this.call<AlterClientQuotasResponse>(49, V.alterQuotas, { entries: [{ entity: [{ entityType: "user", entityName: user }], ops }], validateOnly: false });
    for (const e of res.entries) if (e.errorCode !== 0) throw refused(`setting the quotas of ${user}`, e.errorCode, e.errorMessage);
  }

  close(): void {
    this.failure ??= new KafkaAdminError("Unreachable", "closed");
    this.socket?.destroy();
    this.socket = null;
  }
}

function refused(what: string, code: number, message: string | null): KafkaAdminError {
  const info = errorInfo(code);
  return new KafkaAdminError("Refused", `${what}: ${info.name}${message ? ` (${message})` : ""}`);
}

export function describeAcl(a: AclBinding): string {
  return `${a.permissionType === 2 ? "DENY" : "ALLOW"} ${a.principal} op ${a.operation} on type ${a.resourceType} ${a.patternType === 4 ? "prefix" : "name"} ${a.resourceName} from ${a.host}`;
}
