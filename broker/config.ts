import { ConfigError, type Env } from "../src/common/config.js";

/**
 * Every broker setting, in one table: the environment variable, its default and what it
 * does. docs/configuration.md is checked against this table by a test, so the reference
 * cannot drift from the code.
 */
/** Kafka's listener security protocols. */
export const SECURITY_PROTOCOLS = ["PLAINTEXT", "SASL_PLAINTEXT", "SSL", "SASL_SSL"] as const;
export type SecurityProtocol = (typeof SECURITY_PROTOCOLS)[number];

export const BROKER_SETTINGS = {
  host: { env: "FLOE_HOST", kind: "string", default: "0.0.0.0", doc: "Address the Kafka listener binds to (without FLOE_LISTENERS), and the HTTP port's bind address." },
  port: { env: "FLOE_PORT", kind: "int", default: 9092, min: 0, max: 65535, doc: "Kafka listener port (0 picks a free port). Not allowed with FLOE_LISTENERS." },
  advertisedHost: { env: "FLOE_ADVERTISED_HOST", kind: "string", default: "", doc: "Host given to clients in Metadata responses. Empty: the bind host, or `localhost` when binding to all interfaces. Not allowed with FLOE_LISTENERS (use FLOE_ADVERTISED_LISTENERS)." },
  advertisedPort: { env: "FLOE_ADVERTISED_PORT", kind: "int", default: 0, min: 0, max: 65535, doc: "Port given to clients in Metadata responses. 0: the listener's port. Not allowed with FLOE_LISTENERS." },
  securityProtocol: { env: "FLOE_SECURITY_PROTOCOL", kind: "enum", values: SECURITY_PROTOCOLS, default: "PLAINTEXT", doc: "Security of the Kafka listener (Kafka's listener security protocol). `SASL_*`: every client authenticates with SASL (FLOE_SASL_ENABLED_MECHANISMS) before any request but ApiVersions, SaslHandshake and SaslAuthenticate. `SSL`, `SASL_SSL`: TLS with FLOE_TLS_CERT_FILE and FLOE_TLS_KEY_FILE. Without FLOE_LISTENERS the one listener is named after its protocol (e.g. `PLAINTEXT`); not allowed with FLOE_LISTENERS (use FLOE_LISTENER_SECURITY_PROTOCOL_MAP)." },
  listeners: { env: "FLOE_LISTENERS", kind: "string", default: "", doc: "Named Kafka listeners, one per purpose (Kafka's `listeners`): comma-separated `NAME://host:port`, e.g. `INTERNAL://0.0.0.0:9092,EXTERNAL://0.0.0.0:9094`. Names are case-insensitive (kept upper case), ports distinct; an empty host binds all interfaces, port 0 picks a free one. Each listener has its own security protocol (FLOE_LISTENER_SECURITY_PROTOCOL_MAP), and clients are told the brokers' addresses on the listener they connected through. Empty: one listener from FLOE_HOST, FLOE_PORT, FLOE_ADVERTISED_HOST, FLOE_ADVERTISED_PORT and FLOE_SECURITY_PROTOCOL." },
  advertisedListeners: { env: "FLOE_ADVERTISED_LISTENERS", kind: "string", default: "", doc: "What clients are told per listener (Kafka's `advertised.listeners`): comma-separated `NAME://host:port`, each NAME one of FLOE_LISTENERS, e.g. `INTERNAL://floe-0.floe-brokers:9092,EXTERNAL://broker0.example.com:9094`. Port 0: the port the listener bound. A listener left out advertises its bind host (`localhost` for all interfaces) and port." },
  listenerSecurityProtocolMap: { env: "FLOE_LISTENER_SECURITY_PROTOCOL_MAP", kind: "string", default: "", doc: "Security protocol of each listener (Kafka's `listener.security.protocol.map`): comma-separated `NAME:PROTOCOL`, PROTOCOL one of `PLAINTEXT`, `SASL_PLAINTEXT`, `SSL`, `SASL_SSL`, e.g. `INTERNAL:PLAINTEXT,EXTERNAL:SASL_SSL`. A listener named after a protocol needs no entry. All TLS listeners share FLOE_TLS_*, all SASL listeners FLOE_SASL_*." },
  interBrokerListenerName: { env: "FLOE_INTER_BROKER_LISTENER_NAME", kind: "string", default: "", doc: "`multi`: the listener whose advertised host the other brokers use to reach this one's HTTP port, when FLOE_INTERNAL_URL is empty (Kafka's `inter.broker.listener.name`; brokers talk to each other over HTTP, not Kafka). Empty: the first of FLOE_LISTENERS." },
  tlsCertFile: { env: "FLOE_TLS_CERT_FILE", kind: "string", default: "", doc: "PEM certificate (chain) of the TLS listeners (all of them share it), e.g. `tls.crt` of a mounted Secret. Re-read every FLOE_TLS_RELOAD_INTERVAL_MS; new connections get a renewed certificate without a restart. An expired certificate stops the broker at start-up; an unusable replacement is logged and the current one kept." },
  tlsKeyFile: { env: "FLOE_TLS_KEY_FILE", kind: "string", default: "", doc: "PEM private key of FLOE_TLS_CERT_FILE (e.g. `tls.key`)." },
  tlsCaFile: { env: "FLOE_TLS_CA_FILE", kind: "string", default: "", doc: "PEM bundle of the CAs client certificates must chain to (e.g. `ca.crt`); needed when FLOE_TLS_CLIENT_AUTH is not `none`." },
  tlsClientAuth: { env: "FLOE_TLS_CLIENT_AUTH", kind: "enum", values: ["none", "requested", "required"], default: "none", doc: "Client certificates (Kafka's ssl.client.auth). `required`: mutual TLS, no certificate no connection. `requested`: clients may present one; a bad one is refused. On `SSL` a verified certificate names the principal (FLOE_TLS_PRINCIPAL); on `SASL_SSL` the SASL login does." },
  tlsPrincipal: { env: "FLOE_TLS_PRINCIPAL", kind: "enum", values: ["dn", "cn"], default: "dn", doc: "Principal of a client certificate on an `SSL` listener: `dn`, `User:` and the subject as an RFC 2253 name (`User:CN=app,O=acme`, Kafka's default); `cn`, `User:` and the common name." },
  tlsReloadIntervalMs: { env: "FLOE_TLS_RELOAD_INTERVAL_MS", kind: "int", default: 30_000, min: 0, max: 86_400_000, doc: "How often the TLS files are re-read for a renewed certificate (content, not modification time, decides, so a Kubernetes Secret's symlink swap is seen). 0: never." },
  saslEnabledMechanisms: { env: "FLOE_SASL_ENABLED_MECHANISMS", kind: "string", default: "SCRAM-SHA-256,SCRAM-SHA-512", doc: "Comma-separated SASL mechanisms offered: `SCRAM-SHA-256`, `SCRAM-SHA-512`, `PLAIN`. PLAIN sends the password itself, so enable it only where the connection is encrypted or trusted; it is checked against the same salted SCRAM credentials." },
  saslUsersFile: { env: "FLOE_SASL_USERS_FILE", kind: "string", default: "", doc: "File of `user:password` lines (`#` starts a comment), e.g. a mounted Secret, to bootstrap the first users. At start-up each listed user gets SCRAM-SHA-256 and SCRAM-SHA-512 credentials in the metadata log, salted, unless the stored ones already match the password; the password itself is never stored. Users not in the file are left alone." },
  scramIterations: { env: "FLOE_SCRAM_ITERATIONS", kind: "int", default: 8192, min: 4096, max: 16384, doc: "PBKDF2 iterations of the SCRAM credentials made from FLOE_SASL_USERS_FILE (clients choose their own in AlterUserScramCredentials)." },
  saslSessionLifetimeMs: { env: "FLOE_SASL_SESSION_LIFETIME_MS", kind: "int", default: 0, min: 0, max: 2 ** 31 - 1, doc: "Kafka's connections.max.reauth.ms: an authenticated connection must re-authenticate (KIP-368) within this time, told to clients in SaslAuthenticate v1+; a request after it closes the connection. 0: sessions never expire." },
  saslMaxReceiveBytes: { env: "FLOE_SASL_MAX_RECEIVE_BYTES", kind: "int", default: 524_288, min: 1024, max: 104_857_600, doc: "Largest request frame accepted before a connection has authenticated (Kafka's sasl.server.max.receive.size)." },
  superUsers: { env: "FLOE_SUPER_USERS", kind: "string", default: "", doc: "Semicolon-separated principals allowed everything, e.g. `User:admin;User:ops` (Kafka's super.users). When set, only they may describe or alter SCRAM users (DescribeUserScramCredentials, AlterUserScramCredentials); when empty, any authenticated client may, as in Kafka without an authorizer." },
  authorizer: { env: "FLOE_AUTHORIZER", kind: "enum", values: ["none", "acl"], default: "none", doc: "Kafka's authorizer.class.name. `none`: every authenticated client may do everything. `acl`: every request is checked against the ACLs (CreateAcls, DeleteAcls, `kafka-acls`) kept in the metadata log; what no ACL allows is denied, a DENY beats an ALLOW, FLOE_SUPER_USERS are allowed everything." },
  nodeId: { env: "FLOE_NODE_ID", kind: "int", default: 1, min: 0, max: 2 ** 31 - 1, doc: "Broker id. Ignored when FLOE_POD_INDEX is set." },
  nodeIdBase: { env: "FLOE_NODE_ID_BASE", kind: "int", default: 0, min: 0, max: 2 ** 31 - 1, doc: "With FLOE_POD_INDEX: the broker id is this base plus the pod index (the operator sets zoneIndex * 1000), so ids never depend on the ordinal alone." },
  podIndex: { env: "FLOE_POD_INDEX", kind: "int", default: -1, min: -1, max: 100_000, doc: "The StatefulSet pod index (from the pod-index label); -1: use FLOE_NODE_ID." },
  rack: { env: "FLOE_ZONE", kind: "string", default: "", doc: "Zone (rack) of this broker, reported as the broker's rack." },
  dataDir: { env: "FLOE_DATA_DIR", kind: "string", default: "./data", doc: "Local folder for the WAL and, with the local object store, for objects." },
  httpPort: { env: "FLOE_HTTP_PORT", kind: "int", default: 9080, min: -1, max: 65535, doc: "Port of `/metrics`, `/healthz`, `/readyz` (0 picks a free port, -1 disables)." },
  maxRequestBytes: { env: "FLOE_MAX_REQUEST_BYTES", kind: "int", default: 104_857_600, min: 1024, max: 2 ** 31 - 1, doc: "Largest request frame accepted; larger frames close the connection (Kafka's socket.request.max.bytes)." },
  maxInFlightRequestsPerConnection: { env: "FLOE_MAX_INFLIGHT_PER_CONNECTION", kind: "int", default: 64, min: 1, max: 10_000, doc: "Pipelined requests processed at once per connection; reading pauses beyond it." },
  autoCreateTopics: { env: "FLOE_AUTO_CREATE_TOPICS", kind: "bool", default: true, doc: "Create a topic when a client asks for metadata or produces to an unknown one (Kafka's auto.create.topics.enable)." },
  defaultPartitions: { env: "FLOE_DEFAULT_PARTITIONS", kind: "int", default: 1, min: 1, max: 100_000, doc: "Partitions of auto-created topics and of CreateTopics requests that ask for -1." },
  messageMaxBytes: { env: "FLOE_MESSAGE_MAX_BYTES", kind: "int", default: 1_048_588, min: 1024, max: 2 ** 31 - 1, doc: "Default max.message.bytes: the largest record batch accepted for a topic." },
  offsetsPartitions: { env: "FLOE_OFFSETS_PARTITIONS", kind: "int", default: 8, min: 1, max: 1000, doc: "Partitions of the internal `__consumer_offsets` topic (fixed once created)." },
  quotaWindowSamples: { env: "FLOE_QUOTA_WINDOW_SAMPLES", kind: "int", default: 11, min: 2, max: 100, doc: "Client quotas (AlterClientQuotas, `kafka-configs`): byte rates are measured over this many samples (Kafka's quota.window.num)." },
  quotaWindowSampleMs: { env: "FLOE_QUOTA_WINDOW_SAMPLE_MS", kind: "int", default: 1000, min: 100, max: 60_000, doc: "Length of one client-quota sample (Kafka's quota.window.size.seconds, in ms). A client over its quota is throttled for up to samples × this." },
  transactionPartitions: { env: "FLOE_TRANSACTION_PARTITIONS", kind: "int", default: 8, min: 1, max: 1000, doc: "Partitions of the internal `__transaction_state` topic (fixed once created)." },
  transactionMaxTimeoutMs: { env: "FLOE_TRANSACTION_MAX_TIMEOUT_MS", kind: "int", default: 900_000, min: 1000, max: 2 ** 31 - 1, doc: "Largest transaction.timeout.ms a producer may ask for (Kafka's transaction.max.timeout.ms); a transaction open longer is aborted." },
  groupInitialRebalanceDelayMs: { env: "FLOE_GROUP_INITIAL_REBALANCE_DELAY_MS", kind: "int", default: 3000, min: 0, max: 300_000, doc: "Wait for more members before the first rebalance of an empty group." },
  groupMinSessionTimeoutMs: { env: "FLOE_GROUP_MIN_SESSION_TIMEOUT_MS", kind: "int", default: 6000, min: 1, max: 2 ** 31 - 1, doc: "Smallest session timeout a consumer may ask for." },
  groupMaxSessionTimeoutMs: { env: "FLOE_GROUP_MAX_SESSION_TIMEOUT_MS", kind: "int", default: 1_800_000, min: 1, max: 2 ** 31 - 1, doc: "Largest session timeout a consumer may ask for." },
  walType: { env: "FLOE_WAL_TYPE", kind: "enum", values: ["file", "nfs", "s3"], default: "file", doc: "WAL backend. `file`: a local or block-volume folder. `nfs`: a folder per broker (`<FLOE_WAL_DIR>/<FLOE_NODE_ID>/`) on a shared RWX volume, so any broker can recover it. `s3`: no volume, batches are put as WAL objects to the object store." },
  walDir: { env: "FLOE_WAL_DIR", kind: "string", default: "", doc: "WAL folder. For `file`, the WAL itself; for `nfs`, the shared volume's root holding one folder per broker. Empty: `<FLOE_DATA_DIR>/wal`." },
  walFlushIntervalMs: { env: "FLOE_WAL_FLUSH_INTERVAL_MS", kind: "int", default: 250, min: 1, max: 60_000, doc: "`s3` WAL: longest time an append waits before its batch is put as a WAL object." },
  walFlushMinIntervalMs: { env: "FLOE_WAL_FLUSH_MIN_INTERVAL_MS", kind: "int", default: 150, min: 0, max: 60_000, doc: "`s3` WAL: once appends pause (the producers wait for acknowledgements), the batch is put early, but never sooner than this after the previous put; this bounds the WAL's puts per second. At or above `FLOE_WAL_FLUSH_INTERVAL_MS`: no early puts." },
  walFlushBytes: { env: "FLOE_WAL_FLUSH_BYTES", kind: "int", default: 4_194_304, min: 1024, max: 268_435_456, doc: "`s3` WAL: pending bytes that trigger a WAL object put before the interval ends." },
  walMaxBytes: { env: "FLOE_WAL_MAX_BYTES", kind: "int", default: 1_073_741_824, min: 1_048_576, max: Number.MAX_SAFE_INTEGER, doc: "WAL size bound; when reached, produce fails with a retriable error until the uploader trims it." },
  objectStore: { env: "FLOE_OBJECT_STORE", kind: "enum", values: ["local", "s3"], default: "local", doc: "Object store backend. `local` keeps objects under the data folder; `s3` uses an S3 bucket or any S3-compatible server (`FLOE_S3_*`)." },
  s3Bucket: { env: "FLOE_S3_BUCKET", kind: "string", default: "", doc: "Bucket of the `s3` object store (required with `FLOE_OBJECT_STORE=s3`)." },
  s3Prefix: { env: "FLOE_S3_PREFIX", kind: "string", default: "", doc: "Prefix of every object key inside the bucket, e.g. `cluster-a/` (several clusters can share a bucket)." },
  s3Region: { env: "FLOE_S3_REGION", kind: "string", default: "", doc: "Region of the bucket. Empty: `AWS_REGION` / the SDK's default chain, else `us-east-1`." },
  s3Endpoint: { env: "FLOE_S3_ENDPOINT", kind: "string", default: "", doc: "Endpoint of an S3-compatible server (e.g. `http://minio:9000`). Empty: AWS S3 for the region." },
  s3ForcePathStyle: { env: "FLOE_S3_FORCE_PATH_STYLE", kind: "bool", default: false, doc: "Path-style requests (`endpoint/bucket/key`) instead of virtual-hosted style; most S3-compatible servers need it." },
  s3AccessKeyId: { env: "FLOE_S3_ACCESS_KEY_ID", kind: "string", default: "", doc: "Static access key (tests and development). Empty: the SDK's default credential chain (env, profile, IRSA, instance role). Never logged." },
  s3SecretAccessKey: { env: "FLOE_S3_SECRET_ACCESS_KEY", kind: "string", default: "", doc: "Secret of the static access key. Never logged." },
  s3RequestTimeoutMs: { env: "FLOE_S3_REQUEST_TIMEOUT_MS", kind: "int", default: 30_000, min: 100, max: 3_600_000, doc: "Bound of one S3 request attempt, response body included; a timed-out attempt is retried." },
  s3MaxAttempts: { env: "FLOE_S3_MAX_ATTEMPTS", kind: "int", default: 8, min: 1, max: 100, doc: "Attempts per S3 call on 5xx, SlowDown, throttling, resets and timeouts (full-jitter exponential backoff); other 4xx are never retried." },
  s3RetryMaxElapsedMs: { env: "FLOE_S3_RETRY_MAX_ELAPSED_MS", kind: "int", default: 60_000, min: 0, max: 3_600_000, doc: "No new attempt of an S3 call starts after this much time since its first." },
  s3MultipartThresholdBytes: { env: "FLOE_S3_MULTIPART_THRESHOLD_BYTES", kind: "int", default: 67_108_864, min: 5_242_880, max: 5_368_709_120, doc: "Objects of at least this size are uploaded in parts (8 MiB each, 4 at once). The default is above the largest object Floe writes (uploads and compactions stay at or under 64 MiB), so each object costs one PUT request." },
  s3UploadChecksum: { env: "FLOE_S3_UPLOAD_CHECKSUM", kind: "enum", values: ["crc32c", "md5"], default: "crc32c", doc: "How S3 verifies each uploaded object. `crc32c`: the `x-amz-checksum-crc32c` header, derived from the checksums Floe already keeps (no extra pass over the bytes; AWS S3 and MinIO check it). `md5`: Content-MD5, one hash pass per object, for S3-compatible servers that do not support the newer checksums." },
  cacheBytesMax: { env: "FLOE_CACHE_BYTES_MAX", kind: "int", default: 268_435_456, min: 0, max: Number.MAX_SAFE_INTEGER, doc: "Bound of the in-memory tail cache of recent record batches. Their memory is in reused slabs, which add at most two uploads (2 × 64 MiB, for batches not yet in objects) above it." },
  blockCacheBytesMax: { env: "FLOE_BLOCK_CACHE_BYTES_MAX", kind: "int", default: 67_108_864, min: 0, max: Number.MAX_SAFE_INTEGER, doc: "Bound of the cache of object blocks read back from the object store (LRU): consumers reading behind the tail cache, and read-ahead, land here." },
  readAheadBytesMax: { env: "FLOE_READ_AHEAD_BYTES_MAX", kind: "int", default: 33_554_432, min: 0, max: Number.MAX_SAFE_INTEGER, doc: "Bound of the object blocks being fetched ahead of sequential readers at once, over all partitions (at most 4 blocks, 4 MiB, per partition). 0 turns read-ahead off." },
  uploadIntervalMs: { env: "FLOE_UPLOAD_INTERVAL_MS", kind: "int", default: 2000, min: 10, max: 3_600_000, doc: "How often WAL contents are turned into stream-set objects." },
  clusterMode: { env: "FLOE_CLUSTER_MODE", kind: "enum", values: ["standalone", "multi"], default: "standalone", doc: "`standalone`: this broker leads every partition and is its own controller (the embedded default). `multi`: brokers sharing one object store (and metadata log) form a cluster: one is elected controller through the lease object, every broker registers and heartbeats, and partition leadership is spread and moved without copying data (docs/architecture.md)." },
  internalUrl: { env: "FLOE_INTERNAL_URL", kind: "string", default: "", doc: "`multi`: where the other brokers reach this one's HTTP port for controller calls, partition releases and transaction calls (markers, offsets, produce verification), e.g. `http://floe-1.floe-brokers:9080`. Empty: `http://<advertised host of FLOE_INTER_BROKER_LISTENER_NAME>:<FLOE_HTTP_PORT>`." },
  brokerSessionTimeoutMs: { env: "FLOE_BROKER_SESSION_TIMEOUT_MS", kind: "int", default: 9000, min: 1000, max: 300_000, doc: "`multi`: a broker that sends no heartbeat for this long is declared dead and its partitions move (after its WAL is recovered). A broker stops acknowledging writes on its own before this, so a cut-off broker never acknowledges a write that its successor cannot see." },
  controllerLeaseMs: { env: "FLOE_CONTROLLER_LEASE_MS", kind: "int", default: 6000, min: 500, max: 300_000, doc: "`multi`: time to live of the controller lease object; a new controller takes over within about this long after the old one dies. Must be shorter than FLOE_BROKER_SESSION_TIMEOUT_MS." },
  heartbeatIntervalMs: { env: "FLOE_HEARTBEAT_INTERVAL_MS", kind: "int", default: 1000, min: 50, max: 60_000, doc: "`multi`: how often a broker heartbeats to the controller (and renews its write lease)." },
  metadataPollIntervalMs: { env: "FLOE_METADATA_POLL_INTERVAL_MS", kind: "int", default: 200, min: 10, max: 60_000, doc: "`multi`: how often a broker reads metadata-log entries other brokers appended (leader moves, other leaders' objects, topics). Each poll is one GET to the object store." },
  drainTimeoutMs: { env: "FLOE_DRAIN_TIMEOUT_MS", kind: "int", default: 90_000, min: 1000, max: 3_600_000, doc: "`multi`: how long `/admin/v1/drain` waits for the controller to move this broker's partitions away before it answers 503. The default leaves room within the 120 s terminationGracePeriodSeconds the operator sets." },
  loadReportIntervalMs: { env: "FLOE_LOAD_REPORT_INTERVAL_MS", kind: "int", default: 10_000, min: 100, max: 600_000, doc: "`multi`: how often a broker sends the controller its bytes in and out per led partition (with a heartbeat), the rates the controller balances leaders by." },
  loadBalanceThresholdPercent: { env: "FLOE_LOAD_BALANCE_THRESHOLD_PERCENT", kind: "int", default: 20, min: 0, max: 1000, doc: "`multi`: the controller moves leaders for load (swapping two partitions of one topic, so counts stay balanced) when the busiest broker carries more than the mean load by this percentage and by FLOE_LOAD_BALANCE_MIN_BYTES_PER_SEC." },
  loadBalanceMinBytesPerSec: { env: "FLOE_LOAD_BALANCE_MIN_BYTES_PER_SEC", kind: "int", default: 1_048_576, min: 0, max: 1_073_741_824, doc: "`multi`: the smallest excess over the mean load (bytes in + out per second) that is worth moving leaders for." },
  loadBalanceCooldownMs: { env: "FLOE_LOAD_BALANCE_COOLDOWN_MS", kind: "int", default: 300_000, min: 0, max: 86_400_000, doc: "`multi`: a partition whose leader moved is not moved for load again within this time, and load rounds run at most this often divided by 10, so noisy rates cannot make leaders flap." },
  fetchMaxWaitMsCap: { env: "FLOE_FETCH_MAX_WAIT_MS_CAP", kind: "int", default: 30_000, min: 0, max: 300_000, doc: "Upper bound on a Fetch request's max.wait.ms." },
  logLevel: { env: "FLOE_LOG_LEVEL", kind: "enum", values: ["trace", "debug", "info", "warn", "error", "fatal", "silent"], default: "info", doc: "pino log level." },
} as const;

