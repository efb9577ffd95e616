// `dirtylab import` and `generate fit` end to end (the real command, dist/):
// every format on its fixture, the round trip into simulate, exit codes and
// one-line errors for corrupt inputs (no output file left behind), and the
// instruction time base of simulate, compare and grid.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { dirtylab } from './run-cli.js';

const tmp = mkdtempSync(join(tmpdir(), 'dirtylab-import-'));
const fx = (name: string) => `test/fixtures/import/${name}`;

function expectOneLineError(r: { stderr: string; stdout: string }, pattern: RegExp) {
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr.trim()).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

/** Nothing but the files the test put there: no output, no temporary file. */
function expectNoOutput(dir: string, allowed: string[] = []) {
  expect(readdirSync(dir).filter((f) => !allowed.includes(f))).toEqual([]);
}

const imports: [string, string, string[]][] = [
  ['lackey', fx('tiny.lackey.gz'), []],
  ['bitmap-dir', fx('bitmap-dir'), ['--epoch-ms', '1s']],
  ['kvm-dirty-ring', fx('kvm-dirty-ring.perf.txt.gz'), ['--slots', '0:160,1:65281@0x100000']],
  ['qemu-trace', fx('qemu-trace-tcg.log.gz'), ['--ram-size', '131076KiB']],
  ['calc-dirty-rate', fx('calc-dirty-rate.jsonl'), ['--ram-size', '131076KiB']],
  ['query-migrate', fx('query-migrate.jsonl.gz'), []],
];

describe('dirtylab import: each format on its fixture, then simulate', () => {
  it.each(imports)('%s', (format, input, extra) => {
    const out = join(tmp, `${format}.dpt`);
    const r = dirtylab('import', format, input, '-o', out, ...extra);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toMatch(new RegExp(`^${out.replace(/[.]/g, '\\.')}: \\d+ epochs over \\d+ pages of 4096 B, timed in (ns|instructions) \\(${format} → dpt\\)`));
    const s = dirtylab('simulate', out, '-m', 'qemu-precopy');
    expect(s.stderr).toBe('');
    expect(s.code).toBe(0);
    expect(s.stdout).toMatch(/result\s+completed/);
    const i = dirtylab('inspect', out, '--json');
    expect(JSON.parse(i.stdout).meta.importedFrom ?? JSON.parse(i.stdout).meta.synthetic.from.importer).toBe(format);
  });

  it('rate-only inputs say they are synthetic, and which shape, in the header, the output and inspect; --curve-out feeds generate fit', () => {
    const out = join(tmp, 'qm-uniform.dpt');
    const curve = join(tmp, 'qm-curve.json');
    const r = dirtylab('import', 'query-migrate', fx('query-migrate.jsonl.gz'), '-o', out, '--shape', 'uniform', '--curve-out', curve);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/SYNTHETIC trace: 1 measured window/);
    expect(r.stdout).toMatch(/shape assumption: uniform: W\(t\) = N/);
    expect(r.stdout).toMatch(/worst \|W\(t\) error\| (\d\.\d\d|0\.\d\d) % at \d+ ms/);
    const i = dirtylab('inspect', out);
    expect(i.stdout).toMatch(/^synthetic\s+SYNTHETIC pages fitted to dirty rates from query-migrate/m);
    expect(i.stdout).toMatch(/^shape\s+uniform: W\(t\) = N·\(1 − exp\(−λt\/N\)\)/m);
    expect(i.stdout).toMatch(/^fit\s+worst W\(t\) error \d+\.\d\d % at \d+ ms/m);
    const g = dirtylab('generate', 'fit', '--curve', curve, '-o', join(tmp, 'from-curve.dpt'));
    expect(g.code).toBe(0);
    expect(Number(/worst W\(t\) error ([\d.]+) %/.exec(g.stdout)![1])).toBeLessThanOrEqual(5);
  });

  it('--help lists every format with its options', () => {
    const r = dirtylab('import', '--help');
    expect(r.code).toBe(0);
    for (const f of ['lackey', 'bitmap-dir', 'kvm-dirty-ring', 'qemu-trace', 'calc-dirty-rate', 'query-migrate']) expect(r.stdout).toContain(`  ${f} (`);
    for (const o of ['--epoch-instructions', '--epoch-events', '--slots', '--ram-size', '--shape', '--hot-pages', '--curve-out']) expect(r.stdout).toContain(o);
  });
});

