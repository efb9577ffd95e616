#!/usr/bin/env node
// bench/kernel: throughput of each bitset operation on 2^28-bit (32 MiB)
// bitmaps, for the WebAssembly kernel, the fastest plain JavaScript we could
// write (typed arrays, unrolled — not the reference twin, which is written for
// clarity) and a native C reference (gcc -O3 -march=native). Runs are
// interleaved (C, wasm, JS for each operation, round after round) and every
// ratio is taken within one round, then the median over rounds: these VMs are
// shared and noisy, so absolute numbers move while same-round ratios hold.
//
//   npm run bench                      (builds first)
//   node bench/kernel.mjs [--rounds N] [--json FILE]
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Kernel } from '../dist/kernel/index.js';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const ROUNDS = Number(opt('--rounds', 7));
if (!(ROUNDS >= 5)) throw new Error('--rounds must be at least 5');
const JSON_OUT = opt('--json', null);

const NBITS = 2 ** 28;
const NWORDS = NBITS / 64;
const OUTCAP = 65536;
const NSCATTER = 2 ** 20;

// ---- data: the same xorshift32 stream as bench/native/bitset_bench.c ----
let xs = 2463534242;
const xorshift32 = () => {
  xs ^= xs << 13; xs >>>= 0;
  xs ^= xs >>> 17;
  xs ^= xs << 5; xs >>>= 0;
  return xs;
};
/** Fill a Uint32Array (2 per 64-bit word, low first) with `ands`-way ANDed random words. */
function fillRandom(u32, ands) {
  for (let i = 0; i < u32.length; i += 2) {
    let lo = xorshift32();
    let hi = xorshift32();
    for (let j = 1; j < ands; j++) { lo &= xorshift32(); hi &= xorshift32(); }
    u32[i] = lo; u32[i + 1] = hi;
  }
}
const A = new Uint32Array(NWORDS * 2); fillRandom(A, 1);
const B = new Uint32Array(NWORDS * 2); fillRandom(B, 1);
const S = new Uint32Array(NWORDS * 2); fillRandom(S, 3); // ~12.5 %; S & ~B ≈ 6 %
const SP = new Uint32Array(NWORDS * 2); fillRandom(SP, 7); // ~0.8 %; SP & ~B ≈ 0.4 %
const SCATTER = new Uint32Array(NSCATTER);
for (let i = 0; i < NSCATTER; i++) SCATTER[i] = xorshift32() & (NBITS - 1);
const VARINTS = new Uint8Array(NSCATTER * 2 - 1);
{ let pos = 0; for (let i = 0; i < NSCATTER; i++) { if (i === 0) VARINTS[pos++] = 0; else { VARINTS[pos++] = 0x80; VARINTS[pos++] = 0x02; } } }
const D = new Uint32Array(NWORDS * 2);
const OUT = new Uint32Array(OUTCAP);

