// `dirtylab record`: a C workload writes a known page pattern in the middle
// of each epoch (lined up with the recorder's clock) in an anonymous private
// mapping, a MAP_SHARED memfd, two mappings made halfway through (one through
// the shim's mmap(), one behind its back) and from a forked child; the
// recorded sets must be that pattern exactly, through the address map. Then
// --pid on a running process (zeroAtStart, the hot pages), the address map
// itself, and the errors. Skipped, saying why, where the kernel or the
// toolchain cannot record.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileInput } from '../src/trace/node.js';
import { readTrace } from '../src/trace/open.js';
import { DenseAddressMap, denseIndexOf, type AddressMap } from '../src/trace/record/address-map.js';
import { recorderUnavailable } from '../src/trace/record/native.js';
import { mergeRuns, RecordingSession } from '../src/trace/record/session.js';
import { chooseMapping, parseMaps } from '../src/trace/record/procmaps.js';
import { dirtylab, root } from './run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'dirtylab-record-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Why recording cannot be tested here, or null; builds the recorder and the C fixtures. */
function setUp(): string | null {
  execFileSync(process.execPath, [join(root, 'scripts/build-recorder.mjs'), '--if-stale'], { stdio: 'ignore' });
  const missing = recorderUnavailable();
  if (missing) return missing;
  if (process.getuid?.() !== 0) return 'recording another process needs root (or CAP_SYS_PTRACE)';
  try {
    for (const name of ['pattern', 'pidtarget']) {
      execFileSync('cc', ['-O2', '-o', join(dir, name), join(root, `test/fixtures/record/${name}.c`)], { stdio: 'pipe' });
    }
  } catch (e) {
    return `cannot compile the test workloads: ${(e as Error).message.split('\n')[0]}`;
  }
  return null;
}

let skipReason: string | null = 'not set up';
beforeAll(() => {
  skipReason = setUp();
  if (skipReason) console.log(`record tests skipped: ${skipReason}`);
}, 60_000);

interface Burst { pid: number; k: number; t0: number; t1: number; pages: bigint[] }

function readLog(path: string): { maps: { name: string; pid: number; base: bigint; pages: number }[]; bursts: Burst[] } {
  const maps: { name: string; pid: number; base: bigint; pages: number }[] = [];
  const bursts: Burst[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[0] === 'map') maps.push({ name: f[1]!, pid: Number(f[2]), base: BigInt(f[3]!), pages: Number(f[4]) });
    if (f[0] === 'burst') bursts.push({ pid: Number(f[1]), k: Number(f[2]), t0: Number(f[3]), t1: Number(f[4]), pages: f.slice(5).map((x) => BigInt(x)) });
  }
  return { maps, bursts };
}