describe('dirtylab import: corrupt inputs exit 2 with the file and line or byte, and write nothing', () => {
  const cases: [string, (dir: string) => string[], RegExp][] = [
    ['a huge line', (d) => { writeFileSync(join(d, 'huge.lk'), 'I  1000,4\n' + 'x'.repeat(2 ** 21)); return ['lackey', join(d, 'huge.lk')]; }, /huge\.lk: line 2: expected a text line of at most 1048576 characters/],
    ['wrong column counts', (d) => { writeFileSync(join(d, 'cols.txt'), '1 5\n1 5 7\n'); return ['kvm-dirty-ring', join(d, 'cols.txt')]; }, /cols\.txt: line 2: expected two numbers per line/],
    ['non-monotonic time stamps', (d) => {
      writeFileSync(join(d, 'back.txt'), ' q 1 [000] 10.200000: kvm:kvm_dirty_ring_push: ring 0: dirty 0x1 reset 0x0 slot 0 offset 0x1 (used 1)\n q 1 [000] 10.100000: kvm:kvm_dirty_ring_push: ring 0: dirty 0x2 reset 0x0 slot 0 offset 0x2 (used 2)\n');
      return ['kvm-dirty-ring', join(d, 'back.txt')];
    }, /back\.txt: line 2: expected time stamps that never go backwards/],
    ['an unknown slot', (d) => { writeFileSync(join(d, 'slot.txt'), '0 1\n3 2\n'); return ['kvm-dirty-ring', join(d, 'slot.txt'), '--slots', '0:16']; }, /slot\.txt: line 2: expected a slot of the --slots layout \(0\), found slot 3/],
    ['bitmaps of different lengths', (d) => {
      mkdirSync(join(d, 'bm'));
      writeFileSync(join(d, 'bm', 'dump-1'), new Uint8Array(8).fill(1));
      writeFileSync(join(d, 'bm', 'dump-2'), new Uint8Array(16).fill(1));
      return ['bitmap-dir', join(d, 'bm')];
    }, /bm\/dump-2: byte 8: expected 8 bytes, the length of dump-1/],
    ['a truncated gzip member', (d) => {
      const whole = readFileSync(fx('tiny.lackey.gz'));
      writeFileSync(join(d, 'cut.lackey.gz'), whole.subarray(0, 40000));
      return ['lackey', join(d, 'cut.lackey.gz')];
    }, /cut\.lackey\.gz: byte 40000: expected a complete, valid gzip stream/],
    ['notdirty lines without time stamps', (d) => { writeFileSync(join(d, 'q.log'), 'memory_notdirty_write_access 0x0 ram_addr 0x1000 size 4\n'); return ['qemu-trace', join(d, 'q.log')]; }, /q\.log: line 1: expected trace lines with time stamps/],
    ['a missing input', (d) => ['lackey', join(d, 'nope.lk')], /nope\.lk: expected an existing file/],
  ];
  it.each(cases)('%s', (_name, setup, pattern) => {
    const d = mkdtempSync(join(tmp, 'bad-'));
    const inputs = readdirSync(d);
    const [format, ...rest] = setup(d);
    const before = readdirSync(d);
    const out = join(d, 'out.dpt');
    const r = dirtylab('import', format!, ...rest, '-o', out);
    expect(r.code).toBe(2);
    expectOneLineError(r, new RegExp(`^dirtylab: .*${pattern.source}`));
    expect(existsSync(out)).toBe(false);
    expectNoOutput(d, [...inputs, ...before]);
  });

  it('the gzipped fixture cut inside a member also fails for the bitmap and ring importers', () => {
    const d = mkdtempSync(join(tmp, 'bad-'));
    writeFileSync(join(d, 'ring.txt.gz'), readFileSync(fx('kvm-dirty-ring.perf.txt.gz')).subarray(0, 5000));
    const r = dirtylab('import', 'kvm-dirty-ring', join(d, 'ring.txt.gz'), '-o', join(d, 'o.dpt.gz'));
    expect(r.code).toBe(2);
    expectOneLineError(r, /ring\.txt\.gz: byte 5000: expected a complete, valid gzip stream/);
    expectNoOutput(d, ['ring.txt.gz']);
  });
});

