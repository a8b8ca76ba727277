import crypto from "node:crypto";

/**
 * A small certificate authority for `security.tls.generated`: an ECDSA P-256 CA and broker
 * certificates signed by it, as PEM. node:crypto signs but cannot build certificates, so the
 * X.509 structure (RFC 5280) is written here in DER, only the parts a TLS server needs.
 */

// ---- DER (X.690), the handful of types a certificate uses

function tlv(tag: number, body: Buffer): Buffer {
  const n = body.length;
  let len: Buffer;
  if (n < 0x80) len = Buffer.from([n]);
  else {
    const bytes: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
    len = Buffer.from([0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([Buffer.from([tag]), len, body]);
}

const seq = (...items: Buffer[]) => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]) => tlv(0x31, Buffer.concat(items));
const octets = (b: Buffer) => tlv(0x04, b);
const bits = (b: Buffer, unused = 0) => tlv(0x03, Buffer.concat([Buffer.from([unused]), b]));
const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, "utf8"));
const bool = (v: boolean) => tlv(0x01, Buffer.from([v ? 0xff : 0x00]));
const explicit = (n: number, inner: Buffer) => tlv(0xa0 + n, inner);

function integer(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0 && b[i + 1]! < 0x80) i++;
  const v = b.subarray(i);
  return tlv(0x02, v[0]! >= 0x80 ? Buffer.concat([Buffer.from([0]), v]) : v);
}