// ---- fastest plain JS ----
const POP16 = new Uint8Array(65536);
for (let i = 1; i < 65536; i++) POP16[i] = (i & 1) + POP16[i >>> 1];
const pop32 = (x) => POP16[x & 0xffff] + POP16[x >>> 16];
const check = (u32) => (BigInt(u32[Math.floor(NWORDS / 3) * 2 + 1]) << 32n) | BigInt(u32[Math.floor(NWORDS / 3) * 2]);
const js = {
  or() { const n = D.length; for (let i = 0; i < n; i += 4) { D[i] = A[i] | B[i]; D[i + 1] = A[i + 1] | B[i + 1]; D[i + 2] = A[i + 2] | B[i + 2]; D[i + 3] = A[i + 3] | B[i + 3]; } return check(D); },
  and() { const n = D.length; for (let i = 0; i < n; i += 4) { D[i] = A[i] & B[i]; D[i + 1] = A[i + 1] & B[i + 1]; D[i + 2] = A[i + 2] & B[i + 2]; D[i + 3] = A[i + 3] & B[i + 3]; } return check(D); },
  andNot() { const n = D.length; for (let i = 0; i < n; i += 4) { D[i] = A[i] & ~B[i]; D[i + 1] = A[i + 1] & ~B[i + 1]; D[i + 2] = A[i + 2] & ~B[i + 2]; D[i + 3] = A[i + 3] & ~B[i + 3]; } return check(D); },
  copy() { D.set(A); return check(D); },
  clear() { D.fill(0); return check(D); },
  popcount() { let c0 = 0, c1 = 0; const n = A.length; for (let i = 0; i < n; i += 2) { c0 += pop32(A[i]); c1 += pop32(A[i + 1]); } return BigInt(c0 + c1); },
  popcountAndNot() { let c0 = 0, c1 = 0; const n = A.length; for (let i = 0; i < n; i += 2) { c0 += pop32(A[i] & ~B[i]); c1 += pop32(A[i + 1] & ~B[i + 1]); } return BigInt(c0 + c1); },
  iterate6() { return BigInt(jsIterate(S, B)); },
  iterate04() { return BigInt(jsIterate(SP, B)); },
  advance() {
    let k = HALFK; let i = 0;
    for (;; i++) { const c = pop32(A[i]); if (c >= k) break; k -= c; }
    let v = A[i]; while (k > 1) { v &= v - 1; k--; }
    return BigInt(i * 32 + (31 - Math.clz32(v & -v)) + 1);
  },
  scatter() { for (let i = 0; i < NSCATTER; i++) { const p = SCATTER[i]; D[p >>> 5] |= 1 << (p & 31); } return check64(D, SCATTER[7]); },
  decode() {
    let pos = 0, page = 0, n = 0; const len = VARINTS.length;
    while (pos < len) {
      let v = 0, scale = 1, byte;
      do { byte = VARINTS[pos++]; v += (byte & 0x7f) * scale; scale *= 128; } while (byte & 0x80);
      page = n === 0 ? v : page + v; n++;
      D[page >>> 5] |= 1 << (page & 31);
    }
    return BigInt(n);
  },
};
function check64(u32, p) { const w = (p >>> 6) * 2; return (BigInt(u32[w + 1]) << 32n) | BigInt(u32[w]); }
function jsIterate(x, y) {
  let sum = 0, n = 0;
  const len = x.length;
  for (let i = 0; i < len; i++) {
    let v = x[i] & ~y[i];
    const base = i * 32;
    while (v !== 0) {
      OUT[n++] = base + (31 - Math.clz32(v & -v));
      if (n === OUTCAP) { sum += OUTCAP + OUT[n - 1]; n = 0; }
      v &= v - 1;
    }
  }
  return sum + n;
}
let HALFK = 0;
for (let i = 0; i < A.length; i++) HALFK += pop32(A[i]);
HALFK = Math.floor(HALFK / 2);

// ---- the kernel ----
const k = await Kernel.load();
const bm = () => k.bitmap(NBITS);
const ka = bm(), kb = bm(), ks = bm(), ksp = bm(), kd = bm();
for (const [dst, src] of [[ka, A], [kb, B], [ks, S], [ksp, SP]]) k.u8.set(new Uint8Array(src.buffer), dst.ptr);
const kout = k.buffer(OUTCAP);
const klist = k.buffer(NSCATTER);
k.writeList(klist, SCATTER);
const kvar = k.alloc(VARINTS.length);
k.u8.set(VARINTS, kvar);
const raw = k.raw;
const kcheck = () => { const u = k.u32; const w = (kd.ptr >>> 2) + Math.floor(NWORDS / 3) * 2; return (BigInt(u[w + 1]) << 32n) | BigInt(u[w]); };
function kIterate(x) {
  let sum = 0, from = 0;
  const u = k.u32; const o = kout.ptr >>> 2;
  for (;;) {
    const n = raw.collectAndNot(x.ptr, kb.ptr, from, NBITS, kout.ptr, OUTCAP) >>> 0;
    if (n < OUTCAP) return sum + n;
    sum += OUTCAP + u[o + n - 1];
    from = u[o + n - 1] + 1;
  }
}
const wasm = {
  or() { raw.or(kd.ptr, ka.ptr, kb.ptr, 0, NBITS); return kcheck(); },
  and() { raw.and(kd.ptr, ka.ptr, kb.ptr, 0, NBITS); return kcheck(); },
  andNot() { raw.andNot(kd.ptr, ka.ptr, kb.ptr, 0, NBITS); return kcheck(); },
  copy() { raw.copy(kd.ptr, ka.ptr, 0, NBITS); return kcheck(); },
  clear() { raw.clear(kd.ptr, 0, NBITS); return kcheck(); },
  popcount() { return BigInt(raw.popcount(ka.ptr, 0, NBITS) >>> 0); },
  popcountAndNot() { return BigInt(raw.popcountAndNot(ka.ptr, kb.ptr, 0, NBITS) >>> 0); },
  iterate6() { return BigInt(kIterate(ks)); },
  iterate04() { return BigInt(kIterate(ksp)); },
  advance() { return BigInt(raw.advance(ka.ptr, 0, HALFK, NBITS) >>> 0); },
  scatter() { raw.setList(kd.ptr, NBITS, klist.ptr, NSCATTER); const u = k.u32; const w = (kd.ptr >>> 2) + (SCATTER[7] >>> 6) * 2; return (BigInt(u[w + 1]) << 32n) | BigInt(u[w]); },
  decode() { return BigInt(raw.decodeDeltaVarint(kd.ptr, NBITS, kvar, VARINTS.length)); },
};

