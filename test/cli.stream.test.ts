// Streaming (issue 15 item 11): `inspect` and `simulate` of a large
// .dpt run as child processes with peak RSS far below what the trace takes in
// memory; the streamed simulate equals the in-memory one (the same trace as
// .dpt.jsonl, which is read whole).
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
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
  const r = spawnSync(process.execPath, [join(root, 'bench/rss-child.mjs'), ...args], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 26 });
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
  }, 180_000);

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
