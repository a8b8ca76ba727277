import type { Handler } from "../handler.js";
import { produce } from "./00-produce.js";
import { fetch } from "./01-fetch.js";
import { listOffsets } from "./02-list-offsets.js";
import { metadata } from "./03-metadata.js";
import { apiVersions } from "./18-api-versions.js";
import { initProducerId } from "./22-init-producer-id.js";
import { offsetForLeaderEpoch } from "./23-offset-for-leader-epoch.js";

/** Every API the broker serves; ApiVersions advertises exactly this list. */
export const HANDLERS: ReadonlyMap<number, Handler> = new Map(
  [produce, fetch, listOffsets, metadata, apiVersions, initProducerId, offsetForLeaderEpoch].map((h) => [h.apiKey, h as Handler]),
);
