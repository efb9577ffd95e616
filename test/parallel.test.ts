// The worker pool (src/parallel/): traces packed into one buffer and rebuilt
// exactly; compare() and grid over 2 workers give the bytes of 1; a crashing
// worker fails the comparison with one message naming the run (exit 3), never
// a hang; a bad parameter found in a worker is still a usage error.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { compare, createPool, generatedHeader, generateEpochs, ParamError, WorkerCrashError } from '../src/index.js';
import { packTrace, unpackTrace, copyPacked, type PackedArrays } from '../src/parallel/transfer.js';
import { dirtylab, root } from './run-cli.js';
import { ep, header } from './helpers.js';

describe('packed traces', () => {
  it('rebuild exactly: times, pages, counts where present (absent stays absent), zero-at-start, header', () => {
    const t = {
      header: header({ nPages: 50, hasCounts: true, zeroAtStart: Uint32Array.from([3, 9, 40]), meta: { source: 'test', hostProfile: 'x' } }),
      epochs: [ep(0, 100, [1, 2, 3], [1, 5, 2]), ep(100, 250.5, []), ep(250.5, 400, [49], [7]), ep(400, 500, [0, 10])],
    };
    const p = packTrace(t);
    const back = unpackTrace(copyPacked(p) as PackedArrays);
    expect(back.header).toEqual(t.header);
    expect(back.epochs.length).toBe(4);
    back.epochs.forEach((e, k) => {
      const o = t.epochs[k]!;
      expect([e.t0, e.t1, Array.from(e.pages)]).toEqual([o.t0, o.t1, Array.from(o.pages)]);
      expect(e.counts ? Array.from(e.counts) : undefined).toEqual(o.counts ? Array.from(o.counts) : undefined);
    });
    expect(unpackTrace(packTrace({ ...t, header: header() }) as PackedArrays).header.zeroAtStart).toBeNull();
  });
});

const gen = { kind: 'hotcold' as const, pages: 8192, epochs: 40, epochMs: 100, rate: 4000, seed: 2 };
const trace = { header: generatedHeader(gen), epochs: [...generateEpochs(gen)] };
const traces = [{ name: 'hc', trace, sha256: null }];

describe('compare() over workers', () => {
  it('2 workers give the runs of this thread, in grid order (two traces)', async () => {
    const other = { header: generatedHeader({ ...gen, seed: 5 }), epochs: [...generateEpochs({ ...gen, seed: 5 })] };
    const o = { traces: [...traces, { name: 'hc5', trace: other, sha256: null }], methods: ['precopy', 'qemu-auto-converge'], replicates: 5, bandwidths: [16 * 2 ** 20], maxTimeMs: 30_000, seed: 4 };
    const here = await compare(o);
    let calls = 0;
    const pooled = await compare({ ...o, workers: 2, onProgress: (d, n) => { calls++; expect(d).toBeLessThanOrEqual(n); } });
    expect(JSON.stringify(pooled)).toBe(JSON.stringify(here));
    expect(calls).toBe(here.runs.length);
  });

  it('handing out runs by message (a page without SharedArrayBuffer) gives the same runs as the shared queue', async () => {
    const o = { traces, methods: ['precopy', 'postcopy', 'xbzrle'], replicates: 4, bandwidths: [16 * 2 ** 20], maxTimeMs: 30_000, seed: 9 };
    const here = await compare(o);
    for (const sharedQueue of [true, false]) {
      const pool = await createPool({ workers: 2, sharedQueue });
      try {
        let calls = 0;
        const pooled = await compare({ ...o, pool, onProgress: () => { calls++; } });
        expect(JSON.stringify(pooled)).toBe(JSON.stringify(here));
        expect(calls).toBe(here.runs.length);
      } finally {
        await pool.dispose();
      }
    }
  });

  it('an onProgress that throws fails the comparison with its error, on both paths (no hang, no gaps)', async () => {
    for (const sharedQueue of [true, false]) {
      for (const at of [5, 24]) { // mid-run, and the last run's reply
        const pool = await createPool({ workers: 2, sharedQueue });
        try {
          let calls = 0;
          const err = await compare({ traces, methods: ['precopy', 'postcopy'], replicates: 4, pool, onProgress: () => { if (++calls === at) throw new Error(`progress ${at}`); } }).catch((e) => e);
          expect(err).toBeInstanceOf(Error);
          expect(err.message).toBe(`progress ${at}`);
          expect((await compare({ traces, methods: ['precopy'], replicates: 2, pool, writeTimeBand: false })).runs.length).toBe(2); // still usable
        } finally {
          await pool.dispose();
        }
      }
    }
  });

  it('a bad parameter found in a worker is a ParamError; the pool stays usable; dispose ends it', async () => {
    const pool = await createPool({ workers: 2 });
    try {
      await expect(compare({ traces, methods: ['precopy'], replicates: 2, calibration: 'nope', pool })).rejects.toThrow(ParamError);
      const r = await compare({ traces, methods: ['precopy'], replicates: 2, pool, writeTimeBand: false });
      expect(r.runs.length).toBe(2);
    } finally {
      await pool.dispose();
    }
    await expect(compare({ traces, methods: ['precopy'], replicates: 2, pool })).rejects.toThrow(/disposed/);
  });
});

