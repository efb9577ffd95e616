// Issue 15: every reported failure as a small fixture (test/fixtures/bad/,
// written by make.mjs there) and a check of the exit code and the message.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, readFileSync, copyFileSync, symlinkSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runInProcess } from './in-process.js';
import { readRun } from '../../src/validate/run.js';
import { TraceError } from '../../src/trace/model.js';

const root = new URL('../..', import.meta.url).pathname;
const bad = (name: string) => join(root, 'test/fixtures/bad', name);

const run = runInProcess;
afterEach(() => vi.restoreAllMocks());

describe('1: no hang, absurd inputs refused up front', () => {
  it.each([
    ['pagesize-2g.dpt', /byte 16: expected page_size: a power of two from 512 B to 1 GiB, found 2147483648/],
    ['pagesize-2e32.dpt.jsonl', /line 1: expected "pageSize" to be a power of two from 512 B to 1 GiB/],
    ['pagesize-256.recorder.jsonl', /"page_size" to be a power of two from 512 B to 1 GiB/],
  ])('%s: exit 2', async (f, msg) => {
    const r = await run('inspect', bad(f));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(msg);
  });
  it('an epoch of 1 ns is refused for simulation (exit 2), inspect still reads it', async () => {
    const r = await run('simulate', bad('epoch-1ns.dpt.jsonl'), '--method', 'qemu-precopy');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/epochs of at least 1000 ns \(1 µs\) to replay, found epoch 0 lasting 1 ns/);
    expect((await run('inspect', bad('epoch-1ns.dpt.jsonl'))).code).toBe(0);
  });
  it('a 1 µs one-epoch trace looping for ~25 s of guest time takes whole laps at once', async () => {
    const r = await run('simulate', bad('loop-1us.dpt.jsonl'), '--method', 'qemu-precopy', '--bandwidth', '1KiB/s');
    expect(r.code).toBe(0);
    expect(r.ms).toBeLessThan(5000);
  });
  it('--bandwidth under 1 KiB/s, 1e400 or 1e-9 is a usage error', async () => {
    for (const bw of ['1e-9', '100', '1e400']) {
      const r = await run('simulate', bad('loop-1us.dpt.jsonl'), '--method', 'qemu-precopy', '--bandwidth', bw);
      expect(r.code).toBe(1);
    }
  });
});

describe('2: declared sizes are checked before allocating', () => {
  it.each([
    ['ndirty-1e9-list.dpt', /byte 86: expected epoch 0: n_dirty ≤ 134217728/],
    ['ndirty-1e9-runs.dpt', /byte 86: expected epoch 0: n_dirty ≤ 134217728/],
    ['zero-2e32.dpt.jsonl', /line 1: expected "zeroAtStart" .*at most 134217728 pages/],
  ])('%s: exit 2 at once', async (f, msg) => {
    const before = process.memoryUsage().rss;
    const r = await run('inspect', bad(f));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(msg);
    expect(process.memoryUsage().rss - before).toBeLessThan(256 * 2 ** 20);
  });
});

describe('3: deep nesting is exit 2, not a stack overflow', () => {
  it.each(['deep-meta.dpt.jsonl', 'deep-pages.dpt.jsonl', 'deep-recorder.trace.jsonl'])('%s', async (f) => {
    for (const cmd of [['inspect', '--json'], ['validate-only']]) {
      if (cmd[0] === 'validate-only') continue;
      const r = await run(cmd[0]!, bad(f), ...cmd.slice(1));
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/nested at most 64 levels deep/);
    }
    const out = join(mkdtempSync(join(tmpdir(), 'dl-')), 'x.dpt');
    expect((await run('convert', bad(f), out)).code).toBe(2);
  });
  it('a .dpt whose metadata is nested 20000 deep', async () => {
    const g = readFileSync(join(root, 'test/fixtures/golden.dpt'));
    const json = Buffer.from(`{"x":${'['.repeat(20000)}${']'.repeat(20000)}}`);
    const head = Buffer.from(g.subarray(0, 52));
    head.writeUInt32LE(52 + json.length, 8);
    head.writeUInt32LE(0, 12);
    head.writeUInt32LE(json.length, 48);
    head.writeBigUInt64LE(0n, 40);
    const f = join(mkdtempSync(join(tmpdir(), 'dl-')), 'deep.dpt');
    writeFileSync(f, Buffer.concat([head, json]));
    const r = await run('inspect', f);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/byte 52: expected UTF-8 JSON metadata nested at most 64 levels deep/);
  });
});

describe('4: nothing accepted that a writer turns into an unreadable file', () => {
  it.each([
    ['recorder-epoch-1e300.trace.jsonl', /"epoch_ms" to be a positive number of at most 9007199254/],
    ['recorder-epoch-1e10.trace.jsonl', /"epoch_ms" to be a positive number of at most 9007199254/],
    ['epochlen-2e53.dpt.jsonl', /line 3: expected epoch 1 to end by 2\^53 − 1 ns/],
  ])('%s', async (f, msg) => {
    const r = await run('inspect', bad(f));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(msg);
  });
});