// ---- the C reference ----
const here = fileURLToPath(new URL('.', import.meta.url));
const cSrc = `${here}native/bitset_bench.c`;
const cBin = `${here}native/bitset_bench`;
let c = null;
const gcc = spawnSync('gcc', ['-O3', '-march=native', '-o', cBin, cSrc], { encoding: 'utf8' });
if (gcc.error || gcc.status !== 0) {
  console.log(`native C reference skipped: ${gcc.error ? 'gcc not found' : gcc.stderr.trim().split('\n')[0]}`);
} else {
  const proc = spawn(cBin, [], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: proc.stdout })[Symbol.asyncIterator]();
  if ((await lines.next()).value !== 'ready') throw new Error('C reference did not start');
  c = {
    async run(op) {
      proc.stdin.write(op + '\n');
      const [name, ns, chk] = (await lines.next()).value.split(' ');
      if (name !== op) throw new Error(`C reference answered ${name} to ${op}`);
      return { ms: Number(ns) / 1e6, check: BigInt(chk) };
    },
    close() { proc.stdin.end(); },
  };
}

// ---- the run ----
const OPS = [
  // name, what, bytes of bitmap processed (for GB/s), items (for M/s), target vs C, JS at memory speed?
  ['or', 'dst = a | b', 3, null, 0.85, false],
  ['and', 'dst = a & b', 3, null, 0.85, false],
  ['andNot', 'dst = a & ~b', 3, null, 0.85, false],
  ['copy', 'dst = a', 2, null, 0.85, true],
  ['clear', 'dst = 0', 1, null, 0.85, true],
  ['popcount', 'popcount(a)', 1, null, 0.65, false],
  ['popcountAndNot', 'popcount(a & ~b)', 2, null, 0.65, false],
  ['iterate6', 'iterate a & ~b, 6 %', 2, null, 0.85, false],
  ['iterate04', 'iterate a & ~b, 0.4 %', 2, null, 0.85, false],
  ['advance', 'skip k set bits (half of a)', 0.5, null, null, false],
  ['scatter', 'set 1 Mi random pages', null, NSCATTER, null, false],
  ['decode', 'decode 1 Mi delta-varints', null, NSCATTER, null, false],
];
const BYTES = NWORDS * 8;
const timeIt = (fn) => { const t0 = performance.now(); const chk = fn(); return { ms: performance.now() - t0, check: chk }; };
const results = Object.fromEntries(OPS.map(([op]) => [op, { c: [], wasm: [], js: [], checks: new Set() }]));