describe('dirtylab compare/grid --workers', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'dirtylab-pool-'));
  const file = join(tmp, 'hc.dpt');
  const args = [file, '--methods', 'precopy,qemu-precopy,postcopy', '--replicates', '4', '--bandwidth', '16MiB/s,64MiB/s', '--max-time', '30s', '--seed', '3', '--quiet'];
  beforeAll(() => {
    expect(dirtylab('generate', 'hotcold', '--pages', '8192', '--epochs', '40', '--rate', '4000', '--seed', '2', '-o', file).code).toBe(0);
  });

  it('writes the same runs.jsonl and summary.json bytes with 1 and 2 workers', () => {
    const one = dirtylab('compare', ...args, '--workers', '1', '--out', join(tmp, 'w1'));
    const two = dirtylab('compare', ...args, '--workers', '2', '--out', join(tmp, 'w2'));
    expect([one.code, one.stderr, two.code, two.stderr]).toEqual([0, '', 0, '']);
    expect(two.stdout).toBe(one.stdout.replaceAll(join(tmp, 'w1'), join(tmp, 'w2')));
    for (const f of ['runs.jsonl', 'summary.json', 'summary.csv']) {
      expect(readFileSync(join(tmp, 'w2', f)).equals(readFileSync(join(tmp, 'w1', f))), f).toBe(true);
    }
  }, 180_000);

  it('grid gives the same cells with 1 and 2 workers', () => {
    const g = (n: string) => dirtylab('grid', file, '--bandwidth', '8MiB/s,32MiB/s', '--downtime-limit', '30ms,300ms', '--methods', 'qemu-precopy,precopy', '--workers', n, '--json', '--out', join(tmp, `g${n}`));
    const [a, b] = [g('1'), g('2')];
    expect([a.code, b.code]).toEqual([0, 0]);
    expect(b.stdout).toBe(a.stdout);
    expect(JSON.parse(a.stdout).length).toBe(8);
  }, 120_000);

  it('a worker that crashes fails the comparison with one message naming the run, exit 3, no output, no hang', () => {
    const t0 = Date.now();
    const r = spawnSync(process.execPath, [join(root, 'bin/dirtylab.js'), 'compare', ...args, '--workers', '2', '--out', join(tmp, 'crash')], {
      cwd: root, encoding: 'utf8', timeout: 120_000, env: { ...process.env, DIRTYLAB_TEST_WORKER_EXIT: '7' },
    });
    expect(r.signal).toBeNull(); // not killed by the timeout
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/^dirtylab: internal error: worker [12] of 2 exited with code 70 while running trace hc, method qemu-precopy, 16 MiB\/s, downtime-limit 300 ms, write-time uniform, replicate 2 \(run 7 of the grid\); every worker was stopped\n$/);
    expect(existsSync(join(tmp, 'crash'))).toBe(false);
    expect(Date.now() - t0).toBeLessThan(120_000);
  }, 150_000);

  it('the library rejects with a WorkerCrashError', async () => {
    process.env.DIRTYLAB_TEST_WORKER_EXIT = '1';
    try {
      const err = await compare({ traces, methods: ['precopy', 'postcopy'], replicates: 2, workers: 2 }).catch((e) => e);
      expect(err).toBeInstanceOf(WorkerCrashError);
      expect(err.run).toBe('trace hc, method postcopy, 128 MiB/s, downtime-limit 300 ms, write-time uniform, replicate 0 (run 1 of the grid)');
    } finally {
      delete process.env.DIRTYLAB_TEST_WORKER_EXIT;
    }
  });

  it('names the run under way when a worker dies deep in the run (shared queue and by message)', async () => {
    // Run 37 of 96: each worker has done many runs and posted some replies; the shared queue names
    // the run from the slot the worker keeps, the message path from the runs it handed out.
    process.env.DIRTYLAB_TEST_WORKER_EXIT = '37';
    try {
      for (const sharedQueue of [true, false]) {
        const pool = await createPool({ workers: 2, sharedQueue });
        const err = await compare({ traces, methods: ['precopy', 'postcopy'], replicates: 16, pool }).catch((e) => e);
        await pool.dispose();
        expect(err).toBeInstanceOf(WorkerCrashError);
        expect(err.run).toBe('trace hc, method postcopy, 128 MiB/s, downtime-limit 300 ms, write-time start, replicate 2 (run 37 of the grid)');
      }
    } finally {
      delete process.env.DIRTYLAB_TEST_WORKER_EXIT;
    }
  });
});