describe('dirtylab import: bad flags exit 1', () => {
  it.each([
    [['import', 'nope', fx('calc-dirty-rate.jsonl')], /unknown import format "nope"; formats: lackey, bitmap-dir/],
    [['import', 'lackey', fx('tiny.lackey.gz'), '--slots', '0:1'], /--slots is not an option of import lackey; its options: --epoch-instructions/],
    [['import', 'calc-dirty-rate', fx('calc-dirty-rate.jsonl'), '--ram-size', '1GiB', '--shape', 'flat'], /--shape must be one of hot, uniform, not "flat"/],
    [['import', 'bitmap-dir', fx('bitmap-dir'), '--epoch-ms', 'soon'], /--epoch-ms: "soon" is not a/],
    [['import', 'lackey', fx('tiny.lackey.gz'), '--epoch-instructions', '0'], /--epoch-instructions must be an integer ≥ 1, not "0"/],
    [['import', 'calc-dirty-rate', fx('calc-dirty-rate.jsonl')], /import calc-dirty-rate needs --ram-size/],
    [['import', 'kvm-dirty-ring', fx('kvm-dirty-ring.slot-gfn.txt'), '--slots', '1=5'], /--slots takes SLOT:PAGES\[@GPA\]/],
    [['import', 'lackey', fx('tiny.lackey.gz'), '-o', join(tmp, 'x.txt')], /cannot tell the output format of/],
  ])('%j', (args, pattern) => {
    const withOut = args.includes('-o') ? args : [...args, '-o', join(tmp, 'never.dpt')];
    const r = dirtylab(...withOut);
    expect(r.code).toBe(1);
    expectOneLineError(r, new RegExp(`^dirtylab: ${pattern.source}`));
    expect(existsSync(join(tmp, 'never.dpt'))).toBe(false);
  });
});

describe('dirtylab generate fit', () => {
  it('--like a bundled real trace: within 5 % at every sampled window, the worst error printed and stored', () => {
    const out = join(tmp, 'fit-medium.dpt');
    const r = dirtylab('generate', 'fit', '--like', 'data/medium-bw32-dt300.dpt', '-o', out);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const worst = Number(/worst W\(t\) error ([\d.]+) % at \d+ ms/.exec(r.stdout)![1]);
    expect(worst).toBeLessThanOrEqual(5);
    const j = JSON.parse(dirtylab('inspect', out, '--json').stdout);
    expect(j.meta.source).toBe('synthetic');
    expect(j.meta.from.like).toBe('data/medium-bw32-dt300.dpt');
    expect(j.meta.fit.points.length).toBeGreaterThanOrEqual(15);
    for (const p of j.meta.fit.points) expect(Math.abs(p.relError), `${p.windowMs} ms`).toBeLessThanOrEqual(0.05);
    expect(Math.abs(j.meta.fit.worstRelError) * 100).toBeCloseTo(worst, 1);
    // The same page count, zero pages and host profile as the real trace.
    const real = JSON.parse(dirtylab('inspect', 'data/medium-bw32-dt300.dpt', '--json').stdout);
    expect(j.nPages).toBe(real.nPages);
    expect(j.zeroAtStartPages).toBe(real.zeroAtStartPages);
    expect(j.meta.hostProfile).toBe(real.meta.hostProfile);
    // inspect's own W(t) of both agrees within 5 % wherever both have it.
    real.wt.forEach((w: { windowMs: number; pages: number | null }, i: number) => {
      if (w.pages !== null && w.windowMs <= 4000) expect(Math.abs(j.wt[i].pages / w.pages - 1), `${w.windowMs} ms`).toBeLessThanOrEqual(0.05);
    });
    expect(dirtylab('simulate', out, '-m', 'qemu-precopy').code).toBe(0);
    expect(dirtylab('inspect', out).stdout).toMatch(/^synthetic\s+SYNTHETIC \(generate fit --like data\/medium-bw32-dt300\.dpt\)$/m);
  });

  it('--curve a given CSV curve (gzipped): within 5 %', () => {
    const curve = join(tmp, 'curve.csv.gz');
    writeFileSync(curve, gzipSync('window_ms,pages\n125,310\n250,540\n500,900\n1000,1400\n2000,2000\n4000,2600\n8000,3100\n'));
    const out = join(tmp, 'fit-curve.dpt.gz');
    const r = dirtylab('generate', 'fit', '--curve', curve, '--pages', '20000', '-o', out);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/epochs of 25 ms over 20000 pages/); // 25 ms: the largest divisor of every window ≤ 100 ms
    expect(Number(/worst W\(t\) error ([\d.]+) %/.exec(r.stdout)![1])).toBeLessThanOrEqual(5);
    const j = JSON.parse(dirtylab('inspect', out, '--json').stdout);
    expect(j.meta.fit.points.map((p: { target: number }) => p.target)).toEqual([310, 540, 900, 1400, 2000, 2600, 3100]);
  });

  it('usage errors: neither or both sources, options of other generators, a curve larger than the guest; a bad curve file is exit 2', () => {
    expect(dirtylab('generate', 'fit', '-o', join(tmp, 'a.dpt')).stderr).toMatch(/exactly one of --like TRACE or --curve FILE/);
    const r = dirtylab('generate', 'fit', '--like', 'data/medium-bw32-dt300.dpt', '--rate', '5', '-o', join(tmp, 'a.dpt'));
    expect(r.code).toBe(1);
    expectOneLineError(r, /--rate does not apply to generate fit/);
    const big = join(tmp, 'big.json');
    writeFileSync(big, '[[100, 500]]');
    const b = dirtylab('generate', 'fit', '--curve', big, '--pages', '100', '-o', join(tmp, 'a.dpt'));
    expect(b.code).toBe(1);
    expectOneLineError(b, /the curve reaches 500 distinct pages but the guest has 100/);
    const bad = join(tmp, 'bad.csv');
    writeFileSync(bad, '100,10\n200,20,3\n');
    const c = dirtylab('generate', 'fit', '--curve', bad, '-o', join(tmp, 'a.dpt'));
    expect(c.code).toBe(2);
    expectOneLineError(c, /bad\.csv: line 2: expected two columns/);
    expect(existsSync(join(tmp, 'a.dpt'))).toBe(false);
  });
});

