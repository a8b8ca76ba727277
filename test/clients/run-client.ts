// Kept for tests written before harness.ts: the client runner and checker live there now.
export { CACHE, checkDelivery, runClient, type ClientName, type ClientRecord, type ClientRun } from "./harness.js";
