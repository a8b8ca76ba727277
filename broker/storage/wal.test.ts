import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { FileWal } from "./file-wal.js";
import { walConformance } from "./wal.conformance.js";

// Records of 3000 bytes with 4 KiB segments: one such record per segment, so trims are exact.
walConformance(
  "file",
  async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "floe-walc-"));
    return {
      open: ({ epoch, tiny }) => FileWal.open({ dir, epoch, segmentBytes: 4096, maxBytes: tiny ? 16 * 1024 : 16 * 1024 * 1024 }),
      cleanup: async () => fs.rmSync(dir, { recursive: true, force: true }),
    };
  },
  { unitRecordBytes: 3000 },
);
