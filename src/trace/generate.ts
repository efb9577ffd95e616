/**
 * Seeded synthetic traces (docs/dpt-format.md): the same options and seed always give
 * the same trace, byte for byte. Each epoch draws its expected number of
 * writes (rate × epoch length, with a seeded fractional remainder), picks a
 * page per write from the kind's distribution, and records the distinct pages
 * with their write counts.
 */
import { PAGE_SIZE_RULE, validPageSize, type Epoch, type TraceHeader } from './model.js';
import { mulberry32, randInt, type Rng } from './random.js';

/** The generator kinds. */
export const GENERATOR_KINDS = ['uniform', 'hotcold', 'zipf', 'scan', 'phases'] as const;
/** A generator kind. */
export type GeneratorKind = (typeof GENERATOR_KINDS)[number];

/** Options of a generated trace. */
export interface GenerateOptions {
  kind: GeneratorKind;
  /** Guest pages. */
  pages: number;
  epochs: number;
  epochMs: number;
  /** Page writes per second (a page written twice counts twice). */
  rate: number;
  seed: number;
  pageSize?: number;
  /** hotcold/phases: share of pages that are hot (default 0.1). */
  hotFraction?: number;
  /** hotcold/phases: share of writes that go to the hot set (default 0.9). */
  hotProbability?: number;
  /** zipf: exponent s (default 1.1). */
  zipfS?: number;
  /** phases: epochs per phase; the hot set moves at each phase (default 50). */
  phaseEpochs?: number;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** A fixed bijection rank → page that scatters hot ranks over the address space. */
function scatter(nPages: number): (r: number) => number {
  let a = 2654435761 % nPages || 1;
  while (gcd(a, nPages) !== 1) a = (a + 1) % nPages || 1;
  return (r) => Number((BigInt(r) * BigInt(a) + 12345n) % BigInt(nPages));
}

/**
 * Zipf rank in [0, n) with P(r) ∝ 1/(r+1)^s, by inverting the continuous
 * approximation of the CDF (exact enough for traffic shapes, O(1) per draw).
 */
function zipfRank(rng: Rng, n: number, s: number): number {
  const u = rng();
  const x = Math.abs(s - 1) < 1e-9 ? Math.pow(n + 1, u) : Math.pow((Math.pow(n + 1, 1 - s) - 1) * u + 1, 1 / (1 - s));
  return Math.min(n - 1, Math.max(0, Math.floor(x) - 1));
}

/** Check options, filling in defaults; throws RangeError naming the bad one. */
export function checkGenerateOptions(o: GenerateOptions): Required<GenerateOptions> {
  const full: Required<GenerateOptions> = {
    pageSize: 4096, hotFraction: 0.1, hotProbability: 0.9, zipfS: 1.1, phaseEpochs: 50, ...o,
  };
  const int = (name: string, v: number, min: number, max = Number.MAX_SAFE_INTEGER) => {
    if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`--${name} must be an integer from ${min} to ${max}, not ${v}`);
  };
  int('pages', full.pages, 1, 2 ** 32 - 1);
  int('epochs', full.epochs, 1);
  int('seed', full.seed, 0, 2 ** 32 - 1);
  int('phase-epochs', full.phaseEpochs, 1);
  if (!validPageSize(full.pageSize)) throw new RangeError(`--page-size must be ${PAGE_SIZE_RULE}, not ${full.pageSize}`);
  if (!(full.epochMs > 0) || !Number.isInteger(full.epochMs * 1e6)) throw new RangeError(`--epoch-ms must be a positive number of ms (whole ns), not ${full.epochMs}`);
  if (!Number.isSafeInteger(full.epochMs * 1e6 * full.epochs)) throw new RangeError(`--epoch-ms × --epochs must stay within 2^53 − 1 ns, not ${full.epochMs} ms × ${full.epochs}`);
  if (!(full.rate >= 0) || !Number.isFinite(full.rate)) throw new RangeError(`--rate must be a non-negative number of writes per second, not ${full.rate}`);
  if (!(full.hotFraction > 0 && full.hotFraction <= 1)) throw new RangeError(`--hot-fraction must be in (0, 1], not ${full.hotFraction}`);
  if (!(full.hotProbability >= 0 && full.hotProbability <= 1)) throw new RangeError(`--hot-probability must be in [0, 1], not ${full.hotProbability}`);
  if (!(full.zipfS > 0)) throw new RangeError(`--zipf-s must be > 0, not ${full.zipfS}`);
  if (!(GENERATOR_KINDS as readonly string[]).includes(full.kind)) throw new RangeError(`unknown generator "${full.kind}"; one of ${GENERATOR_KINDS.join(', ')}`);
  return full;
}

