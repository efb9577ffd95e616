/**
 * Seeded pseudo-random numbers: mulberry32 (Tommy Ettinger's 32-bit
 * generator, public domain). Small, fast and bit-reproducible in every JS
 * engine, which is all dirtylab needs (generators, stratified start offsets,
 * bootstrap resampling); not for cryptography.
 */
export type Rng = () => number;

/** A generator of uniform numbers in [0, 1) from a 32-bit seed. */
export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A uniform integer in [0, n). */
export function randInt(rng: Rng, n: number): number {
  return Math.floor(rng() * n);
}
