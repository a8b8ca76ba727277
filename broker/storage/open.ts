import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import type { Logger } from "pino";
import { Gauge, Histogram, type Registry } from "prom-client";
import { collectedGauge } from "../../src/common/metrics.js";
import type { BatchHeader } from "../protocol/record-batch.js";
import type { BrokerConfig } from "../config.js";
import { FileWal } from "./file-wal.js";
import { NfsWal, nfsWalDir } from "./nfs-wal.js";
import { ObjectWal } from "./object-wal.js";
import { LocalObjectStore } from "./local-object-store.js";
import { compactStorageRecords, LogStore, STORAGE_RECORD_TYPES } from "./log-store.js";
import { MetadataLog, type MetadataRecord } from "./metadata-log.js";
import type { ObjectStore } from "./object-store.js";
import { S3ObjectStore } from "./s3-object-store.js";

/**
 * Wires the storage of one broker process from its configuration: object store, metadata
 * log, WAL and log store. Start-up is two-phase because the controller must replay its
 * records (and declare partitions) before the WAL replays into those partitions.
 */
export interface Storage {
  readonly objectStore: ObjectStore;
  /** The controller's journal: checked appends to the metadata log (other brokers append too). */
  readonly metadata: { appendChecked<R extends MetadataRecord>(build: () => R | null): Promise<R | null> };
  readonly metadataLog: MetadataLog;
  /** Records of the metadata log that are not storage's own, in order, for the controller to replay. */
  readonly metadataRecords: MetadataRecord[];
  readonly log: LogStore;
  readonly epoch: number;
  /** Bytes the WAL holds that are not yet in objects (0 once everything is uploaded and trimmed). */
  walUsedBytes(): number;
  /** Set once another broker took this broker's shared WAL over: the process must restart (with a new epoch) to write again. */
  walFencedBy(): Error | null;
  /** Replays objects and the WAL into the log store; `onBatch` rebuilds producer state. */
  recover(onBatch?: (topicId: string, partition: number, header: BatchHeader) => void): Promise<void>;
  close(): Promise<void>;
}

export interface OpenStorageOptions {
  config: Pick<BrokerConfig, "walType" | "walMaxBytes" | "objectStore" | "cacheBytesMax" | "blockCacheBytesMax" | "readAheadBytesMax" | "uploadIntervalMs"> & Partial<Pick<BrokerConfig, S3SettingKey | WalSettingKey>>;
  logger: Logger;
  registry?: Registry;
  dataDir: string;
  /** Overrides the configured backend (tests, or the S3 backend once it exists). */
  objectStore?: ObjectStore;
}

export async function openStorage(opts: OpenStorageOptions): Promise<Storage> {
  const { config, logger, dataDir } = opts;
  await fs.mkdir(dataDir, { recursive: true });
  const objectStore = opts.objectStore ?? openObjectStore(config, dataDir, logger, opts.registry);
  // nfs and s3 WALs outlive this broker's data folder (a new pod may start with an empty
  // one): the epoch must also exceed the WAL's fence, or the open would be refused.
  const epoch = await nextEpoch(path.join(dataDir, "epoch"), await walFenceEpoch(config, dataDir, objectStore));
  const metadataLog = await MetadataLog.open({ store: objectStore, compact: compactStorageRecords, logger: logger.child({ component: "metadata-log" }) });
  const wal = await openWal(config, dataDir, epoch, objectStore, logger.child({ component: "wal" }));
  const log = LogStore.create({
    objectStore,
    wal,
    metadata: metadataLog,
    epoch,
    // Broker id, epoch and a random part: unique even when a broker's epoch file was lost.
    writerId: `b${config.nodeId ?? 1}-e${epoch}-${randomBytes(4).toString("hex")}`,
    logger: logger.child({ component: "log-store" }),
    cacheBytesMax: config.cacheBytesMax,
    blockCacheBytesMax: config.blockCacheBytesMax,
    readAheadBytesMax: config.readAheadBytesMax,
    uploadIntervalMs: config.uploadIntervalMs,
  });
  if (opts.registry) registerMetrics(opts.registry, wal, log);
  logger.info({ epoch, metadataEntries: metadataLog.lastIndex().toString(), walType: config.walType, wal: wal.recoveryReport }, "storage opened");
  return {
    objectStore,
    metadata: {
      async appendChecked(build) {
        return ((await metadataLog.appendChecked(build))?.record as ReturnType<typeof build>) ?? null;
      },
    },
    metadataLog,
    metadataRecords: metadataLog.records().filter((r) => !STORAGE_RECORD_TYPES.has(r.type)),
    log,
    epoch,
    walUsedBytes: () => wal.usedBytes(),
    walFencedBy: () => wal.fencedBy(),
    recover: (onBatch) => log.recover(onBatch),
    async close() {
      await log.close();
      await metadataLog.idle();
      if (objectStore instanceof S3ObjectStore && !opts.objectStore) objectStore.destroy();
    },
  };
}

