/**
 * Flags for the Node.js process that runs the broker, on its command line: Node refuses V8
 * heap flags in NODE_OPTIONS, and V8 reads them only when it creates the heap. Used by the
 * operator's StatefulSet (`src/operator/specs/statefulset.ts`) and `npm run bench`; written
 * out in `package.json`'s `start` script and the Dockerfile's CMD, which tests keep equal
 * (`node-flags.test.ts`, `test/packaging/image.test.ts`).
 *
 * `--initial-old-space-size=256`: the broker's own heap is small (about 25 MiB live; record
 * bytes live in Buffers outside it), and V8 sizes the old generation's limit from what is
 * live. Under produce load that small limit made V8 start a full mark-compact every 250-400
 * ms, and each stalls every request in flight for 5-10 ms: most of the `file` WAL's latency
 * tail. Starting the limit at 256 MiB cut them tenfold in `npm run bench` (docs/performance.md)
 * with the same peak RSS; what is left is mostly driven by Buffer memory, which V8 counts apart.
 */
export const BROKER_NODE_FLAGS: readonly string[] = ["--initial-old-space-size=256"];