type Settings = typeof BROKER_SETTINGS;
type ValueOf<S> = S extends { kind: "int" } ? number : S extends { kind: "bool" } ? boolean : S extends { kind: "enum"; values: readonly (infer V)[] } ? V : string;
export type BrokerConfig = { -readonly [K in keyof Settings]: ValueOf<Settings[K]> };

/** Reads the broker's configuration from the environment; throws ConfigError naming the bad variable. */
export function loadBrokerConfig(env: Env = process.env, overrides: Partial<BrokerConfig> = {}): BrokerConfig {
  const out: Record<string, unknown> = {};
  for (const [key, s] of Object.entries(BROKER_SETTINGS) as [keyof Settings, Settings[keyof Settings]][]) {
    const raw = env[s.env];
    if (raw === undefined || raw === "") {
      out[key] = s.default;
      continue;
    }
    const value = raw.trim();
    switch (s.kind) {
      case "int": {
        if (!/^-?\d+$/.test(value)) throw new ConfigError(`${s.env} must be an integer, got ${JSON.stringify(raw)}`);
        const n = Number(value);
        if (n < s.min || n > s.max) throw new ConfigError(`${s.env} must be between ${s.min} and ${s.max}, got ${n}`);
        out[key] = n;
        break;
      }
      case "bool": {
        const v = value.toLowerCase();
        if (["1", "true", "yes", "on"].includes(v)) out[key] = true;
        else if (["0", "false", "no", "off"].includes(v)) out[key] = false;
        else throw new ConfigError(`${s.env} must be true or false, got ${JSON.stringify(raw)}`);
        break;
      }
      case "enum":
        if (!(s.values as readonly string[]).includes(value)) throw new ConfigError(`${s.env} must be one of ${s.values.join(", ")}, got ${JSON.stringify(raw)}`);
        out[key] = value;
        break;
      default:
        out[key] = value;
    }
  }
  const config = { ...(out as BrokerConfig), ...overrides };
  if (config.podIndex >= 0 && overrides.nodeId === undefined) config.nodeId = config.nodeIdBase + config.podIndex;
  if (config.groupMinSessionTimeoutMs > config.groupMaxSessionTimeoutMs) {
    throw new ConfigError("FLOE_GROUP_MIN_SESSION_TIMEOUT_MS must not exceed FLOE_GROUP_MAX_SESSION_TIMEOUT_MS");
  }
  saslMechanismsOf(config);
  superUsersOf(config);
  if (config.clusterMode === "multi") {
    if (config.controllerLeaseMs >= config.brokerSessionTimeoutMs) throw new ConfigError("FLOE_CONTROLLER_LEASE_MS must be shorter than FLOE_BROKER_SESSION_TIMEOUT_MS, so a new controller takes over before brokers are declared dead");
    if (config.heartbeatIntervalMs * 3 > config.brokerSessionTimeoutMs) throw new ConfigError("FLOE_HEARTBEAT_INTERVAL_MS must be at most a third of FLOE_BROKER_SESSION_TIMEOUT_MS, so one lost heartbeat does not fence a broker");
    if (config.httpPort < 0) throw new ConfigError("FLOE_CLUSTER_MODE=multi needs the HTTP port (FLOE_HTTP_PORT >= 0): brokers reach the controller and each other through it");
  }
  if (!config.listeners) {
    const named = [BROKER_SETTINGS.advertisedListeners, BROKER_SETTINGS.listenerSecurityProtocolMap].map((s) => s.env).filter((name) => env[name]);
    if (named.length > 0) throw new ConfigError(`${named.join(", ")} needs FLOE_LISTENERS: the listeners they name`);
  } else {
    // These describe the single listener; with named listeners they would be silently ignored.
    const single = [BROKER_SETTINGS.port, BROKER_SETTINGS.advertisedHost, BROKER_SETTINGS.advertisedPort, BROKER_SETTINGS.securityProtocol].map((s) => s.env).filter((name) => env[name]);
    if (single.length > 0) throw new ConfigError(`${single.join(", ")} cannot be combined with FLOE_LISTENERS: set the port in FLOE_LISTENERS, the address in FLOE_ADVERTISED_LISTENERS and the protocol in FLOE_LISTENER_SECURITY_PROTOCOL_MAP`);
  }
  const listeners = listenersOf(config);
  interBrokerListenerOf(config, listeners);
  const tlsListener = listeners.find((l) => usesTls(l.protocol));
  if (tlsListener) {
    const what = config.listeners ? `listener ${tlsListener.name} (${tlsListener.protocol})` : `FLOE_SECURITY_PROTOCOL=${tlsListener.protocol}`;
    if (!config.tlsCertFile || !config.tlsKeyFile) throw new ConfigError(`${what} needs FLOE_TLS_CERT_FILE and FLOE_TLS_KEY_FILE`);
    if (config.tlsClientAuth !== "none" && !config.tlsCaFile) throw new ConfigError(`FLOE_TLS_CLIENT_AUTH=${config.tlsClientAuth} needs FLOE_TLS_CA_FILE`);
  }
  return config;
}