/** The header of a generated trace (fixed-length epochs, write counts). */
export function generatedHeader(o: GenerateOptions, version = 'dev'): TraceHeader {
  const f = checkGenerateOptions(o);
  return {
    pageSize: f.pageSize,
    nPages: f.pages,
    timeUnit: 'ns',
    epochLen: Math.round(f.epochMs * 1e6),
    nEpochs: f.epochs,
    hasTimes: false,
    hasCounts: true,
    zeroAtStart: null,
    meta: {
      source: 'synthetic',
      generator: { ...f, dirtylab: version },
      timeZeroNs: 0,
      licence: 'CC0-1.0',
    },
  };
}

/** The epochs of a generated trace. */
export function* generateEpochs(o: GenerateOptions): Generator<Epoch> {
  const f = checkGenerateOptions(o);
  const rng = mulberry32(f.seed);
  const n = f.pages;
  const hotN = Math.max(1, Math.ceil(f.hotFraction * n));
  const map = scatter(n);
  const perEpoch = (f.rate * f.epochMs) / 1000;
  const epochNs = Math.round(f.epochMs * 1e6);
  // The epoch's writes, sorted, then run-length counted (or, when they are at
  // least an eighth of the pages, counted per page): the distinct pages and
  // their write counts, in memory proportional to one epoch's writes.
  let drawn = new Uint32Array(1024);
  let tally = new Uint32Array(0); // dense epochs: writes per page, zeroed again after each epoch
  let cursor = 0;
  for (let k = 0; k < f.epochs; k++) {
    const writes = Math.floor(perEpoch) + (rng() < perEpoch - Math.floor(perEpoch) ? 1 : 0);
    if (drawn.length < writes) drawn = new Uint32Array(Math.max(writes, drawn.length * 2));
    const hotBase = f.kind === 'phases' ? (Math.floor(k / f.phaseEpochs) * hotN) % n : 0;
    for (let w = 0; w < writes; w++) {
      let p: number;
      switch (f.kind) {
        case 'uniform':
          p = randInt(rng, n);
          break;
        case 'hotcold':
        case 'phases':
          p = rng() < f.hotProbability ? (hotBase + randInt(rng, hotN)) % n : randInt(rng, n);
          break;
        case 'zipf':
          p = map(zipfRank(rng, n, f.zipfS));
          break;
        case 'scan':
          p = cursor;
          cursor = (cursor + 1) % n;
          break;
      }
      drawn[w] = p;
    }
    let pages: Uint32Array;
    let c: Uint32Array;
    if (writes * 8 >= n) {
      // Dense epoch: count writes per page (O(writes + n), no sort); same result as sorting.
      if (tally.length < n) tally = new Uint32Array(n);
      let distinct = 0;
      for (let i = 0; i < writes; i++) if (tally[drawn[i]!]!++ === 0) distinct++;
      pages = new Uint32Array(distinct);
      c = new Uint32Array(distinct);
      for (let p = 0, d = 0; d < distinct; p++) {
        const m = tally[p]!;
        if (m !== 0) { pages[d] = p; c[d++] = m; tally[p] = 0; }
      }
    } else {
      const all = drawn.subarray(0, writes).sort();
      let distinct = 0;
      for (let i = 0; i < writes; i++) if (i === 0 || all[i] !== all[i - 1]) distinct++;
      pages = new Uint32Array(distinct);
      c = new Uint32Array(distinct);
      let d = -1;
      for (let i = 0; i < writes; i++) {
        if (i === 0 || all[i] !== all[i - 1]) pages[++d] = all[i]!;
        c[d]!++;
      }
    }
    yield { t0: k * epochNs, t1: (k + 1) * epochNs, pages, counts: c };
  }
}
