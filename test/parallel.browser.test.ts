// In headless Chromium: compare() over a pool of 2 module Workers (the
// browser entry's default worker script) keeps the page responsive — a 10 ms
// timer keeps firing while the runs go on — and gives exactly the runs of the
// same comparison in the page's own thread.
import { describe, expect, it } from 'vitest';
import { compare, generatedHeader, generateEpochs, type CompareOptions } from '../src/browser.js';

const gen = { kind: 'hotcold' as const, pages: 8192, epochs: 40, epochMs: 100, rate: 4000, seed: 2 };
const trace = { header: generatedHeader(gen), epochs: [...generateEpochs(gen)] };
const options: CompareOptions = {
  traces: [{ name: 'hc', trace, sha256: null }],
  methods: ['precopy', 'qemu-precopy', 'qemu-auto-converge'],
  replicates: 16,
  bandwidths: [16 * 2 ** 20],
  maxTimeMs: 30_000,
  seed: 3,
};

/** Run `work` with a 10 ms interval timer going: its ticks and the longest gap between them, ms. */
async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number; ticks: number; maxGapMs: number }> {
  let ticks = 0;
  let last = performance.now();
  let maxGapMs = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    maxGapMs = Math.max(maxGapMs, now - last);
    last = now;
    ticks++;
  }, 10);
  const t0 = performance.now();
  try {
    const value = await work();
    const ms = performance.now() - t0;
    maxGapMs = Math.max(maxGapMs, performance.now() - last);
    return { value, ms, ticks, maxGapMs };
  } finally {
    clearInterval(timer);
  }
}

describe('worker pool in the browser', () => {
  it('keeps the page responsive and gives the single-thread runs exactly', async () => {
    const here = await timed(() => compare(options));
    const pooled = await timed(() => compare({ ...options, workers: 2 }));
    console.log(`in the page: ${here.ms.toFixed(0)} ms, ${here.ticks} ticks, longest gap ${here.maxGapMs.toFixed(0)} ms; ` +
      `2 workers: ${pooled.ms.toFixed(0)} ms, ${pooled.ticks} ticks, longest gap ${pooled.maxGapMs.toFixed(0)} ms`);
    expect(JSON.stringify(pooled.value)).toBe(JSON.stringify(here.value));
    expect(pooled.value.runs.length).toBe(3 * 3 * 16);
    // In the page's own thread the timer starves for the whole comparison; with workers it keeps firing.
    expect(pooled.ticks).toBeGreaterThanOrEqual(Math.min(20, pooled.ms / 40));
    expect(pooled.maxGapMs).toBeLessThan(Math.max(250, here.maxGapMs / 4));
  });
});