/** One Kafka listener: where it binds, its security, and what clients are told to dial. */
export interface ListenerConfig {
  /** Upper case, e.g. `INTERNAL`; without FLOE_LISTENERS, the protocol's name (`PLAINTEXT`). */
  name: string;
  host: string;
  /** 0: a free port, picked when the listener binds. */
  port: number;
  protocol: SecurityProtocol;
  advertisedHost: string;
  /** 0: the port the listener bound. */
  advertisedPort: number;
}

export const usesTls = (p: SecurityProtocol) => p === "SSL" || p === "SASL_SSL";
export const usesSasl = (p: SecurityProtocol) => p === "SASL_PLAINTEXT" || p === "SASL_SSL";

const isWildcard = (host: string) => host === "0.0.0.0" || host === "::";

/**
 * The Kafka listeners, in the order configured: FLOE_LISTENERS with their protocols and
 * advertised addresses, or without it the one listener of FLOE_HOST / FLOE_PORT /
 * FLOE_SECURITY_PROTOCOL (a list of one, so the rest of the broker has one code path).
 * Throws ConfigError naming the variable and entry at fault.
 */
export function listenersOf(config: BrokerConfig): ListenerConfig[] {
  if (!config.listeners) {
    return [{ name: config.securityProtocol, host: config.host, port: config.port, protocol: config.securityProtocol, advertisedHost: advertisedHostOf(config), advertisedPort: config.advertisedPort }];
  }
  const bound = listenerAddresses("FLOE_LISTENERS", config.listeners);
  if (bound.length === 0) throw new ConfigError("FLOE_LISTENERS names no listener");
  const ports = new Map<number, string>();
  for (const l of bound) {
    const other = ports.get(l.port);
    if (other !== undefined) throw new ConfigError(`FLOE_LISTENERS: listeners ${other} and ${l.name} both use port ${l.port}`);
    if (l.port !== 0) ports.set(l.port, l.name);
  }
  const names = new Set(bound.map((l) => l.name));
  const protocols = new Map<string, SecurityProtocol>();
  for (const entry of entriesOf(config.listenerSecurityProtocolMap)) {
    const at = entry.lastIndexOf(":");
    const name = entry.slice(0, at).trim().toUpperCase();
    const protocol = entry.slice(at + 1).trim();
    if (at <= 0 || !(SECURITY_PROTOCOLS as readonly string[]).includes(protocol)) throw new ConfigError(`FLOE_LISTENER_SECURITY_PROTOCOL_MAP: ${JSON.stringify(entry)} is not NAME:PROTOCOL with PROTOCOL one of ${SECURITY_PROTOCOLS.join(", ")}`);
    if (!names.has(name)) throw new ConfigError(`FLOE_LISTENER_SECURITY_PROTOCOL_MAP: ${name} is not a listener in FLOE_LISTENERS`);
    if (protocols.has(name)) throw new ConfigError(`FLOE_LISTENER_SECURITY_PROTOCOL_MAP: ${name} is given twice`);
    protocols.set(name, protocol as SecurityProtocol);
  }
  const advertised = new Map<string, { host: string; port: number }>();
  for (const a of listenerAddresses("FLOE_ADVERTISED_LISTENERS", config.advertisedListeners)) {
    if (!names.has(a.name)) throw new ConfigError(`FLOE_ADVERTISED_LISTENERS: ${a.name} is not a listener in FLOE_LISTENERS`);
    if (!a.host) throw new ConfigError(`FLOE_ADVERTISED_LISTENERS: ${a.name} needs a host clients can reach`);
    advertised.set(a.name, a);
  }
  return bound.map((l) => {
    const protocol = protocols.get(l.name) ?? ((SECURITY_PROTOCOLS as readonly string[]).includes(l.name) ? (l.name as SecurityProtocol) : undefined);
    if (!protocol) throw new ConfigError(`listener ${l.name} has no security protocol: add ${l.name}:PLAINTEXT (or SASL_PLAINTEXT, SSL, SASL_SSL) to FLOE_LISTENER_SECURITY_PROTOCOL_MAP`);
    const host = l.host || "0.0.0.0";
    const adv = advertised.get(l.name);
    return { name: l.name, host, port: l.port, protocol, advertisedHost: adv?.host ?? (isWildcard(host) ? "localhost" : host), advertisedPort: adv?.port ?? 0 };
  });
}

