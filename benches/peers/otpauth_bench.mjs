// npm otpauth: ns per `totp.validate({ token, window: 1 })`, wrong and right code.
//
//   node otpauth_bench.mjs [OUT.json]      (run from any directory; the
//   package is resolved from $PEERS_NODE_DIR/node_modules)
//
// The TOTP object is built once (SHA1, 6 digits, 30 s, the RFC 6238 seed);
// each timed call reads the wall clock (Date.now() inside otpauth), computes
// HOTPs with node:crypto's createHmac and compares with timingSafeEqual.
// otpauth holds no state: no replay refusal, no attempt counting, no seed
// decryption. Window order in otpauth 9.x: t, then t-1, t+1 — a right code
// for step t costs 1 HMAC, a wrong one 3.
//
// Timing: process.hrtime.bigint() around a loop; the loop count is doubled
// until a loop takes >= 0.2 s, then scaled to ~PEERS_JS_REPEAT_SECS (default
// 0.5 s); PEERS_REPEATS (default 7) repeats, median of the per-repeat ns/op.

import { createRequire } from "node:module";
import { writeFileSync } from "node:fs";
import path from "node:path";

const nodeDir = process.env.PEERS_NODE_DIR;
if (!nodeDir) throw new Error("PEERS_NODE_DIR (where otpauth is installed) is not set");
const require = createRequire(path.join(path.resolve(nodeDir), "package.json"));
// The ESM build for node (import condition), located through the install dir.
const OTPAuth = await import(require.resolve("otpauth").replace(/\.cjs$/, ".mjs"));
const otpauthVersion = OTPAuth.version; // the library's own version string

const SECRET_B32 = "GEZDGNBVGY3DOOBZGEZDGNBVGY3DOOBZ"; // "12345678901234567890"
const STEP_SECS = 30;
const REPEATS = Number(process.env.PEERS_REPEATS ?? 7);
const REPEAT_SECS = Number(process.env.PEERS_JS_REPEAT_SECS ?? 0.5);

const totp = new OTPAuth.TOTP({
  secret: OTPAuth.Secret.fromBase32(SECRET_B32),
  algorithm: "SHA1",
  digits: 6,
  period: STEP_SECS,
});

// Timed loop: `n` validations of `token`; returns elapsed ns. The result is
// accumulated so the call cannot be dropped, and checked by the caller.
function loop(token, n) {
  let hits = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    if (totp.validate({ token, window: 1 }) !== null) hits++;
  }
  const ns = Number(process.hrtime.bigint() - t0);
  return { ns, hits };
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

// `tokenForRepeat()` is called anew for each repeat (a right code is
// regenerated so a step boundary cannot make it wrong mid-run).
function measure(tokenForRepeat, expectValid) {
  let n = 16;
  let warm;
  for (;;) {
    warm = loop(tokenForRepeat(), n); // also warms the JIT
    if (warm.ns >= 2e8) break;
    n *= 2;
  }
  n = Math.max(1, Math.round((n * REPEAT_SECS * 1e9) / warm.ns));
  const perOp = [];
  for (let r = 0; r < REPEATS; r++) {
    const { ns, hits } = loop(tokenForRepeat(), n);
    if (expectValid ? hits !== n : hits !== 0) {
      throw new Error(`otpauth: ${hits}/${n} valid, expected ${expectValid ? "all" : "none"}`);
    }
    perOp.push(ns / n);
  }
  return {
    median_ns: median(perOp),
    min_ns: Math.min(...perOp),
    max_ns: Math.max(...perOp),
    repeats: REPEATS,
    iterations_per_repeat: n,
  };
}

// A wrong code: the right one + 500000 mod 10^6, moved on until it matches
// none of the steps t-1 .. t+2.
const now = Date.now();
const window = [-1, 0, 1, 2].map((k) => totp.generate({ timestamp: now + k * STEP_SECS * 1000 }));
let v = (Number(totp.generate()) + 500000) % 1e6;
while (window.includes(String(v).padStart(6, "0"))) v = (v + 1) % 1e6;
const wrong = String(v).padStart(6, "0");

const cases = {
  wrong: measure(() => wrong, false),
  right: measure(() => totp.generate(), true),
};
const doc = {
  implementation: "otpauth (npm)",
  library: "otpauth",
  version: otpauthVersion,
  runtime: `Node ${process.versions.node} (OpenSSL ${process.versions.openssl})`,
  storage: "memory",
  operation: "totp.validate({ token, window: 1 })",
  timing: `process.hrtime.bigint(), median of ${REPEATS} repeats of ~${REPEAT_SECS} s`,
  cases,
};
const text = JSON.stringify(doc, null, 2);
if (process.argv[2]) writeFileSync(process.argv[2], text + "\n");
else console.log(text);
for (const [name, r] of Object.entries(cases)) {
  console.error(
    `  ${doc.implementation.padEnd(28)} ${name.padEnd(6)} median ${Math.round(r.median_ns).toLocaleString("en-US").padStart(12)} ns/op` +
      `  (min ${Math.round(r.min_ns).toLocaleString("en-US")}, max ${Math.round(r.max_ns).toLocaleString("en-US")}, ${r.repeats} x ${r.iterations_per_repeat} iterations)`,
  );
}
