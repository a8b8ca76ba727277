import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { ScramCredentialStore, upsertRecord } from "./credentials.js";
import {
  credentialFromPassword,
  credentialFromSaltedPassword,
  decodeSaslName,
  passwordMatches,
  saltPassword,
  ScramClientExchange,
  ScramError,
  ScramServerExchange,
  type ScramCredential,
  type ScramMechanism,
} from "./scram.js";

const KEY = Buffer.alloc(32, 7);

function server(creds: Record<string, ScramCredential>, mechanism: ScramMechanism = "SCRAM-SHA-256", nonce?: () => string): ScramServerExchange {
  return new ScramServerExchange(mechanism, (u) => creds[u] ?? null, KEY, nonce);
}

/** One whole exchange; returns the client's check of server-final, or the server's refusal. */
function exchange(mechanism: ScramMechanism, creds: Record<string, ScramCredential>, user: string, password: string): "ok" | "refused" {
  const s = server(creds, mechanism);
  const c = new ScramClientExchange(mechanism, user, password);
  const serverFirst = s.first(c.first());
  try {
    const serverFinal = s.final(c.final(serverFirst));
    expect(c.verify(serverFinal)).toBe(true);
    return "ok";
  } catch (err) {
    expect(err).toBeInstanceOf(ScramError);
    return "refused";
  }
}

describe("SCRAM (RFC 5802 / RFC 7677)", () => {
  it("reproduces the SCRAM-SHA-256 example of RFC 7677 section 3 byte for byte", () => {
    const salt = Buffer.from("W22ZaJ0SNY7soEsUEjb6gQ==", "base64");
    const cred = credentialFromPassword("SCRAM-SHA-256", "pencil", 4096, salt);
    const s = server({ user: cred }, "SCRAM-SHA-256", () => "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
    expect(s.first("n,,n=user,r=rOprNGfwEbeRWgbNEkqO")).toBe("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
    const final = s.final("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
    expect(final).toBe("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
    expect(s.user).toBe("user");
  });

  it.each(["SCRAM-SHA-256", "SCRAM-SHA-512"] as const)("%s: the right password logs in, a wrong one and an unknown user are refused alike", (m) => {
    const creds = { alice: credentialFromPassword(m, "s3cret", 4096) };
    expect(exchange(m, creds, "alice", "s3cret")).toBe("ok");
    expect(exchange(m, creds, "alice", "wrong")).toBe("refused");
    expect(exchange(m, creds, "mallory", "s3cret")).toBe("refused");
  });

  it("answers an unknown user with a salt and iteration count that look real and stay the same", () => {
    const creds = { alice: credentialFromPassword("SCRAM-SHA-256", "pw", 4096) };
    const first = (user: string) => server(creds).first(`n,,n=${user},r=abc`).split(",").slice(1).join(",");
    expect(first("ghost")).toBe(first("ghost"));
    expect(first("ghost")).toMatch(/^s=[A-Za-z0-9+/]{43}=,i=4096$/);
    expect(first("alice")).toMatch(/^s=[A-Za-z0-9+/]{43}=,i=4096$/);
  });

  it("refuses channel binding, extensions, authzid of someone else, a changed nonce and a replayed step", () => {
    const creds = { a: credentialFromPassword("SCRAM-SHA-256", "pw", 4096) };
    expect(() => server(creds).first("p=tls-unique,,n=a,r=x")).toThrow(ScramError);
    expect(() => server(creds).first("n,,n=a,r=x,tokenauth=true")).toThrow(ScramError);
    expect(() => server(creds).first("n,a=b,n=a,r=x")).toThrow(ScramError);
    expect(() => server(creds).first("n,,r=x,n=a")).toThrow(ScramError);
    expect(() => server(creds).first("n,,n=,r=x")).toThrow(ScramError);
    expect(server(creds).first("n,a=a,n=a,r=x")).toMatch(/^r=x/);

    const s = server(creds);
    const c = new ScramClientExchange("SCRAM-SHA-256", "a", "pw");
    const final = c.final(s.first(c.first()));
    expect(() => s.final(final.replace(/r=([^,]*)/, "r=$1X"))).toThrow(ScramError);
    expect(() => s.final(final)).toThrow(/out of order/); // one attempt per exchange
    expect(() => s.first(c.first())).toThrow(ScramError);
  });

  it("decodes saslnames and refuses stray '='", () => {
    expect(decodeSaslName("a=2Cb=3Dc")).toBe("a,b=c");
    expect(() => decodeSaslName("a=b")).toThrow(ScramError);
  });

  it("derives the same credential from the salted password a client sends as from the password", () => {
    const salt = Buffer.from("salt-salt-salt");
    const direct = credentialFromPassword("SCRAM-SHA-512", "pw", 4096, salt);
    const viaClient = credentialFromSaltedPassword("SCRAM-SHA-512", salt, 4096, saltPassword("SCRAM-SHA-512", "pw", salt, 4096));
    expect(viaClient).toEqual(direct);
    expect(passwordMatches(direct, "pw")).toBe(true);
    expect(passwordMatches(direct, "pW")).toBe(false);
  });

  it("keeps credentials as records holding neither the password nor the salted password", () => {
    const salt = Buffer.from("0123456789abcdef");
    const cred = credentialFromPassword("SCRAM-SHA-256", "hunter2", 4096, salt);
    const record = upsertRecord("bob", cred);
    const text = JSON.stringify(record);
    expect(text).not.toContain("hunter2");
    expect(text).not.toContain(saltPassword("SCRAM-SHA-256", "hunter2", salt, 4096).toString("base64"));
    const store = new ScramCredentialStore();
    store.apply(JSON.parse(text));
    expect(store.get("bob", "SCRAM-SHA-256")).toEqual(cred);
    expect(store.users()).toEqual(["bob"]);
    store.apply({ type: "scram-credential-deleted", user: "bob", mechanism: "SCRAM-SHA-256" });
    expect(store.users()).toEqual([]);
  });

  it("fuzz: random client-first and client-final messages only ever end in a ScramError, never another throw or a login", () => {
    const creds = { alice: credentialFromPassword("SCRAM-SHA-256", "pw", 4096) };
    const text = fc.oneof(fc.string({ maxLength: 200 }), fc.stringMatching(/^[ny],(a=[a-z]*)?,n=[a-z=,23CD]{0,8},r=[!-~]{0,20}(,[a-z]=[^,]*)?$/));
    fc.assert(
      fc.property(text, text, (first, final) => {
        const s = server(creds);
        try {
          s.first(first);
        } catch (err) {
          expect(err).toBeInstanceOf(ScramError);
          return;
        }
        expect(() => s.final(final)).toThrow(ScramError);
      }),
      { numRuns: 2000, seed: 1234 },
    );
  });
});