/** The listener named by FLOE_INTER_BROKER_LISTENER_NAME, else the first one. */
export function interBrokerListenerOf(config: BrokerConfig, listeners: ListenerConfig[] = listenersOf(config)): ListenerConfig {
  const wanted = config.interBrokerListenerName.trim().toUpperCase();
  if (!wanted) return listeners[0]!;
  const found = listeners.find((l) => l.name === wanted);
  if (!found) throw new ConfigError(`FLOE_INTER_BROKER_LISTENER_NAME: ${wanted} is not a listener (listeners: ${listeners.map((l) => l.name).join(", ")})`);
  return found;
}

const entriesOf = (list: string) => list.split(",").map((e) => e.trim()).filter(Boolean);

/** `NAME://host:port` entries (IPv6 hosts in brackets); names unique and upper-cased. */
function listenerAddresses(variable: string, list: string): { name: string; host: string; port: number }[] {
  const out: { name: string; host: string; port: number }[] = [];
  for (const entry of entriesOf(list)) {
    const m = /^([A-Za-z][A-Za-z0-9_]*):\/\/(\[[0-9A-Fa-f:.]+\]|[^\s:/[\]]*):(\d{1,5})$/.exec(entry);
    const port = m ? Number(m[3]) : -1;
    if (!m || port > 65535) throw new ConfigError(`${variable}: ${JSON.stringify(entry)} is not NAME://host:port (e.g. INTERNAL://0.0.0.0:9092)`);
    const name = m[1]!.toUpperCase();
    if (out.some((o) => o.name === name)) throw new ConfigError(`${variable}: listener ${name} is given twice`);
    out.push({ name, host: m[2]!.replace(/^\[(.*)\]$/, "$1"), port });
  }
  return out;
}