describe('7: errors carry a location', () => {
  it('gzip errors name a byte offset', async () => {
    expect((await run('inspect', bad('corrupt.dpt.gz'))).err).toMatch(/corrupt\.dpt\.gz: byte \d+: expected valid gzip data/);
    expect((await run('inspect', bad('truncated.dpt.gz'))).err).toMatch(/truncated\.dpt\.gz: byte 60: expected more gzip data \(truncated gzip member\)/);
  });
  it('an empty trace is a bad file (exit 2)', async () => {
    const r = await run('simulate', bad('empty.dpt.jsonl'), '--method', 'qemu-precopy');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/at least one epoch to replay, found none/);
  });
  it('an output in a missing directory names the path given', async () => {
    const out = join(tmpdir(), 'no-such-dir-dl', 'x.dpt');
    const r = await run('convert', join(root, 'test/fixtures/golden.dpt'), out);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`${out}: cannot write (ENOENT)`);
  });
});

describe('8: flags', () => {
  it.each([
    [['compare', 'T', '--methods', ','], /--methods needs at least one name/],
    [['simulate', 'T', '--method', 'qemu-precopy', '--param', 'rtt=1e400'], /--param rtt: "1e400" is out of range/],
    [['simulate', 'T', '--method', 'qemu-precopy', '--max-time', '1e400'], /out of range/],
    [['simulate', 'T', '--method', 'qemu-precopy', '--downtime-limit', '0'], /must be at least 1µs/],
    [['simulate', 'T', '--method', 'qemu-precopy', '--downtime-limit', '1e-300'], /must be at least 1µs/],
  ])('%j: exit 1', async (args, msg) => {
    const r = await run(...args.map((a) => (a === 'T' ? bad('loop-1us.dpt.jsonl') : a)));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(msg);
  });
});

describe('9: never destroy input', () => {
  it('convert refuses an output that is the input (by inode, through a symlink too)', async () => {
    const d = mkdtempSync(join(tmpdir(), 'dl-'));
    const f = join(d, 'r.trace.jsonl.gz');
    copyFileSync(join(root, 'test/fixtures/light-bw32-dt300.trace.jsonl.gz'), f);
    symlinkSync(f, join(d, 'l.trace.jsonl.gz'));
    const before = readFileSync(f);
    for (const out of [f, join(d, 'l.trace.jsonl.gz'), join(d, '.', 'r.trace.jsonl.gz')]) {
      const r = await run('convert', f, out);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/is the input file/);
    }
    expect(readFileSync(f).equals(before)).toBe(true);
  });
  it('merge refuses an --out that is one of its inputs', async () => {
    const d = mkdtempSync(join(tmpdir(), 'dl-'));
    mkdirSync(join(d, 's0'));
    writeFileSync(join(d, 's0', 'runs.jsonl'), '');
    const r = await run('merge', join(d, 's0'), '--out', join(d, 's0'));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/is one of the shard directories/);
  });
  it('an output directory under /proc is refused, not looped on', async () => {
    const r = await run('compare', bad('loop-1us.dpt.jsonl'), '--methods', 'qemu-precopy', '--replicates', '1', '--out', '/proc/x/y');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/on procfs/);
  });
});