function oid(dotted: string): Buffer {
  const parts = dotted.split(".").map(Number);
  const out = [parts[0]! * 40 + parts[1]!];
  for (const p of parts.slice(2)) {
    const chunk = [p & 0x7f];
    for (let v = Math.floor(p / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift((v & 0x7f) | 0x80);
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

function time(d: Date): Buffer {
  const iso = d.toISOString().replace(/[-:T]/g, "").slice(0, 14) + "Z"; // YYYYMMDDHHMMSSZ
  // RFC 5280: UTCTime through 2049, GeneralizedTime after.
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(iso.slice(2))) : tlv(0x18, Buffer.from(iso));
}

const OID = {
  ecdsaWithSha256: "1.2.840.10045.4.3.2",
  commonName: "2.5.4.3",
  organization: "2.5.4.10",
  basicConstraints: "2.5.29.19",
  keyUsage: "2.5.29.15",
  extKeyUsage: "2.5.29.37",
  subjectAltName: "2.5.29.17",
  subjectKeyId: "2.5.29.14",
  authorityKeyId: "2.5.29.35",
  serverAuth: "1.3.6.1.5.5.7.3.1",
  clientAuth: "1.3.6.1.5.5.7.3.2",
};

function name(cn: string, org?: string): Buffer {
  const rdns = [];
  if (org) rdns.push(set(seq(oid(OID.organization), utf8(org))));
  rdns.push(set(seq(oid(OID.commonName), utf8(cn))));
  return seq(...rdns);
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return seq(oid(id), ...(critical ? [bool(true)] : []), octets(value));
}

/** SHA-1 of the subjectPublicKey bits (RFC 5280 4.2.1.2, method 1). */
function keyId(spki: Buffer): Buffer {
  // The SPKI is SEQ { algorithm SEQ, BIT STRING }; the hash covers the BIT STRING's content.
  const key = crypto.createPublicKey({ key: spki, format: "der", type: "spki" }).export({ format: "jwk" });
  const point = Buffer.concat([Buffer.from([4]), Buffer.from(key.x!, "base64url"), Buffer.from(key.y!, "base64url")]);
  return crypto.createHash("sha1").update(point).digest();
}

export interface IssuedCertificate {
  certPem: string;
  keyPem: string;
}

interface SignOptions {
  subject: { cn: string; org?: string };
  issuer: { cn: string; org?: string; key: crypto.KeyObject; spki: Buffer } | null;
  ca: boolean;
  dnsNames?: string[];
  days: number;
  now: Date;
}

function issue(opts: SignOptions): IssuedCertificate & { key: crypto.KeyObject; spki: Buffer } {
  const { privateKey, publicKey } = crypto.generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const spki = publicKey.export({ type: "spki", format: "der" });
  const signer = opts.issuer ?? { ...opts.subject, key: privateKey, spki };
  const notBefore = new Date(opts.now.getTime() - 5 * 60_000); // tolerate clock skew between nodes
  const notAfter = new Date(opts.now.getTime() + opts.days * 86_400_000);
  const exts = [
    extension(OID.basicConstraints, true, opts.ca ? seq(bool(true)) : seq()),
    // CA: digitalSignature, keyCertSign, cRLSign. Leaf: digitalSignature, keyEncipherment.
    extension(OID.keyUsage, true, opts.ca ? bits(Buffer.from([0x86]), 1) : bits(Buffer.from([0xa0]), 5)),
    extension(OID.subjectKeyId, false, octets(keyId(spki))),
    extension(OID.authorityKeyId, false, seq(tlv(0x80, keyId(signer.spki)))),
  ];
  if (!opts.ca) {
    exts.push(extension(OID.extKeyUsage, false, seq(oid(OID.serverAuth), oid(OID.clientAuth))));
    // A client certificate has no names to check; an empty SAN extension is not allowed.
    if (opts.dnsNames?.length) exts.push(extension(OID.subjectAltName, false, seq(...opts.dnsNames.map((d) => tlv(0x82, Buffer.from(d, "ascii"))))));
  }
  const serial = crypto.randomBytes(16);
  serial[0]! &= 0x7f;
  const algorithm = seq(oid(OID.ecdsaWithSha256));
  const tbs = seq(
    explicit(0, integer(Buffer.from([2]))), // v3
    integer(serial),
    algorithm,
    name(signer.cn, signer.org),
    seq(time(notBefore), time(notAfter)),
    name(opts.subject.cn, opts.subject.org),
    spki,
    explicit(3, seq(...exts)),
  );
  const signature = crypto.sign("sha256", tbs, signer.key); // DER-encoded ECDSA signature
  const der = seq(tbs, algorithm, bits(signature));
  const certPem = `-----BEGIN CERTIFICATE-----\n${der.toString("base64").replace(/.{64}/g, "$&\n").replace(/\n?$/, "\n")}-----END CERTIFICATE-----\n`;
  return { certPem, keyPem: privateKey.export({ type: "pkcs8", format: "pem" }) as string, key: privateKey, spki };
}

export interface CertificateAuthority extends IssuedCertificate {
  /** Signs a server (and client) certificate for these DNS names. */
  sign(cn: string, dnsNames: string[], days?: number, now?: Date): IssuedCertificate;
}

/** A new self-signed CA, valid `days` (ten years by default). */
export function createCa(cn: string, days = 3650, now = new Date()): CertificateAuthority {
  const ca = issue({ subject: { cn, org: "Floe" }, issuer: null, ca: true, days, now });
  return withSigner(ca.certPem, ca.keyPem);
}

/** A CA read back from its PEM certificate and key (the Secret <cluster>-ca). */
export function loadCa(certPem: string, keyPem: string): CertificateAuthority {
  return withSigner(certPem, keyPem);
}

function withSigner(certPem: string, keyPem: string): CertificateAuthority {
  const cert = new crypto.X509Certificate(certPem);
  const key = crypto.createPrivateKey(keyPem);
  const spki = cert.publicKey.export({ type: "spki", format: "der" });
  const cn = /CN=([^\n]+)/.exec(cert.subject)?.[1] ?? "Floe CA";
  const org = /O=([^\n]+)/.exec(cert.subject)?.[1];
  return {
    certPem,
    keyPem,
    sign: (leafCn, dnsNames, days = 365, now = new Date()) => {
      const leaf = issue({ subject: { cn: leafCn }, issuer: { cn, org, key, spki }, ca: false, dnsNames, days, now });
      return { certPem: leaf.certPem, keyPem: leaf.keyPem };
    },
  };
}
