import fs from "node:fs";
import net from "node:net";

/**
 * Ports for servers the tests start. A port the kernel picks with listen(0) comes from its
 * ephemeral range, the same range it takes outgoing connections' source ports from: any
 * client connecting between our check and the server's own listen could take it, and now
 * and then a broker failed to start with EADDRINUSE. So ports come from below that range,
 * where only explicit binds land, each test worker from its own slice of it (vitest's
 * VITEST_POOL_ID, else the process id), in turn, each checked with a bind.
 */
const LOW = 10_000;
const SLICES = 16;

function ephemeralStart(): number {
  try {
    const [start] = fs.readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
    return Number.isInteger(start) ? start! : 0;
  } catch {
    return 0;
  }
}

const HIGH = ephemeralStart();
const SLICE_SIZE = Math.floor((HIGH - LOW) / SLICES);
const SLICE = Number(process.env.VITEST_POOL_ID ?? process.pid) % SLICES;
let nextInSlice = Math.floor(Math.random() * Math.max(1, SLICE_SIZE));

/** A loopback port that is free now and that no outgoing connection will take before the caller binds it. */
export async function freePort(): Promise<number> {
  // Where the ephemeral range leaves too little room below it, the kernel's pick is the fallback.
  if (SLICE_SIZE < 64) return kernelPickedPort();
  for (let tries = 0; tries < SLICE_SIZE; tries++) {
    const port = LOW + SLICE * SLICE_SIZE + (nextInSlice++ % SLICE_SIZE);
    if (await canListen(port)) return port;
  }
  throw new Error(`no free port in ${LOW + SLICE * SLICE_SIZE}-${LOW + (SLICE + 1) * SLICE_SIZE - 1}`);
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

function kernelPickedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