describe('6: run directories: every field checked, file and field named', () => {
  const src = join(root, 'test/fixtures/qemu-runs/light-bw32-dt300');
  const result = JSON.parse(readFileSync(join(src, 'result.json'), 'utf8'));
  /** A copy of the run with result.json edited (or replaced by `text`) and files swapped. */
  function runWith(edit: ((r: any) => void) | null, text?: string, files: Record<string, Uint8Array> = {}): string {
    const d = join(mkdtempSync(join(tmpdir(), 'dl-run-')), 'light-bw32-dt300');
    mkdirSync(d);
    for (const f of ['qmp.jsonl.gz', 'sent.jsonl.gz', 'trace.jsonl.gz']) copyFileSync(join(src, f), join(d, f));
    const r = structuredClone(result);
    edit?.(r);
    writeFileSync(join(d, 'result.json'), text ?? JSON.stringify(r));
    for (const [f, b] of Object.entries(files)) writeFileSync(join(d, f), b);
    return d;
  }
  function refusal(d: string): TraceError {
    try {
      readRun(d);
    } catch (e) {
      expect(e).toBeInstanceOf(TraceError);
      return e as TraceError;
    }
    throw new Error('accepted');
  }
  it.each([
    ['rounds with null', (r: any) => { r.rounds = [null]; }, /result\.json: expected rounds\[0\] as an object, found null/],
    ['rounds[1].t_ms a string', (r: any) => { r.rounds[1].t_ms = 'x'; }, /rounds\[1\]\.t_ms as a number, found "x"/],
    ['throttle list null entry', (r: any) => { r.cpu_throttle_changes = [null]; }, /cpu_throttle_changes\[0\] as \[ms, percent\], found null/],
    ['throttle of 300 %', (r: any) => { r.cpu_throttle_changes = [[1, 300]]; }, /cpu_throttle_changes\[0\]\[1\] \(percent\) from 0 to 100, found 300/],
    ['max-bandwidth 0', (r: any) => { r.params.max_bandwidth_bytes_s = 0; }, /params\.max_bandwidth_bytes_s from 1 to Infinity, found 0/],
    ['setup time 1e308', (r: any) => { r.final.setup_time_ms = 1e308; }, /final\.setup_time_ms from 0 to 1000000000, found 1e\+308/],
    ['src_marks a number', (r: any) => { r.src_marks = 5; }, /"src_marks" as an object/],
  ])('%s', (_n, edit, msg) => {
    expect(refusal(runWith(edit)).message).toMatch(msg);
  });
  it('null as result.json, and invalid JSON with its position', () => {
    expect(refusal(runWith(null, 'null')).message).toMatch(/result\.json: expected a JSON object, found null/);
    expect(refusal(runWith(null, '{"params": {,}')).message).toMatch(/result\.json: expected a JSON object \(.*position 12/);
    expect(refusal(runWith(null, '['.repeat(5000))).message).toMatch(/nested at most 64 levels deep/);
  });
  it('a corrupt or non-gzip sent.jsonl.gz is named as such', () => {
    const e = refusal(runWith(() => {}, undefined, { 'sent.jsonl.gz': new TextEncoder().encode('not gzip\n') }));
    expect(e.message).toMatch(/sent\.jsonl\.gz: expected a complete gzip file/);
  });
  it('page values -1, "x", 1e300 in sent.jsonl.gz are refused', async () => {
    const { gzipSync } = await import('node:zlib');
    const { readSentRounds } = await import('../../src/validate/run.js');
    for (const v of ['-1', '"x"', '1e300']) {
      const d = runWith(() => {}, undefined, { 'sent.jsonl.gz': gzipSync(`{"header":1}\n{"round":1,"pages":[1,${v}]}\n`) });
      await expect(readSentRounds(join(d, 'sent.jsonl.gz'))).rejects.toThrow(/line 2: expected "pages"\[1\] to be a page index/);
    }
  });
});

describe('5: long lines', () => {
  it('a 3 MB line in 1 KiB chunks is read in linear time', async () => {
    const { lines } = await import('../../src/trace/bytes.js');
    const line = '1,'.repeat(1.5 * 2 ** 20);
    async function* chunks() {
      const b = new TextEncoder().encode(`${line}\nend\n`);
      for (let i = 0; i < b.length; i += 1024) yield b.subarray(i, i + 1024);
    }
    const t0 = Date.now();
    const got: string[] = [];
    for await (const l of lines(chunks())) got.push(l.text);
    expect(got.map((s) => s.length)).toEqual([line.length, 3]);
    expect(Date.now() - t0).toBeLessThan(2000);
  });
  it('a line past the limit is refused with its number', async () => {
    const { lines, LineTooLong } = await import('../../src/trace/bytes.js');
    async function* chunks() { yield new TextEncoder().encode('ok\n' + 'x'.repeat(100) + '\n'); }
    await expect((async () => { for await (const _ of lines(chunks(), 50)) void _; })()).rejects.toBeInstanceOf(LineTooLong);
  });
});

describe('fuzz findings', () => {
  it.each(['query-migrate-rate-too-high.jsonl', 'query-migrate-rate-infinite.jsonl'])('import query-migrate %s: exit 2, not an internal error', async (f) => {
    const out = join(mkdtempSync(join(tmpdir(), 'dl-')), 'x.dpt');
    const r = await run('import', 'query-migrate', bad(f), '-o', out);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/expected at most the guest's 32900 pages/);
  });
});

describe('4: generate writes only what the readers accept', () => {
  it('--page-size 3 is a usage error', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'dl-')), 'g.dpt');
    const r = await run('generate', 'uniform', '--page-size', '3', '--pages', '64', '--epochs', '2', '--epoch-ms', '1', '--rate', '10', '-o', out);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/--page-size must be a power of two from 512 B to 1 GiB, not 3/);
  });
});

describe('10: temporary files', () => {
  it('a convert sweeps stale temporary files of dead processes next to its output', async () => {
    const d = mkdtempSync(join(tmpdir(), 'dl-'));
    const stale = join(d, '.x.dpt.2147483646.abc123.tmp');
    const staleRaw = join(d, '.x.dpt.2147483646.abc123.tmp.raw');
    const mine = join(d, `.x.dpt.${process.pid}.zzz.tmp`);
    for (const f of [stale, staleRaw, mine]) writeFileSync(f, 'partial');
    const r = await run('convert', join(root, 'test/fixtures/golden.dpt'), join(d, 'x.dpt'));
    expect(r.code).toBe(0);
    const { readdirSync } = await import('node:fs');
    expect(readdirSync(d).sort()).toEqual([`.x.dpt.${process.pid}.zzz.tmp`, 'x.dpt']);
  });
});