export const SASL_MECHANISMS = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] as const;
export type SaslMechanism = (typeof SASL_MECHANISMS)[number];

/** The enabled SASL mechanisms, in the order configured; throws ConfigError on an unknown one. */
export function saslMechanismsOf(config: Pick<BrokerConfig, "saslEnabledMechanisms">): SaslMechanism[] {
  const names = config.saslEnabledMechanisms.split(",").map((m) => m.trim()).filter(Boolean);
  for (const n of names) {
    if (!(SASL_MECHANISMS as readonly string[]).includes(n)) throw new ConfigError(`FLOE_SASL_ENABLED_MECHANISMS: unknown mechanism ${JSON.stringify(n)} (supported: ${SASL_MECHANISMS.join(", ")})`);
  }
  if (names.length === 0) throw new ConfigError("FLOE_SASL_ENABLED_MECHANISMS must name at least one mechanism");
  return [...new Set(names)] as SaslMechanism[];
}

/** FLOE_SUPER_USERS as a set of principals (`User:name`). */
export function superUsersOf(config: Pick<BrokerConfig, "superUsers">): Set<string> {
  const out = new Set<string>();
  for (const p of config.superUsers.split(";").map((s) => s.trim()).filter(Boolean)) {
    if (!/^User:.+$/.test(p)) throw new ConfigError(`FLOE_SUPER_USERS: ${JSON.stringify(p)} is not a principal like User:admin`);
    out.add(p);
  }
  return out;
}

/** The host clients should dial: explicit, else the bind host unless it is a wildcard. */
export function advertisedHostOf(config: BrokerConfig): string {
  if (config.advertisedHost) return config.advertisedHost;
  return isWildcard(config.host) ? "localhost" : config.host;
}
