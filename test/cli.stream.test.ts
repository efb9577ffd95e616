// Streaming (issue 15 item 11): `inspect`, `simulate` and `compare` of a large
// .dpt run as child processes with peak RSS far below what the trace takes in
// memory; the streamed simulate, compare, grid and merge equal the in-memory
// ones (the same trace as .dpt.jsonl, or below the streaming size, read whole).
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DptWriter } from '../src/trace/dpt.js';
import type { Epoch } from '../src/trace/model.js';
import { header } from './helpers.js';
import { dirtylab, root } from './run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'dirtylab-cli-stream-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Run dirtylab through bench/rss-child.mjs: its output and peak RSS (MiB). */
function measured(...args: string[]): { code: number; stdout: string; stderr: string; rssMiB: number } {
  return measuredEnv({}, ...args);
}

/** measured() with extra environment variables. */
function measuredEnv(env: Record<string, string>, ...args: string[]): { code: number; stdout: string; stderr: string; rssMiB: number } {
  const r = spawnSync(process.execPath, [join(root, 'bench/rss-child.mjs'), ...args], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 26, env: { ...process.env, ...env } });
  const m = /@@maxrss (\d+)/.exec(r.stderr);
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, rssMiB: m ? Number(m[1]) / 1024 : NaN };
}

const N_PAGES = 2 ** 20;
const PER_EPOCH = 2 ** 19;
const EPOCHS = 240;

/** A large trace written straight to disk: 2^19 of 2^20 pages per 100 ms epoch, each epoch its own set. */
async function writeBigTrace(path: string): Promise<number> {
  const fd = openSync(path, 'w');
  let pos = 0;
  const w = new DptWriter({ write: (b) => { writeSync(fd, b, 0, b.length, pos); pos += b.length; } }, header({ nPages: N_PAGES, hasTimes: false, epochLen: 100_000_000, nEpochs: EPOCHS, meta: { timeZeroNs: 0 } }));
  const pages = new Uint32Array(PER_EPOCH);
  for (let k = 0; k < EPOCHS; k++) {
    // Page 2i or 2i + 1, chosen by a hash of (i, k): sorted, distinct, a new set every epoch.
    for (let i = 0; i < PER_EPOCH; i++) pages[i] = 2 * i + ((Math.imul(i ^ (k * 0x9e3779b1), 0x85ebca6b) >>> 31) & 1);
    const e: Epoch = { t0: k * 1e8, t1: (k + 1) * 1e8, pages };
    await w.writeEpoch(e);
  }
  await w.close();
  closeSync(fd);
  return pos;
}