describe('instruction-timed traces in simulate, compare and grid', () => {
  const lk = join(tmp, 'tb-lackey.dpt');
  it('map instructions to time at --instructions-per-second (default 1e9) and say so first', () => {
    expect(dirtylab('import', 'lackey', fx('tiny.lackey.gz'), '-o', lk).code).toBe(0);
    const a = dirtylab('simulate', lk, '-m', 'qemu-precopy');
    expect(a.code).toBe(0);
    expect(a.stdout.split('\n')[0]).toBe(`Time base: ${lk} is timed in guest instructions; mapped to time at 1.000e9 instructions/s (default; set --instructions-per-second)`);
    const b = dirtylab('simulate', lk, '-m', 'qemu-precopy', '--instructions-per-second', '1e6', '--json');
    expect(b.code).toBe(0);
    expect(JSON.parse(b.stdout).timeBase).toMatchObject({ from: 'instructions', instructionsPerSecond: 1e6 });
    const g = dirtylab('grid', lk, '--bandwidth', '32MiB/s', '--downtime-limit', '300ms', '--instructions-per-second', '2e8', '--out', join(tmp, 'grid'));
    expect(g.code).toBe(0);
    expect(g.stdout.split('\n')[0]).toMatch(/^Time base: .* mapped to time at 2\.000e8 instructions\/s \(--instructions-per-second\)$/);
    const c = dirtylab('compare', lk, '--methods', 'qemu-precopy,precopy', '--replicates', '2', '--no-write-time-band', '--out', join(tmp, 'cmp'), '--quiet');
    expect(c.code).toBe(0);
    expect(c.stdout.split('\n')[0]).toMatch(/^Time base: .* 1\.000e9 instructions\/s/);
    expect(dirtylab('simulate', lk, '-m', 'qemu-precopy', '--instructions-per-second', '0').code).toBe(1);
    expect(dirtylab('simulate', '--help').stdout).toMatch(/--instructions-per-second <n>.*default 1e9/s);
  });

  it('ns traces are untouched: no time-base line', () => {
    const r = dirtylab('simulate', 'data/light-bw32-dt300.dpt', '-m', 'qemu-precopy');
    expect(r.stdout.split('\n')[0]).toMatch(/^Host profile: /);
  });
});