describe('record -- COMMAND: the recorded sets are the written pattern', () => {
  const PHASES = 8;
  const EPOCH_MS = 150;

  it('anonymous, shared (memfd), new mid-run (shim and raw mmap), forked child', async (ctx) => {
    if (skipReason) ctx.skip();
    const out = join(dir, 'pattern.dpt');
    const log = join(dir, 'pattern.log');
    const r = dirtylab('record', '--epoch', `${EPOCH_MS}ms`, '--duration', '20s', '--meta', 'workload=the pattern, 8 phases', '--meta', 'licence=MIT', '-o', out, '--', join(dir, 'pattern'), log, String(PHASES));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/stopped: the command exited; command exit status 0/);
    const t = await readTrace(fileInput(out));
    const meta = t.header.meta as Record<string, unknown>;
    const map = meta.addressMap as AddressMap;
    const origin = meta.epoch0MonotonicNs as number;
    const work = (meta.recorderCost as { workNs: number[] }).workNs;
    expect(t.header.timeUnit).toBe('ns');
    expect(t.header.epochLen).toBe(EPOCH_MS * 1e6);
    expect(meta.mode).toBe('command');
    expect(meta).toMatchObject({ workload: 'the pattern, 8 phases', licence: 'MIT', source: 'dirtylab record' });
    const procs = meta.processes as { pid: number; why: string; end: string; flushedAtExit: boolean }[];
    expect(procs.map((p) => p.why)).toEqual(['start', 'fork']);
    expect(procs.every((p) => p.end === 'exit' && p.flushedAtExit)).toBe(true);
    expect((meta.untracked as { pages: number; processPages: number }).pages).toBe(0);

    const { maps, bursts } = readLog(log);
    const [parent, child] = procs.map((p) => p.pid);
    // Dense indices of every page of every pattern mapping, per process.
    const patternIdx = new Set<number>();
    const idx = (pid: number, addr: bigint) => {
      const i = denseIndexOf(map, pid, addr);
      expect(i, `page 0x${addr.toString(16)} of pid ${pid} is in the address map`).not.toBeNull();
      return i!;
    };
    for (const m of maps) for (let p = 0; p < m.pages; p++) patternIdx.add(idx(m.pid, m.base + BigInt(p * 4096)));
    // The shared memfd is one set of pages for both processes; A is two (copy-on-write).
    const S = maps.find((m) => m.name === 'S' && m.pid === parent)!;
    const A = maps.find((m) => m.name === 'A' && m.pid === parent)!;
    expect(idx(child!, S.base + 4096n)).toBe(idx(parent!, S.base + 4096n));
    expect(idx(child!, A.base)).not.toBe(idx(parent!, A.base));
    const kinds = new Map(map.blocks.map((b) => [b.index, b.kind]));
    expect(kinds.get(idx(parent!, S.base))).toBe('shmem');
    expect(kinds.get(idx(parent!, A.base))).toBe('anon');

    // Expected pattern per epoch, from bursts that lie clearly inside one.
    const expected = t.epochs.map(() => new Set<number>());
    const loose = new Set<number>();
    for (const b of bursts) {
      const s = b.t0 - origin;
      const e = b.t1 - origin;
      const k = t.epochs.findIndex((x) => x.t0 <= s && s < x.t1);
      expect(k, `burst at ${s} ns falls in an epoch`).toBeGreaterThanOrEqual(0);
      const ep = t.epochs[k]!;
      // A write during the scan that opened the epoch may have been counted in the one before.
      const clean = s >= ep.t0 + (k > 0 ? work[k - 1]! : 0) + 1e6 && e < ep.t1 - 1e6;
      if (!clean) { loose.add(k); loose.add(k - 1); }
      for (const a of b.pages) expected[k]!.add(idx(b.pid, a));
    }
    let compared = 0;
    t.epochs.forEach((ep, k) => {
      const got = [...ep.pages].filter((p) => patternIdx.has(p)).sort((a, b) => a - b);
      const want = [...expected[k]!].sort((a, b) => a - b);
      if (loose.has(k)) return;
      expect(got, `epoch ${k}`).toEqual(want);
      compared++;
    });
    expect(loose.size, 'bursts too close to an epoch boundary (a very busy host?)').toBeLessThanOrEqual(2);
    expect(compared).toBeGreaterThanOrEqual(PHASES);
    // Phases 1..8 wrote in epochs 1..8 (lined up with the recorder's clock).
    expect(bursts.filter((b) => b.pid === parent).map((b) => b.k)).toEqual([1, 2, 4, 5, 6, 7, 8]);
    expect(expected.map((s) => s.size > 0)).toEqual(t.epochs.map((_, k) => k >= 1 && k <= PHASES));
    // N2 was made behind the shim: the recorder registered it at a boundary
    // and counted the pages written before that in the epoch it appeared in.
    expect((meta.preRegistration as { attributedPages: number }).attributedPages).toBeGreaterThan(0);

    // inspect: the hottest mappings and the recorder's cost.
    const ins = dirtylab('inspect', out);
    expect(ins.code).toBe(0);
    expect(ins.stdout).toMatch(/top mappings\s+by page-writes/);
    expect(ins.stdout).toMatch(/\/memfd:dirtylab-pattern \(deleted\) shmem \(pid \d+, \d+\): \d+ of 32 pages written/);
    expect(ins.stdout).toMatch(/recorder cost\s+[\d.]+ ms median, [\d.]+ ms p95, [\d.]+ ms max per epoch/);
    const js = JSON.parse(dirtylab('inspect', out, '--json').stdout) as { mappings: { name: string; pids: number[]; distinctWritten: number }[]; recorderCost: { epochs: number } };
    const shm = js.mappings.find((m) => m.name.startsWith('/memfd:dirtylab-pattern'))!;
    expect(shm.pids.sort()).toEqual([parent, child].sort());
    expect(js.recorderCost.epochs).toBe(t.epochs.length);
  });
});

