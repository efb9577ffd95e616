// End-to-end: the real `dirtylab` command (bin/dirtylab.js → dist/, built by
// `npm test`'s pretest), its output, exit codes and file handling.
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { dirtylab, root } from './run-cli.js';

const tmp = mkdtempSync(join(tmpdir(), 'dirtylab-cli-'));
const medium = 'data/medium-bw32-dt300.dpt';

function expectOneLineError(r: { stderr: string }, pattern: RegExp) {
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr.trim()).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

describe('dirtylab inspect', () => {
  it('prints the summary of a bundled real trace', () => {
    const r = dirtylab('inspect', medium);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/pages\s+65,537 \(256\.0 MiB/);
    expect(r.stdout).toMatch(/epochs\s+97, nominally 100\.0 ms/);
    expect(r.stdout).toMatch(/W\(t\)\s+0\.1 s: \d+ · 0\.4 s: [\d,]+ · 1 s: [\d,]+ · 4 s: [\d,]+ · 10 s: – pages/);
    expect(r.stdout).toMatch(/hot set\s+\d+ pages written in ≥ 50 % of epochs/);
  });

  it('--json has the documented fields and the provenance', () => {
    const r = dirtylab('inspect', medium, '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ pageSize: 4096, nPages: 65537, epochs: 97, format: 'dpt' });
    expect(j.durationMs).toBeCloseTo(9719.964, 3); // from t0_ms = -5078.469 to the t1_ms = 4641.495 of the epoch holding vm_stop_t_ms
    expect(Object.keys(j.pagesPerEpoch)).toEqual(expect.arrayContaining(['min', 'median', 'max']));
    expect(j.pagesPerEpoch.min).toBeLessThanOrEqual(j.pagesPerEpoch.median);
    expect(j.pagesPerEpoch.median).toBeLessThanOrEqual(j.pagesPerEpoch.max);
    expect(j.wt.map((w: { windowMs: number }) => w.windowMs)).toEqual([100, 400, 1000, 4000, 10000]);
    expect(j.wt[0].pages).toBeLessThan(j.wt[1].pages);
    expect(j.wt[4].pages).toBeNull(); // the trace is shorter than 10 s
    expect(j.distinctPages).toBeGreaterThan(j.wt[3].pages);
    expect(typeof j.hotSetPages).toBe('number');
    expect(j.meta).toMatchObject({ run: 'medium-bw32-dt300', importedFrom: 'recorder-jsonl' });
  });

  it('the recorder file and its .dpt conversion give the same figures; --hot-threshold changes the hot set', () => {
    const a = JSON.parse(dirtylab('inspect', 'test/fixtures/light-bw32-dt300.trace.jsonl.gz', '--json').stdout);
    const b = JSON.parse(dirtylab('inspect', 'data/light-bw32-dt300.dpt', '--json').stdout);
    expect(a.format).toBe('recorder-jsonl');
    for (const key of ['nPages', 'epochs', 'durationMs', 'pagesPerEpoch', 'distinctPages', 'wt', 'hotSetPages', 'zeroAtStartPages']) {
      expect(b[key], key).toEqual(a[key]);
    }
    const c = JSON.parse(dirtylab('inspect', 'data/light-bw32-dt300.dpt', '--json', '--hot-threshold', '0.1').stdout);
    expect(c.hotSetPages).toBeGreaterThan(b.hotSetPages);
  });

  it('--format forces a reader', () => {
    const r = dirtylab('inspect', medium, '--format', 'dpt-jsonl');
    expect(r.code).toBe(2);
    expectOneLineError(r, /^dirtylab: data\/medium-bw32-dt300\.dpt: (line 1|byte 0): expected/);
  });
});

describe('dirtylab convert', () => {
  it('round-trips exactly: .dpt → .dpt.jsonl → .dpt.gz → .dpt gives the same bytes', () => {
    const a = join(tmp, 'l.dpt.jsonl');
    const b = join(tmp, 'l.dpt.gz');
    const c = join(tmp, 'l.dpt');
    expect(dirtylab('convert', 'data/light-bw32-dt300.dpt', a).code).toBe(0);
    expect(dirtylab('convert', a, b).code).toBe(0);
    expect(readFileSync(b).subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    const r = dirtylab('convert', b, c);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/94 epochs \(dpt → dpt\)/);
    expect(readFileSync(c).equals(readFileSync(join(root, 'data/light-bw32-dt300.dpt')))).toBe(true);
  });

  it('imports the recorder format', () => {
    const out = join(tmp, 'rec.dpt');
    // The bundled trace is this conversion with the host it was recorded on named in its header.
    const r = dirtylab('convert', 'test/fixtures/light-bw32-dt300.trace.jsonl.gz', out, '--host-profile', 'qemu-7.2-tcg');
    expect(r.code).toBe(0);
    expect(readFileSync(out).equals(readFileSync(join(root, 'data/light-bw32-dt300.dpt')))).toBe(true);
    const j = JSON.parse(dirtylab('inspect', out, '--json').stdout);
    expect(j.meta.hostProfile).toBe('qemu-7.2-tcg');
    const bad = dirtylab('convert', 'test/fixtures/light-bw32-dt300.trace.jsonl.gz', join(tmp, 'x.dpt'), '--host-profile', 'my-laptop');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--host-profile: unknown host profile "my-laptop"; profiles: qemu-7.2-tcg/);
  });

  it('a bad input leaves no output and no temporary file', () => {
    const bad = join(tmp, 'trunc.dpt');
    writeFileSync(bad, readFileSync(join(root, medium)).subarray(0, 5000));
    const dir = mkdtempSync(join(tmpdir(), 'dirtylab-out-'));
    const out = join(dir, 'out.dpt.gz');
    const r = dirtylab('convert', bad, out);
    expect(r.code).toBe(2);
    expectOneLineError(r, /^dirtylab: .*trunc\.dpt: byte \d+: expected .*found end of file/);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('an unknown output extension is a usage error', () => {
    const r = dirtylab('convert', medium, join(tmp, 'x.txt'));
    expect(r.code).toBe(1);
    expectOneLineError(r, /cannot tell the output format/);
  });
});

describe('dirtylab generate', () => {
  it('is seeded and reproducible for every kind', () => {
    for (const kind of ['uniform', 'hotcold', 'zipf', 'scan', 'phases']) {
      const a = join(tmp, `${kind}-a.dpt`);
      const b = join(tmp, `${kind}-b.dpt`);
      const c = join(tmp, `${kind}-c.dpt`);
      const args = ['generate', kind, '--pages', '3000', '--epochs', '30', '--epoch-ms', '50', '--rate', '4000'];
      expect(dirtylab(...args, '--seed', '7', '-o', a).code).toBe(0);
      expect(dirtylab(...args, '--seed', '7', '-o', b).code).toBe(0);
      expect(dirtylab(...args, '--seed', '8', '-o', c).code).toBe(0);
      expect(readFileSync(a).equals(readFileSync(b)), kind).toBe(true);
      if (kind !== 'scan') expect(readFileSync(a).equals(readFileSync(c)), kind).toBe(false);
      const j = JSON.parse(dirtylab('inspect', a, '--json').stdout);
      expect(j.epochs).toBe(30);
      expect(j.durationMs).toBe(1500);
      expect(j.meta.generator.kind).toBe(kind);
    }
  });

  it('hot/cold concentrates writes: its hot set is larger than uniform\'s', () => {
    const opts = ['--pages', '20000', '--epochs', '40', '--rate', '20000', '--seed', '1'];
    dirtylab('generate', 'uniform', ...opts, '-o', join(tmp, 'u.dpt'));
    dirtylab('generate', 'hotcold', ...opts, '-o', join(tmp, 'h.dpt'));
    const u = JSON.parse(dirtylab('inspect', join(tmp, 'u.dpt'), '--json').stdout);
    const h = JSON.parse(dirtylab('inspect', join(tmp, 'h.dpt'), '--json').stdout);
    expect(h.hotSetPages).toBeGreaterThan(1000);
    expect(u.hotSetPages).toBeLessThan(100);
    expect(h.distinctPages).toBeLessThan(u.distinctPages);
  });
});

describe('exit codes and messages', () => {
  it('usage errors exit 1', () => {
    expect(dirtylab('frobnicate').code).toBe(1);
    expect(dirtylab('inspect', medium, '--no-such-flag').code).toBe(1);
    const r = dirtylab('generate', 'uniform', '--pages', 'lots', '-o', join(tmp, 'x.dpt'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--pages must be an integer ≥ 1, not "lots"/);
    expect(dirtylab('generate', 'fractal', '-o', join(tmp, 'x.dpt')).code).toBe(1);
    expect(dirtylab('inspect', medium, '--hot-threshold', '2').code).toBe(1);
  });

  it('a missing file exits 2 with one line', () => {
    const r = dirtylab('inspect', 'no/such.dpt');
    expect(r.code).toBe(2);
    expectOneLineError(r, /^dirtylab: no\/such\.dpt: expected an existing file \(no such file\)$/);
  });

  it('a corrupt file exits 2 naming the byte', () => {
    const bad = join(tmp, 'bad.dpt');
    const b = Buffer.from(readFileSync(join(root, 'test/fixtures/golden.dpt')));
    b[106] = 20;
    writeFileSync(bad, b);
    const r = dirtylab('inspect', bad);
    expect(r.code).toBe(2);
    expectOneLineError(r, /bad\.dpt: byte 106: expected epoch 0: a page index < n_pages \(20\), found 20$/);
  });

  it('--help lists every command, and each command has help', () => {
    const r = dirtylab('--help');
    expect(r.code).toBe(0);
    for (const c of ['inspect', 'convert', 'generate']) {
      expect(r.stdout).toContain(c);
      const h = dirtylab(c, '--help');
      expect(h.code).toBe(0);
      expect(h.stdout).toMatch(new RegExp(`Usage: dirtylab ${c}`));
    }
  });
});