describe('streaming a large .dpt', () => {
  it('inspect and simulate stay within a memory bound the in-memory trace alone exceeds', async () => {
    const path = join(dir, 'big.dpt');
    const bytes = await writeBigTrace(path);
    expect(statSync(path).size).toBe(bytes);
    const inMemoryMiB = (EPOCHS * PER_EPOCH * 4) / 2 ** 20; // the pages alone as Uint32Arrays: 480 MiB
    const BOUND_MIB = 300;
    expect(inMemoryMiB).toBeGreaterThan(BOUND_MIB);

    const ins = measured('inspect', '--json', path);
    expect(ins.code, ins.stderr).toBe(0);
    const s = JSON.parse(ins.stdout);
    expect(s.epochs).toBe(EPOCHS);
    expect(s.pagesPerEpoch.mean).toBe(PER_EPOCH);
    expect(ins.rssMiB).toBeLessThan(BOUND_MIB);

    const sim = measured('simulate', path, '-m', 'qemu-precopy', '--bandwidth', '1GiB/s', '--max-time', '20s', '--json');
    expect(sim.code, sim.stderr).toBe(0);
    const r = JSON.parse(sim.stdout);
    expect(r.extra.pagesWritten).toBeGreaterThan(PER_EPOCH);
    expect(sim.rssMiB).toBeLessThan(BOUND_MIB);

    // compare streams it too (here from any size): two workers open the file with the scan's index,
    // where each would otherwise hold its own copy of the pages (3 × 480 MiB with this thread's).
    const out = join(dir, 'cmp-big');
    const cmp = measuredEnv({ DIRTYLAB_TEST_STREAM_FROM_BYTES: '0' }, 'compare', path, '--methods', 'qemu-precopy,postcopy', '--replicates', '2',
      '--bandwidth', '1GiB/s', '--max-time', '10s', '--workers', '2', '--out', out, '--quiet', '--json');
    expect(cmp.code, cmp.stderr).toBe(0);
    const cells = JSON.parse(cmp.stdout).cells as { method: string; runs: number }[];
    expect(cells.map((c) => [c.method, c.runs])).toEqual([['qemu-precopy', 2], ['postcopy', 2]]);
    expect(cmp.rssMiB).toBeLessThan(2 * BOUND_MIB);
  }, 300_000);

  it('compare, grid and merge on a streamed .dpt write what they write for the trace read whole, on 1 or 2 workers', () => {
    const dpt = join(dir, 'cmp.dpt');
    expect(dirtylab('generate', 'hotcold', '-o', dpt, '--pages', '30000', '--epochs', '40', '--rate', '120000', '--seed', '8').code).toBe(0);
    const run = (env: Record<string, string>, out: string, ...args: string[]) => {
      const r = spawnSync(process.execPath, [join(root, 'bin/dirtylab.js'), ...args, '--out', join(dir, out), '--quiet'], { cwd: root, encoding: 'utf8', env: { ...process.env, ...env } });
      expect(r.status, r.stderr).toBe(0);
      return r.stdout.replaceAll(join(dir, out), 'OUT');
    };
    const files = (out: string, names: string[]) => names.map((n) => readFileSync(join(dir, out, n), 'utf8'));
    const stream = { DIRTYLAB_TEST_STREAM_FROM_BYTES: '0' };
    const cmp = ['compare', dpt, '--methods', 'precopy,qemu-precopy,postcopy,xbzrle', '--replicates', '3', '--bandwidth', '16MiB/s,64MiB/s'];
    const outs = ['summary.csv', 'runs.csv', 'report.html'];
    const whole = run({}, 'c-mem', ...cmp, '--workers', '1');
    expect(run(stream, 'c-s1', ...cmp, '--workers', '1')).toBe(whole);
    expect(run(stream, 'c-s2', ...cmp, '--workers', '2')).toBe(whole);
    expect(files('c-s1', outs)).toEqual(files('c-mem', outs));
    expect(files('c-s2', outs)).toEqual(files('c-mem', outs));
    // Shards of the streamed comparison merge into the same report.
    run(stream, 'sh0', ...cmp, '--shard', '0/2');
    run(stream, 'sh1', ...cmp, '--shard', '1/2');
    const m = spawnSync(process.execPath, [join(root, 'bin/dirtylab.js'), 'merge', join(dir, 'sh0'), join(dir, 'sh1'), '--out', join(dir, 'merged')], { cwd: root, encoding: 'utf8', env: { ...process.env, ...stream } });
    expect(m.status, m.stderr).toBe(0);
    expect(files('merged', ['summary.csv', 'runs.csv'])).toEqual(files('c-mem', ['summary.csv', 'runs.csv']));
    const grid = ['grid', dpt, '--methods', 'precopy,postcopy', '--bandwidth', '16MiB/s,64MiB/s', '--downtime-limit', '100ms,300ms'];
    const g = run({}, 'g-mem', ...grid, '--workers', '1');
    expect(run(stream, 'g-s2', ...grid, '--workers', '2')).toBe(g);
    expect(files('g-s2', ['grid.json'])).toEqual(files('g-mem', ['grid.json']));
  }, 300_000);

  it('simulate on a .dpt (streamed) prints what it prints for the same trace read whole', () => {
    const dpt = join(dir, 'small.dpt');
    const jsonl = join(dir, 'small.dpt.jsonl');
    expect(dirtylab('generate', 'hotcold', '-o', dpt, '--pages', '20000', '--epochs', '30', '--rate', '80000', '--seed', '4').code).toBe(0);
    expect(dirtylab('convert', dpt, jsonl).code).toBe(0);
    // Looped (the trace is 3 s long) from epoch 5 at 8 MiB/s.
    const extra = ['--start-epoch', '5', '--bandwidth', '8MiB/s', '--max-time', '30s'];
    const a = dirtylab('simulate', dpt, '-m', 'qemu-precopy', '--json', ...extra);
    const b = dirtylab('simulate', jsonl, '-m', 'qemu-precopy', '--json', ...extra);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    const strip = (t: string) => { const o = JSON.parse(t); o.provenance.traceSha256 = null; return o; };
    expect(strip(a.stdout)).toEqual(strip(b.stdout));
    expect(JSON.parse(a.stdout).traceLooped).toBe(true);
    const human = (f: string) => dirtylab('simulate', f, '-m', 'precopy', '-p', 'write-time=start', '--on-trace-end', 'stop').stdout.replaceAll(f, 'TRACE');
    expect(human(dpt)).toBe(human(jsonl));
  }, 240_000);
});
