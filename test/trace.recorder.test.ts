// The recorder JSON-lines importer: a real recording from the team's QEMU runs
// and tiny hand-made ones for the normalisation rules.
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { fileInput } from '../src/trace/node.js';
import { readTrace } from '../src/trace/open.js';
import { bytesInput } from './helpers.js';

const enc = (lines: object[]) => new TextEncoder().encode(lines.map((l) => JSON.stringify(l)).join('\n') + '\n');

describe('recorder trace.jsonl.gz', () => {
  it('imports a real QEMU run: header, zeroAtStart, t = 0, and the cut after the VM stopped', async () => {
    const t = await readTrace(fileInput(new URL('./fixtures/light-bw32-dt300.trace.jsonl.gz', import.meta.url).pathname));
    expect(t.format).toBe('recorder-jsonl');
    expect(t.header.pageSize).toBe(4096);
    expect(t.header.nPages).toBe(65537);
    expect(t.header.epochLen).toBe(100e6);
    expect(t.header.zeroAtStart!.length).toBe(33070);
    // 103 epochs; the 9 empty ones starting after vm_stop_t_ms = 4272.91 are cut.
    expect(t.epochs.length).toBe(94);
    expect(t.header.meta.epochsCutAfterStop).toBe(9);
    expect(t.epochs.reduce((s, e) => s + e.pages.length, 0)).toBe(7820);
    // First epoch at t0_ms = -5091.413 → t = 0 lies 5.091413 s after it.
    expect(t.epochs[0]!.t0).toBe(0);
    expect(t.header.meta.timeZeroNs).toBe(5091413000);
    expect(t.header.meta.run).toBe('light-bw32-dt300');
    expect(t.header.meta.importFixes).toEqual({ epochsSorted: 0, duplicatePagesRemoved: 0 });
    expect('zero_at_start' in t.header.meta).toBe(false);
  });

  it('sorts and dedupes page lists and counts the fixes; keeps non-empty epochs after the stop', async () => {
    const lines = [
      { page_size: 4096, pages: 10, vm_stop_t_ms: 100, workload: 'w' },
      { t0_ms: -50, t1_ms: 0, n: 4, pages: [5, 3, 3, 9] },
      { t0_ms: 0, t1_ms: 50, pages: [1, 2] },
      { t0_ms: 50, t1_ms: 120, pages: [] },
      { t0_ms: 120, t1_ms: 150, pages: [4] },
      { t0_ms: 150, t1_ms: 200, pages: [] },
      { t0_ms: 200, t1_ms: 250, pages: [] },
    ];
    const t = await readTrace(bytesInput('tiny.jsonl.gz', new Uint8Array(gzipSync(enc(lines)))));
    expect(t.epochs.map((e) => Array.from(e.pages))).toEqual([[3, 5, 9], [1, 2], [], [4]]);
    expect(t.epochs.map((e) => [e.t0, e.t1])).toEqual([[0, 50e6], [50e6, 100e6], [100e6, 170e6], [170e6, 200e6]]);
    expect(t.header.meta).toMatchObject({
      workload: 'w', timeZeroNs: 50e6, epochsCutAfterStop: 2,
      importFixes: { epochsSorted: 1, duplicatePagesRemoved: 1 },
    });
    expect(t.header.nEpochs).toBe(4);
  });

  it('cuts at post-copy start as well', async () => {
    const lines = [
      { page_size: 4096, pages: 10, postcopy_start_t_ms: 10, vm_stop_t_ms: null },
      { t0_ms: 0, t1_ms: 10, pages: [1] },
      { t0_ms: 10, t1_ms: 20, pages: [] },
    ];
    const t = await readTrace(bytesInput('pc.jsonl', enc(lines)));
    expect(t.epochs.length).toBe(1);
  });
});