// One warm-up round (JIT tiers, first touch of D), then ROUNDS measured rounds.
for (let round = -1; round < ROUNDS; round++) {
  for (const [op] of OPS) {
    const r = results[op];
    const cr = c ? await c.run(op) : null;
    const wr = timeIt(wasm[op]);
    const jr = timeIt(js[op]);
    if (round < 0) { continue; }
    if (cr) { r.c.push(cr.ms); r.checks.add(`c:${cr.check}`); }
    r.wasm.push(wr.ms); r.checks.add(`w:${wr.check}`);
    r.js.push(jr.ms); r.checks.add(`j:${jr.check}`);
  }
  if (round >= 0) process.stderr.write(`round ${round + 1}/${ROUNDS}\r`);
}
c?.close();
process.stderr.write('\n');

const median = (xs) => { const s = [...xs].sort((x, y) => x - y); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const rows = [];
let allChecksAgree = true;
for (const [op, what, bytesFactor, items, target, jsMem] of OPS) {
  const r = results[op];
  // Checks: the same result from every implementation (scatter's check depends
  // on earlier ops on dst, identical in each implementation's sequence).
  const vals = new Set([...r.checks].map((s) => s.slice(2)));
  const agree = vals.size === 1;
  if (!agree) allChecksAgree = false;
  const perRound = (x, y) => median(r[x].map((v, i) => r[y][i] / v)); // throughput ratio x vs y = y_time / x_time
  const wasmMs = median(r.wasm), jsMs = median(r.js), cMs = r.c.length ? median(r.c) : null;
  const rate = (ms) => (items === null ? `${((bytesFactor * BYTES) / ms / 1e6).toFixed(1)} GB/s` : `${(items / ms / 1e3).toFixed(0)} M/s`);
  const wasmVsC = cMs === null ? null : perRound('wasm', 'c');
  const wasmVsJs = perRound('wasm', 'js');
  const jsVsC = cMs === null ? null : perRound('js', 'c');
  rows.push({ op, what, cMs, wasmMs, jsMs, rateC: cMs === null ? null : rate(cMs), rateWasm: rate(wasmMs), rateJs: rate(jsMs),
    wasmVsC, wasmVsJs, jsVsC, target, jsMem, agree });
}

const f2 = (x) => (x === null ? '–' : x.toFixed(2));
console.log(`\nbench/kernel: 2^28-bit (32 MiB) bitmaps, ${ROUNDS} interleaved rounds (+1 warm-up), medians; ratios are throughput ratios taken within each round.`);
console.log(`node ${process.version}, ${process.arch}; C: gcc -O3 -march=native${c ? '' : ' (skipped)'}\n`);
console.log('| operation | C ms | kernel ms | fastest JS ms | kernel throughput | kernel ÷ C | target | kernel ÷ JS | JS ÷ C |');
console.log('|---|---:|---:|---:|---:|---:|---|---:|---:|');
for (const r of rows) {
  const tgt = r.target === null ? '–' : `≥ ${r.target}× C ${r.wasmVsC === null ? '?' : r.wasmVsC >= r.target ? 'met' : 'MISSED'}`;
  // ≥ 3× JS is asked where JS is not at memory speed; where C itself is under 3× JS, no implementation can reach it.
  const cOverJs = r.jsVsC ? 1 / r.jsVsC : null;
  const jsTgt = r.jsMem ? ' (JS at memory speed)' : r.wasmVsJs >= 3 ? ' ≥ 3× met' : cOverJs !== null && cOverJs < 3 ? ` (< 3×; C is ${cOverJs.toFixed(2)}× JS)` : ' (< 3× MISSED)';
  console.log(`| ${r.what} | ${f2(r.cMs)} | ${f2(r.wasmMs)} | ${f2(r.jsMs)} | ${r.rateWasm} | ${f2(r.wasmVsC)} | ${tgt} | ${f2(r.wasmVsJs)}${jsTgt} | ${f2(r.jsVsC)} |`);
}
console.log(`\ncheck values agree across C, kernel and JS: ${allChecksAgree ? 'yes' : 'NO — ' + rows.filter((r) => !r.agree).map((r) => r.op).join(', ')}`);
if (JSON_OUT) {
  writeFileSync(JSON_OUT, JSON.stringify({ rounds: ROUNDS, node: process.version, raw: results, rows }, (key, v) => (v instanceof Set ? [...v] : typeof v === 'bigint' ? String(v) : v), 2));
}
if (!allChecksAgree) process.exitCode = 1;
