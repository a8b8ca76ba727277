// Test certificates made with the machine's openssl in a temporary folder: a CA, server and
// client certificates signed by it, valid now or expired. For tests only.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export interface TestCa {
  dir: string;
  caFile: string;
  caKey: string;
}

export interface TestCert {
  certFile: string;
  keyFile: string;
}

function openssl(dir: string, args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
}

export function makeCa(name = "Floe Test CA", dir = fs.mkdtempSync(path.join(os.tmpdir(), "floe-tls-"))): TestCa {
  const caKey = path.join(dir, `${slug(name)}.key`);
  const caFile = path.join(dir, `${slug(name)}.pem`);
  openssl(dir, ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", caKey, "-out", caFile, "-days", "30", "-subj", `/O=Floe Tests/CN=${name}`]);
  // openssl ca keeps its books in files next to the CA.
  fs.writeFileSync(path.join(dir, "index.txt"), "");
  fs.writeFileSync(path.join(dir, "serial"), "1000\n");
  fs.writeFileSync(
    path.join(dir, "ca.cnf"),
    ["[ca]", "default_ca = floe", "[floe]", "database = index.txt", "serial = serial", `new_certs_dir = ${dir}`, "default_md = sha256", "policy = any", "preserve = yes", "copy_extensions = copy", "unique_subject = no", "[any]", "organizationName = optional", "commonName = supplied", ""].join("\n"),
  );
  return { dir, caFile, caKey };
}

/**
 * A certificate signed by `ca`. `sans` become subjectAltName (servers: DNS:localhost and
 * IP:127.0.0.1 by default); `expired` backdates it to a month in 2020.
 */
export function makeCert(ca: TestCa, cn: string, opts: { sans?: string; expired?: boolean; org?: string; file?: string } = {}): TestCert {
  const base = opts.file ?? slug(`${cn}-${Math.random().toString(36).slice(2, 8)}`);
  const keyFile = path.join(ca.dir, `${base}.key`);
  const csr = path.join(ca.dir, `${base}.csr`);
  const certFile = path.join(ca.dir, `${base}.pem`);
  const subj = `${opts.org ? `/O=${opts.org}` : ""}/CN=${cn}`;
  openssl(ca.dir, ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", keyFile, "-out", csr, "-subj", subj, "-addext", `subjectAltName=${opts.sans ?? "DNS:localhost,IP:127.0.0.1"}`]);
  const dates = opts.expired ? ["-startdate", "20200101000000Z", "-enddate", "20200201000000Z"] : ["-days", "30"];
  openssl(ca.dir, ["ca", "-batch", "-notext", "-config", "ca.cnf", "-cert", ca.caFile, "-keyfile", ca.caKey, "-in", csr, "-out", certFile, ...dates]);
  return { certFile, keyFile };
}

function slug(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, "-");
}