describe('record --pid: a running process started with the shim', () => {
  let target: ChildProcess | null = null;
  afterAll(() => { if (target?.pid && target.exitCode === null) process.kill(target.pid, 'SIGKILL'); });

  it('records the chosen mapping: zero pages at the start, the pages written each epoch', async (ctx) => {
    if (skipReason) ctx.skip();
    const shim = dirtylab('record', '--print-shim');
    expect(shim.code).toBe(0);
    expect(existsSync(shim.stdout.trim())).toBe(true);
    const ready = join(dir, 'ready.txt');
    target = spawn(join(dir, 'pidtarget'), [ready], { env: { ...process.env, LD_PRELOAD: shim.stdout.trim() }, stdio: 'ignore' });
    for (let i = 0; i < 100 && !existsSync(ready); i++) await new Promise((res) => setTimeout(res, 50));
    const [, pid, base] = readFileSync(ready, 'utf8').trim().split(' ');
    expect(Number(pid)).toBe(target.pid);
    // 1025 pages = 4100 KiB; by size, then by start address.
    for (const spec of ['4100k', base!]) {
      const out = join(dir, `pid-${spec}.dpt.gz`);
      const r = dirtylab('record', '--pid', pid!, '--mapping', spec, '--epoch', '100ms', '--duration', '600ms', '-o', out);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/zero at start: 683 pages/);
      const t = await readTrace(fileInput(out));
      expect(t.header.nPages).toBe(1025);
      const zero = [...t.header.zeroAtStart!];
      expect(zero).toEqual([...Array(1025).keys()].filter((i) => i % 3 !== 0));
      expect(t.epochs.length).toBe(6);
      for (const e of t.epochs.slice(0, -1)) expect([...e.pages]).toEqual([3, 501, 999]);
      const meta = t.header.meta as Record<string, unknown>;
      expect(meta.mode).toBe('pid');
      expect((meta.addressMap as AddressMap).blocks).toMatchObject([{ index: 0, pages: 1025, kind: 'anon', at: [{ pid: Number(pid), start: base }] }]);
    }
    process.kill(target.pid!, 'SIGKILL');
  });

  it('says which mapping it cannot find, and when the process has no shim', (ctx) => {
    if (skipReason) ctx.skip();
    const r = dirtylab('record', '--pid', String(process.pid), '--mapping', '900G', '-o', join(dir, 'x.dpt'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^dirtylab: process ${process.pid} has no writable mapping of 900G`));
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    const big = parseMaps(readFileSync(`/proc/${process.pid}/maps`, 'utf8')).find((m) => m.perms[1] === 'w' && m.end - m.start >= 1 << 20)!;
    const r2 = dirtylab('record', '--pid', String(process.pid), '--mapping', '0x' + big.start.toString(16), '-o', join(dir, 'x.dpt'));
    expect(r2.code).toBe(1);
    expect(r2.stderr).toBe(`dirtylab: process ${process.pid} has no userfaultfd: start it with LD_PRELOAD=<the shim> (dirtylab record --print-shim prints its path)\n`);
    expect(existsSync(join(dir, 'x.dpt'))).toBe(false);
  });
});

describe('record: errors', () => {
  it('refuses a missing command, a bad --epoch, --mapping without --pid', () => {
    const none = dirtylab('record', '-o', join(dir, 'a.dpt'));
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^dirtylab: record needs a command to run after --/);
    expect(none.stderr.trim().split('\n')).toHaveLength(1);
    for (const bad of ['fast', '0', '-5ms', '0.1ms']) {
      const r = dirtylab('record', '--epoch', bad, '-o', join(dir, 'a.dpt'), '--', 'true');
      expect(r.code, bad).toBe(1);
      expect(r.stderr).toMatch(/--epoch/);
    }
    expect(dirtylab('record', '--mapping', '1G', '-o', join(dir, 'a.dpt'), '--', 'true').code).toBe(1);
    expect(dirtylab('record', '-o', join(dir, 'a.txt'), '--', 'true').stderr).toMatch(/output format/);
    expect(readdirSync(dir).filter((f) => f.startsWith('a.'))).toEqual([]);
  });

  it('--meta takes KEY=VALUE once per key, and not a key the recorder sets itself', () => {
    const bad: [string[], RegExp][] = [
      [['--meta', 'workload'], /--meta takes KEY=VALUE/],
      [['--meta', '=x'], /--meta takes KEY=VALUE/],
      [['--meta', 'addressMap=x'], /the recorder sets "addressMap" itself/],
      [['--meta', 'hostProfile=ideal'], /the recorder sets "hostProfile" itself/],
      [['--meta', 'a=1', '--meta', 'a=2'], /--meta a given twice/],
    ];
    for (const [args, msg] of bad) {
      const r = dirtylab('record', ...args, '-o', join(dir, 'm.dpt'), '--', 'true');
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toMatch(msg);
    }
    expect(readdirSync(dir).filter((f) => f.startsWith('m.'))).toEqual([]);
  });

  it('a command that does not exist: one line, exit 1, no file', (ctx) => {
    if (skipReason) ctx.skip();
    const out = join(dir, 'nocmd.dpt');
    const r = dirtylab('record', '-o', out, '--', 'dirtylab-no-such-command-xyz', '--flag');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('dirtylab: cannot run "dirtylab-no-such-command-xyz": No such file or directory\n');
    expect(readdirSync(dir).filter((f) => f.includes('nocmd'))).toEqual([]);
  });

  it('an unwritable -o: exit 2 before the command runs, no partial file', (ctx) => {
    if (skipReason) ctx.skip();
    const marker = join(dir, 'ran.marker');
    const r = dirtylab('record', '-o', join(dir, 'no/such/dir/x.dpt'), '--', 'sh', '-c', `touch ${marker}`);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`dirtylab: ${join(dir, 'no/such/dir/x.dpt')}: cannot write (ENOENT)\n`);
    expect(existsSync(marker)).toBe(false);
  });
});

describe('address map and session (no kernel needed)', () => {
  it('numbers private pages per process and shared pages per (device, inode, page) once', () => {
    const m = new DenseAddressMap();
    m.addMapping({ proc: 0, pid: 10, startPage: 1000, pages: 4, perms: 'rw-p', dev: '00:00', ino: 0, filePage: 0, name: '[heap]' });
    m.addMapping({ proc: 0, pid: 10, startPage: 2000, pages: 8, perms: 'rw-s', dev: '00:01', ino: 77, filePage: 0, name: '/memfd:x (deleted)' });
    m.addMapping({ proc: 1, pid: 11, startPage: 1000, pages: 4, perms: 'rw-p', dev: '00:00', ino: 0, filePage: 0, name: '[heap]' });
    // the child maps file pages 4..11 of the same object elsewhere
    m.addMapping({ proc: 1, pid: 11, startPage: 5000, pages: 8, perms: 'rw-s', dev: '00:01', ino: 77, filePage: 4, name: '/memfd:x (deleted)' });
    // the heap grows
    m.addMapping({ proc: 0, pid: 10, startPage: 1004, pages: 2, perms: 'rw-p', dev: '00:00', ino: 0, filePage: 0, name: '[heap]' });
    expect(m.nPages).toBe(4 + 8 + 4 + 4 + 2);
    const runs: number[] = [];
    const push = (s: number, n: number) => { runs.push(s, n); };
    expect(m.translate(0, 2004, 2, push)).toBe(0); // parent, file pages 4, 5
    expect(m.translate(1, 5000, 2, push)).toBe(0); // child, file pages 4, 5: the same pages
    expect(m.translate(0, 1003, 3, push)).toBe(0); // heap page 3 and the grown part
    expect(m.translate(0, 3000, 1, push)).toBe(1); // not mapped
    expect([...mergeRuns(runs)]).toEqual([3, 1, 8, 2, 20, 2]);
    const am = m.toJSON();
    expect(denseIndexOf(am, 11, 5000 * 4096)).toBe(8);
    expect(denseIndexOf(am, 10, 2004 * 4096)).toBe(8);
    expect(denseIndexOf(am, 11, 1000 * 4096)).toBe(12);
    expect(denseIndexOf(am, 10, 999 * 4096)).toBeNull();
    expect(am.blocks.find((b) => b.ino === 77 && b.filePage === 0)!.at.map((a) => a.pid)).toEqual([10, 11]);
  });

  it('builds epochs from the recorder\'s lines; an error line is a failure', () => {
    const epochs: { t0: number; t1: number; runs: number[] }[] = [];
    const s = new RecordingSession((e) => epochs.push({ t0: e.t0, t1: e.t1, runs: [...e.runs] }));
    s.line({ t: 'proc', id: 0, pid: 5, ppid: 1, comm: 'x', exe: '/x', why: 'start', tNs: 0 });
    s.line({ t: 'map', proc: 0, pid: 5, s: 100, n: 10, perms: 'rw-p', dev: '00:00', ino: 0, off: 0, name: '', how: 'initial', pre: 0, unk: 0 });
    s.line({ t: 'w', proc: 0, r: [105, 2, 100, 1] });
    s.line({ t: 'e', t0: 0, t1: 100, scanNs: 5, workNs: 9, eventNs: 0, tracked: 10 });
    s.line({ t: 'e', t0: 100, t1: 200, scanNs: 5, workNs: 9, eventNs: 0, tracked: 10 });
    expect(epochs).toEqual([{ t0: 0, t1: 100, runs: [0, 1, 5, 2] }, { t0: 100, t1: 200, runs: [] }]);
    expect(() => s.line({ t: 'error', what: 'exec', msg: 'cannot run "x"' })).toThrow('cannot run "x"');
  });

  it('chooses a mapping by size (with QEMU\'s slack) or address, and names the candidates', () => {
    const maps = parseMaps([
      '7f0000000000-7f0010001000 rw-p 00000000 00:00 0 ',
      '7f0020000000-7f0060000000 rw-p 00000000 00:00 0 ',
      '7f0070000000-7f0070001000 r--p 00000000 fe:00 12 /usr/lib/libc.so.6',
    ].join('\n'));
    expect(chooseMapping(maps, { text: '262148k', size: 262148 * 1024 }, 1)).toMatchObject({ start: 0x7f0000000000, pages: 65537 });
    expect(chooseMapping(maps, { text: '0x7f0020000000', address: 0x7f0020000000 }, 1)).toMatchObject({ pages: 0x40000 });
    expect(() => chooseMapping(maps, { text: '2G', size: 2 ** 31 }, 1)).toThrow(/no writable mapping of 2G .* 0x7f0000000000-0x7f0010001000 rw-p 256\.00 MiB/);
    expect(() => chooseMapping(maps, { text: '0x7f0070000000', address: 0x7f0070000000 }, 1)).toThrow(/no writable mapping starting at/);
  });
});