type WalSettingKey = "nodeId" | "walDir" | "walFlushIntervalMs" | "walFlushMinIntervalMs" | "walFlushBytes";

function walDirOf(config: OpenStorageOptions["config"], dataDir: string): string {
  return config.walDir ? path.resolve(config.walDir) : path.join(dataDir, "wal");
}

/** The epoch a previous owner of this broker's shared WAL fenced it at (0 for a private `file` WAL). */
async function walFenceEpoch(config: OpenStorageOptions["config"], dataDir: string, store: ObjectStore): Promise<number> {
  if (config.walType === "nfs") return FileWal.readFence(nfsWalDir(walDirOf(config, dataDir), config.nodeId ?? 1));
  if (config.walType === "s3") return ObjectWal.readFenceEpoch(store, config.nodeId ?? 1);
  return 0;
}

type OpenedWal = FileWal | ObjectWal;

async function openWal(config: OpenStorageOptions["config"], dataDir: string, epoch: number, store: ObjectStore, logger: Logger): Promise<OpenedWal> {
  const segmentBytes = Math.min(64 * 1024 * 1024, Math.max(1024 * 1024, Math.floor(config.walMaxBytes / 16)));
  switch (config.walType) {
    case "file":
      // Its own volume: the fence is re-checked by fingerprint (one stat per group commit).
      return FileWal.open({ dir: walDirOf(config, dataDir), epoch, maxBytes: config.walMaxBytes, segmentBytes, logger, fenceCheck: "stat" });
    case "nfs": {
      const sharedDir = walDirOf(config, dataDir);
      logger.info({ dir: nfsWalDir(sharedDir, config.nodeId ?? 1) }, "WAL: nfs");
      return NfsWal.open({ sharedDir, brokerId: config.nodeId ?? 1, epoch, maxBytes: config.walMaxBytes, segmentBytes, logger });
    }
    case "s3":
      return ObjectWal.open({
        store,
        brokerId: config.nodeId ?? 1,
        epoch,
        maxBytes: config.walMaxBytes,
        flushIntervalMs: config.walFlushIntervalMs ?? 250,
        flushIntervalMinMs: config.walFlushMinIntervalMs ?? 150,
        flushBytes: config.walFlushBytes ?? 4 * 1024 * 1024,
        logger,
      });
    default:
      throw new Error(`WAL type ${String(config.walType)} is not available`);
  }
}

type S3SettingKey =
  | "s3Bucket"
  | "s3Prefix"
  | "s3Region"
  | "s3Endpoint"
  | "s3ForcePathStyle"
  | "s3AccessKeyId"
  | "s3SecretAccessKey"
  | "s3RequestTimeoutMs"
  | "s3MaxAttempts"
  | "s3RetryMaxElapsedMs"
  | "s3MultipartThresholdBytes"
  | "s3UploadChecksum";

function openObjectStore(config: OpenStorageOptions["config"], dataDir: string, logger: Logger, registry: Registry | undefined): ObjectStore {
  if (config.objectStore === "local") return new LocalObjectStore(path.join(dataDir, "objects"));
  if (config.objectStore !== "s3") throw new Error(`object store ${String(config.objectStore)} is not available`);
  if (!config.s3Bucket) throw new Error("FLOE_OBJECT_STORE=s3 needs FLOE_S3_BUCKET");
  if (Boolean(config.s3AccessKeyId) !== Boolean(config.s3SecretAccessKey)) throw new Error("FLOE_S3_ACCESS_KEY_ID and FLOE_S3_SECRET_ACCESS_KEY must be set together");
  const store = new S3ObjectStore({
    bucket: config.s3Bucket,
    prefix: config.s3Prefix,
    region: config.s3Region || process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || "us-east-1",
    endpoint: config.s3Endpoint || undefined,
    forcePathStyle: config.s3ForcePathStyle,
    credentials: config.s3AccessKeyId && config.s3SecretAccessKey ? { accessKeyId: config.s3AccessKeyId, secretAccessKey: config.s3SecretAccessKey } : undefined,
    requestTimeoutMs: config.s3RequestTimeoutMs,
    retry: { maxAttempts: config.s3MaxAttempts, maxElapsedMs: config.s3RetryMaxElapsedMs },
    multipartThreshold: config.s3MultipartThresholdBytes,
    uploadChecksum: config.s3UploadChecksum,
    logger: logger.child({ component: "s3" }),
  });
  // Only where, never the keys.
  logger.info({ bucket: config.s3Bucket, prefix: config.s3Prefix, endpoint: config.s3Endpoint || "(AWS)", staticCredentials: Boolean(config.s3AccessKeyId) }, "object store: s3");
  if (registry) registerS3Metrics(registry, store);
  return store;
}

