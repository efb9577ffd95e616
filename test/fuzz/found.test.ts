// Issue 15 item 12: every failure the fuzz campaign found, as a small fixture
// (test/fixtures/fuzz/, README there) and the clean exit-2 message it now gets.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runInProcess } from './in-process.js';
import { fileInput } from '../../src/trace/node.js';
import { readTrace } from '../../src/trace/open.js';

const root = new URL('../..', import.meta.url).pathname;
const fx = (name: string) => join(root, 'test/fixtures/fuzz', name);
const out = () => join(mkdtempSync(join(tmpdir(), 'dirtylab-found-')), 'out.dpt');

const run = runInProcess;
afterEach(() => vi.restoreAllMocks());

describe('fuzz finds: clean refusals (exit 2), no crash, no endless run', () => {
  it('kvm-dirty-ring: a time stamp of 10 fraction digits is refused, not a TypeError in pass 2', async () => {
    const r = await run('import', 'kvm-dirty-ring', fx('kvm-stamp-10-digit-fraction.perf.txt'), '-o', out());
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/kvm-stamp-10-digit-fraction\.perf\.txt: line 2: expected a time stamp in seconds \(at most 9 fraction digits, below 2\^53 s\), found 5123\.1000000000/);
    expect(r.err).not.toMatch(/TypeError|null/);
  });

  it('kvm-dirty-ring: stamps 2^53 s apart are refused up front, not cut into 10^22 empty epochs', async () => {
    const r = await run('import', 'kvm-dirty-ring', fx('kvm-stamps-far-apart.perf.txt'), '-o', out());
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/kvm-stamps-far-apart\.perf\.txt: line 2: expected time stamps spanning at most 1048576 epochs of 100 ms \(104858 s; a longer --epoch-ms for a longer span\)/);
    expect(r.ms).toBeLessThan(5000);
  });

  it('qemu-trace: write stamps 7·10^9 s apart are refused, not "Invalid array length"', async () => {
    const r = await run('import', 'qemu-trace', fx('qemu-trace-stamps-far-apart.log'), '--ram-size', '128MiB', '-o', out());
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/qemu-trace-stamps-far-apart\.log: line 3: expected time stamps spanning at most 1048576 epochs of 100 ms/);
    expect(r.err).not.toMatch(/Invalid array length/);
    expect(r.ms).toBeLessThan(5000);
  });

  it('qemu-trace: write stamps 10^6 s apart (the campaign\'s hang: 10^7 epochs, 69 s CPU, 4.5 GB) are refused at once', async () => {
    const r = await run('import', 'qemu-trace', fx('qemu-trace-stamps-1e6-s-apart.log'), '--ram-size', '128MiB', '-o', out());
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/qemu-trace-stamps-1e6-s-apart\.log: line 3: expected time stamps spanning at most 1048576 epochs of 100 ms \(104858 s; a longer --epoch-ms for a longer span\), found 1\.00000e\+6 s/);
    expect(r.ms).toBeLessThan(5000);
  });

  it('validate: a result.json JSON.parse rejects gives one printable line, not V8\'s excerpt with its newlines', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dirtylab-found-run-'));
    copyFileSync(fx('result-bad-token.json'), join(dir, 'result.json'));
    writeFileSync(join(dir, 'trace.jsonl.gz'), '');
    const r = await run('validate', dir);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/result\.json: expected a JSON object \(Unexpected token 'x': not valid JSON\)\n$/);
    expect(r.err.trimEnd().split('\n')).toHaveLength(1);
  });

  it('query-migrate: ram.page-size 0.5 (the second campaign\'s hang: 2.7·10^8 pages, 5.3 s CPU, 1.5 GB) is refused at its line', async () => {
    const r = await run('import', 'query-migrate', fx('query-migrate-page-size-half.jsonl'), '--epoch-ms', '1000', '-o', out());
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/query-migrate-page-size-half\.jsonl: line 2: expected "ram"\."page-size" a power of two from 512 B to 1 GiB \(or give --page-size\), found 0\.5/);
    expect(r.ms).toBeLessThan(5000);
    const f = await run('import', 'query-migrate', fx('query-migrate-page-size-half.jsonl'), '--epoch-ms', '1000', '--page-size', '3', '-o', out());
    expect(f.code).toBe(1);
    expect(f.err).toMatch(/--page-size must be a power of two from 512 B to 1 GiB, not 3/);
  });

  it('query-migrate: an 8 TiB guest (2^31 pages) whose replies dirty a few thousand imports in seconds, not 82 s and 8 GB', async () => {
    const o = out();
    const r = await run('import', 'query-migrate', fx('query-migrate-8tib-guest.jsonl'), '--epoch-ms', '1000', '-o', o);
    expect(r.code, r.err).toBe(0);
    const t = await readTrace(fileInput(o));
    expect([t.header.nPages, t.header.pageSize, t.epochs.length]).toEqual([2 ** 31, 4096, 100]);
    expect(r.ms).toBeLessThan(15_000);
  });

  it('the limit: 2^20 epochs pass, one more is refused (a longer --epoch-ms takes a longer span)', async () => {
    const { checkEpochSpan, MAX_IMPORT_EPOCHS } = await import('../../src/trace/import/common.js');
    expect(() => checkEpochSpan('f', 1, (MAX_IMPORT_EPOCHS - 1) * 1e8, 1e8)).not.toThrow();
    expect(() => checkEpochSpan('f', 1, MAX_IMPORT_EPOCHS * 1e8, 1e8)).toThrow(/at most 1048576 epochs/);
  });
});