function registerS3Metrics(registry: Registry, store: S3ObjectStore): void {
  new Gauge({
    name: "floe_s3_requests",
    help: "S3 request attempts sent since start (retries included).",
    registers: [registry],
    collect() {
      this.set(store.stats.requests);
    },
  });
  new Gauge({
    name: "floe_s3_operation_requests",
    help: "S3 request attempts sent since start, by operation (PutObject, GetObject, UploadPart, ...; retries included).",
    labelNames: ["operation"],
    registers: [registry],
    collect() {
      for (const [operation, n] of Object.entries(store.stats.requestsByOperation)) this.set({ operation }, n);
    },
  });
  new Gauge({
    name: "floe_s3_retries",
    help: "S3 request attempts that were retries of a failed one, since start.",
    registers: [registry],
    collect() {
      this.set(store.stats.retries);
    },
  });
  new Gauge({
    name: "floe_s3_exhausted",
    help: "S3 calls that failed after spending their whole retry budget, since start.",
    registers: [registry],
    collect() {
      this.set(store.stats.exhausted);
    },
  });
  new Gauge({
    name: "floe_s3_failures",
    help: "Failed S3 request attempts by error code, since start.",
    labelNames: ["code"],
    registers: [registry],
    collect() {
      for (const [code, n] of Object.entries(store.stats.failures)) this.set({ code }, n);
    },
  });
}

/** Each start gets a new epoch (written durably before use): it goes into WAL records and object keys. `atLeastAbove`: an epoch already used elsewhere. */
async function nextEpoch(file: string, atLeastAbove = 0): Promise<number> {
  let previous = 0;
  try {
    previous = Number((await fs.readFile(file, "utf8")).trim());
    if (!Number.isInteger(previous) || previous < 0) throw new Error(`${file} does not hold an epoch`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  const epoch = Math.max(previous, atLeastAbove) + 1;
  const tmp = `${file}.tmp`;
  const fh = await fs.open(tmp, "w");
  try {
    await fh.writeFile(`${epoch}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.rename(tmp, file);
  const dir = await fs.open(path.dirname(file), "r");
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
  return epoch;
}

function registerMetrics(registry: Registry, wal: OpenedWal, log: LogStore): void {
  // Every LogStore figure, one gauge each, named after its field: caches against their
  // bounds (memory is bounded by configuration), the object lifecycle, and the uploader.
  const snapshotFields = Object.keys(log.statsSnapshot()) as (keyof ReturnType<LogStore["statsSnapshot"]>)[];
  for (const field of snapshotFields) {
    const name = `floe_storage_${field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}`;
    new Gauge({
      name,
      help: `LogStore ${field} (statsSnapshot)`,
      registers: [registry],
      collect() {
        this.set(Number(log.statsSnapshot()[field]));
      },
    });
  }
  new Gauge({
    name: "floe_wal_used_bytes",
    help: "Untrimmed bytes in the write-ahead log (durable and queued).",
    registers: [registry],
    collect() {
      this.set(wal.usedBytes());
    },
  });
  new Gauge({
    name: "floe_wal_syncs",
    help: "fdatasync calls made by the WAL since start (one per group commit, or fewer: groups queued behind a sync share the next one).",
    registers: [registry],
    collect() {
      this.set(wal instanceof FileWal ? wal.stats.syncs : 0);
    },
  });
  if (wal instanceof FileWal) {
    // The disk's own latency, apart from the broker's: a slow or shared WAL volume shows here first.
    const commits = new Histogram({
      name: "floe_wal_group_commit_seconds",
      help: "Time of one WAL group commit: its write and fdatasync as the disk took them (file and nfs WAL).",
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    });
    wal.onGroupCommit = (seconds) => commits.observe(seconds);
  }
  if (wal instanceof ObjectWal) registerObjectWalMetrics(registry, wal);
}

function registerObjectWalMetrics(registry: Registry, wal: ObjectWal): void {
  const gauge = (name: string, help: string, value: () => number) => collectedGauge(registry, name, help, value);
  gauge("floe_wal_objects_put", "WAL objects put to the object store since start (s3 WAL).", () => wal.stats.objectsPut);
  gauge("floe_wal_object_bytes_put", "Bytes of WAL objects put since start (s3 WAL).", () => wal.stats.bytesPut);
  gauge("floe_wal_object_put_seconds_sum", "Total time of successful WAL object puts, seconds (s3 WAL).", () => wal.stats.putLatencyMsSum / 1000);
  gauge("floe_wal_object_put_seconds_count", "Successful WAL object puts timed (s3 WAL).", () => wal.stats.putLatencyCount);
  gauge("floe_wal_object_put_failures", "WAL object puts that failed after the store's own retries (s3 WAL).", () => wal.stats.putFailures);
  gauge("floe_wal_object_retries", "Times the s3 WAL cleared a failed range and resumed, since start.", () => wal.stats.retries);
}
