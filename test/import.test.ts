// Importers of other tools' output (issue 11) and the fit generator, on tiny
// hand-made inputs whose page sets are worked out by hand, on the real
// fixtures of test/fixtures/import/ (see its README), and on corrupt inputs.
import { gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { Kernel } from '../src/kernel/index.js';
import type { TraceInput } from '../src/trace/bytes.js';
import { concaveMajorant, curveFromShape, epochsCovered, fitTrace, likeWindowsMs, pageClasses, parseCurveText } from '../src/trace/fit.js';
import { bitmapPages, orderNumber } from '../src/trace/import/bitmap-dir.js';
import { MAX_LINE_CHARS, contentBytes, hexPage, niceFloor, type DirInput, type ImportResult } from '../src/trace/import/common.js';
import { IMPORTERS, getImporter } from '../src/trace/import/index.js';
import { parseSlotLayout } from '../src/trace/import/kvm-dirty-ring.js';
import { TraceError, type Epoch } from '../src/trace/model.js';
import { dirInput, fileInput } from '../src/trace/node.js';
import { readTrace } from '../src/trace/open.js';
import { instructionsToNs } from '../src/trace/timebase.js';
import { summarizeTrace } from '../src/trace/views.js';
import { bytesInput } from './helpers.js';

let kernel: Kernel;
beforeAll(async () => { kernel = await Kernel.load(); });

const fixture = (name: string) => new URL(`./fixtures/import/${name}`, import.meta.url).pathname;
const text = (name: string, s: string): TraceInput => bytesInput(name, new TextEncoder().encode(s));
const gz = (name: string, s: string): TraceInput => bytesInput(name, new Uint8Array(gzipSync(s)));

async function run(format: string, input: TraceInput | DirInput, options: Record<string, unknown> = {}): Promise<ImportResult & { list: Epoch[] }> {
  const r = await getImporter(format)!.run(input, { options, kernel, version: 'test' });
  const list: Epoch[] = [];
  for await (const e of r.epochs) list.push(e);
  return { ...r, list };
}
const sets = (es: Epoch[]) => es.map((e) => Array.from(e.pages));
const times = (es: Epoch[]) => es.map((e) => [e.t0, e.t1]);

/** The TraceError an import throws (reading every epoch), or fails. */
async function importError(format: string, input: TraceInput | DirInput, options: Record<string, unknown> = {}): Promise<TraceError> {
  try {
    await run(format, input, options);
  } catch (e) {
    if (e instanceof TraceError) return e;
    throw e;
  }
  throw new Error('expected a TraceError');
}

function memDir(name: string, files: Record<string, Uint8Array>): DirInput {
  return { name, entries: async () => Object.entries(files).map(([n, b]) => ({ ...bytesInput(`${name}/${n}`, b), baseName: n })) };
}

describe('the registry', () => {
  it('holds the six formats, each with a summary and documented options of one kind per flag', () => {
    expect(IMPORTERS.map((i) => i.id)).toEqual(['lackey', 'bitmap-dir', 'kvm-dirty-ring', 'qemu-trace', 'calc-dirty-rate', 'query-migrate']);
    const kinds = new Map<string, string>();
    for (const imp of IMPORTERS) {
      expect(imp.summary.length).toBeGreaterThan(20);
      for (const o of imp.options) {
        expect(o.description.length).toBeGreaterThan(10);
        const k = JSON.stringify(o.kind);
        expect(kinds.get(o.flag) ?? k, `--${o.flag}`).toBe(k);
        kinds.set(o.flag, k);
      }
    }
  });
});

describe('shared helpers', () => {
  it('hexPage is exact for 64-bit addresses; niceFloor rounds to 1-2-5', () => {
    expect(hexPage('1fff0005f0', 12)).toBe(0x1fff000);
    expect(hexPage('ffffffffffffffff', 12)).toBe(2 ** 52 - 1);
    expect(hexPage('12zz', 12)).toBeNull();
    expect([niceFloor(1688.9), niceFloor(2500), niceFloor(99), niceFloor(0.3)]).toEqual([1000, 2000, 50, 1]);
  });

  it('a truncated gzip member names the compressed byte where it broke', async () => {
    const whole = gzipSync('I  00001000,4\n'.repeat(5000));
    const cut = bytesInput('t.gz', new Uint8Array(whole.subarray(0, whole.length - 20)));
    const err = await contentBytes(cut).catch((e) => e);
    expect(err).toBeInstanceOf(TraceError);
    expect(err.message).toMatch(new RegExp(`^t\\.gz: byte ${whole.length - 20}: expected a complete, valid gzip stream`));
  });
});

describe('lackey', () => {
  // I#0 at 0x1000; S spans 0x2ffc–0x3003 (pages 2 and 3); L page 5; I#1; M page 2; I#2; S page 7; I#3.
  const tiny = ['==1== Lackey, an example Valgrind tool', 'I  00001000,4', ' S 00002ffc,8', ' L 00005000,4', 'I  00001004,4', ' M 00002010,4', 'I  00001008,4', ' S 00007000,4', 'I  0000100c,4', '==1== Counted 1 call to main()', ''].join('\n');

  it('epochs of N instructions; a write spanning two pages writes both; touched pages compacted with the address map', async () => {
    const r = await run('lackey', text('tiny.lk', tiny), { 'epoch-instructions': 2 });
    // Page space: code page 1, written 2 and 3, loaded 5, written 7 → dense 0…4.
    expect(r.header).toMatchObject({ nPages: 5, timeUnit: 'instructions', epochLen: 2, nEpochs: 2, hasCounts: true });
    expect(sets(r.list)).toEqual([[1, 2], [4]]);
    expect(r.list.map((e) => Array.from(e.counts!))).toEqual([[2, 1], [1]]); // page 2: S and M
    expect(times(r.list)).toEqual([[0, 2], [2, 4]]);
    expect((r.header.meta.addressMap as { runs: unknown[] }).runs).toEqual([
      { base: '0x1000', firstPage: 0, pages: 3 }, { base: '0x5000', firstPage: 3, pages: 1 }, { base: '0x7000', firstPage: 4, pages: 1 },
    ]);
    expect(r.header.meta.totals).toMatchObject({ instructions: 4, stores: 2, modifies: 1, loads: 1, writesSpanningPages: 1, valgrindLinesSkipped: 2 });
  });

  it('--page-space written keeps only written pages; --epoch-events cuts every N data accesses, timed by instructions', async () => {
    const w = await run('lackey', text('tiny.lk', tiny), { 'epoch-instructions': 2, 'page-space': 'written' });
    expect(w.header.nPages).toBe(3);
    expect(sets(w.list)).toEqual([[0, 1], [2]]);
    const e = await run('lackey', text('tiny.lk', tiny), { 'epoch-events': 2, 'page-space': 'written' });
    // Accesses S, L | M, S: epoch 0 = pages 2, 3; epoch 1 = pages 2, 7; the cut falls after instruction 2.
    expect(sets(e.list)).toEqual([[0, 1], [0, 2]]);
    expect(times(e.list)).toEqual([[0, 2], [2, 4]]);
  });

  it('default epoch: the instruction count / 100 rounded down to 1-2-5 (≥ 100 epochs); a file without I lines is clocked by its accesses', async () => {
    const lines = Array.from({ length: 450 }, (_, i) => `I  ${(0x1000 + i * 4).toString(16)},4\n S ${(0x10000 + (i % 9) * 4096).toString(16)},4`).join('\n');
    const r = await run('lackey', text('x.lk', lines));
    expect(r.header.epochLen).toBe(2); // 450 / 100 = 4.5 → 2
    expect(r.header.nEpochs).toBe(225);
    const d = await run('lackey', text('d.lk', ' S 1000,4\n S 2000,4\n S 1000,4\n'), { 'epoch-events': 2 });
    expect(d.header.meta.clock).toMatch(/no I lines/);
    expect(sets(d.list)).toEqual([[0, 1], [0]]);
  });

  it('the real fixture: Valgrind 3.19 lackey on tiny.c (from main on), ≥ 50 epochs, 64-page buffer plus stack and data', async () => {
    const r = await run('lackey', fileInput(fixture('tiny.lackey.gz')));
    expect(r.header.meta.totals).toMatchObject({ instructions: 168888 });
    expect(r.header.epochLen).toBe(1000);
    expect(r.list.length).toBe(169);
    expect(r.header.nPages).toBe(89);
    const written = new Set(r.list.flatMap((e) => Array.from(e.pages)));
    expect(written.size).toBe(70);
    // The hot loop writes its 4 pages in most epochs of the loop.
    const heat = new Map<number, number>();
    for (const e of r.list) for (const p of e.pages) heat.set(p, (heat.get(p) ?? 0) + 1);
    expect([...heat.values()].filter((n) => n >= r.list.length / 2).length).toBe(4);
  });

  it('corrupt input: wrong columns, unknown records, size 0, a huge line, a truncated gzip member, no records', async () => {
    expect((await importError('lackey', text('a.lk', 'I  1000,4\n S 2000\n'))).message).toMatch(/^a\.lk: line 2: expected a lackey record.*found " S 2000"/);
    expect((await importError('lackey', text('b.lk', 'I  1000,4\n X 2000,4\n'))).message).toMatch(/^b\.lk: line 2: /);
    expect((await importError('lackey', text('c.lk', ' S 2000,0\n'))).message).toMatch(/^c\.lk: line 1: expected an access size from 1/);
    expect((await importError('lackey', text('d.lk', 'I  1000,4\n' + 'S'.repeat(MAX_LINE_CHARS + 10)))).message).toMatch(/^d\.lk: line 2: expected a text line of at most/);
    const whole = gzipSync(tiny.repeat(400));
    expect((await importError('lackey', bytesInput('e.lk.gz', new Uint8Array(whole.subarray(0, whole.length >> 1))))).message).toMatch(/^e\.lk\.gz: byte \d+: expected a complete, valid gzip stream/);
    expect((await importError('lackey', text('f.lk', '==1== nothing\n'))).message).toMatch(/^f\.lk: line 1: expected lackey records/);
    await expect(run('lackey', text('g.lk', tiny), { 'epoch-events': 2, 'epoch-instructions': 2 })).rejects.toThrow(RangeError);
  });
});

describe('bitmap-dir', () => {
  const word = (bits: number[]) => { const b = new Uint8Array(8); for (const p of bits) b[p >> 3]! |= 1 << (p & 7); return b; };

  it('orders files by the number in their name (not as text), reads 64-bit LE words, one epoch per file', async () => {
    const r = await run('bitmap-dir', memDir('dumps', { 'dirty-10.bin': word([1, 63]), 'dirty-2.bin': word([15]), 'dirty-1.bin': word([0, 2]) }), { 'epoch-ms': 500 });
    expect(r.header).toMatchObject({ nPages: 64, epochLen: 500e6, nEpochs: 3, timeUnit: 'ns' });
    expect(sets(r.list)).toEqual([[0, 2], [15], [1, 63]]);
    expect(times(r.list)).toEqual([[0, 500e6], [500e6, 1000e6], [1000e6, 1500e6]]);
    expect(r.header.meta.files).toEqual(['dirty-1.bin', 'dirty-2.bin', 'dirty-10.bin']);
    expect(r.header.meta.fileNumberGaps).toBe(1);
  });

  it('bit order within a 64-bit little-endian word: bit i of word w is page 64·w + i', () => {
    const b = new Uint8Array(16);
    new DataView(b.buffer).setBigUint64(8, (1n << 63n) | 1n, true);
    expect(Array.from(bitmapPages(b, 128))).toEqual([64, 127]);
    expect(orderNumber('qemu.bm-4242.1796138071')).toBe(1796138071n);
  });

  it('gzipped files are read; --pages trims padding and refuses bits above it', async () => {
    const r = await run('bitmap-dir', memDir('d', { 'a1': new Uint8Array(gzipSync(word([3]))), 'a2': word([59]) }), { pages: 60 });
    expect(r.header.nPages).toBe(60);
    expect(sets(r.list)).toEqual([[3], [59]]);
    const e = await importError('bitmap-dir', memDir('d', { 'a1': word([3]), 'a2': word([61]) }), { pages: 60 });
    expect(e.message).toMatch(/^d\/a2: byte 7: expected no bit set at or above page 60/);
  });

  it('the real fixture: Qemu-DPT style per-second bitmaps of a recorded guest', async () => {
    const r = await run('bitmap-dir', dirInput(fixture('bitmap-dir')));
    expect(r.header).toMatchObject({ nPages: 65600, epochLen: 1000e6, nEpochs: 3 });
    // Each file is the union of 10 recorded 100 ms epochs of data/light-bw32-dt300.dpt (make-kvm-fixtures.mjs).
    const src = (await readTrace(fileInput(new URL('../data/light-bw32-dt300.dpt', import.meta.url).pathname))).epochs.slice(10, 40);
    const unions = [0, 1, 2].map((s) => [...new Set(src.slice(s * 10, s * 10 + 10).flatMap((e) => Array.from(e.pages)))].sort((a, b) => a - b));
    expect(sets(r.list)).toEqual(unions);
  });

  it('files of different lengths, a partial word, no number in a name, an empty directory: errors naming the file', async () => {
    expect((await importError('bitmap-dir', memDir('d', { 'x1': word([1]), 'x2': new Uint8Array(16) }))).message).toMatch(/^d\/x2: byte 8: expected 8 bytes, the length of x1/);
    expect((await importError('bitmap-dir', memDir('d', { 'x1': new Uint8Array(12) }))).message).toMatch(/^d\/x1: byte 12: expected a bitmap of whole 64-bit words/);
    expect((await importError('bitmap-dir', memDir('d', { 'x1': word([1]), 'readme': word([]) }))).message).toMatch(/^d\/readme: expected a number in the file name/);
    expect((await importError('bitmap-dir', memDir('d', { 'a-01': word([1]), 'b-1': word([]) }))).message).toMatch(/^d\/(a-01|b-1): expected a number in the file name unique/);
    expect((await importError('bitmap-dir', memDir('d', {}))).message).toMatch(/^d: expected at least one bitmap file/);
    const cut = gzipSync(new Uint8Array(4096).fill(255));
    expect((await importError('bitmap-dir', memDir('d', { 'z1': new Uint8Array(cut.subarray(0, 20)) }))).message).toMatch(/^d\/z1: byte 20: expected a complete, valid gzip stream/);
  });
});

describe('kvm-dirty-ring', () => {
  const push = (t: string, slot: number, off: number, n: number) => ` qemu-system-x86  4242 [000]  ${t}: kvm:kvm_dirty_ring_push: ring 0: dirty 0x${n.toString(16)} reset 0x0 slot ${slot} offset 0x${off.toString(16)} (used ${n})`;
  const perf = [push('100.000000', 1, 5, 1), push('100.050000', 0, 2, 2), push('100.150000', 1, 0, 3), push('100.250000', 1, 5, 4)].join('\n') + '\n';

  it('perf script lines → epochs of --epoch-ms; slots learned from the data (and the header says so)', async () => {
    const r = await run('kvm-dirty-ring', text('p.txt', perf));
    // Learned: slot 0 = offsets 0…2 (pages 0–2), slot 1 = offsets 0…5 (pages 3–8).
    expect(r.header).toMatchObject({ nPages: 9, nEpochs: 3, epochLen: 100e6 });
    expect(sets(r.list)).toEqual([[2, 8], [3], [8]]);
    expect((r.header.meta.slotLayout as { source: string }).source).toMatch(/^learned from the data/);
  });

  it('--slots lays the slots out in the given order; trace-cmd report lines and QEMU kvm_dirty_ring_page lines read the same', async () => {
    const r = await run('kvm-dirty-ring', text('p.txt', perf), { slots: '1:10,0:4@0xc0000' });
    expect(r.header.nPages).toBe(14);
    expect(sets(r.list)).toEqual([[5, 12], [0], [5]]);
    expect((r.header.meta.slotLayout as { source: string; slots: unknown[] }).slots[1]).toMatchObject({ slot: 0, pages: 4, firstPage: 10, gpa: '0xc0000' });
    const tc = 'cpus=2\n' + perf.replace(/qemu-system-x86  4242/g, 'qemu-system-x86-4242').replace(/kvm:kvm_dirty_ring_push:/g, 'kvm_dirty_ring_push: ');
    expect(sets((await run('kvm-dirty-ring', text('t.txt', tc))).list)).toEqual([[2, 8], [3], [8]]);
    const q = ['1@7.000000:kvm_dirty_ring_page vcpu 0 fetch 1 offset 0x5', '1@7.050000:kvm_dirty_ring_page vcpu 1 fetch 0 offset 0x2', '1@7.150000:kvm_dirty_ring_page vcpu 0 fetch 1 offset 0x0'].join('\n');
    expect(sets((await run('kvm-dirty-ring', text('q.log', q))).list)).toEqual([[2, 8], [3]]);
  });

  it('plain "SLOT GFN" lines: one epoch per blank-line separated window; duplicates removed and counted', async () => {
    const r = await run('kvm-dirty-ring', text('s.txt', '1 5\n0 2\n1 5\n\n\n1 0x0\n\n'));
    expect(sets(r.list)).toEqual([[2, 8], [3]]);
    expect(r.header.meta.importFixes).toEqual({ duplicatePagesRemoved: 1 });
  });

  it('the fixtures: real page sets of a recorded guest in perf script, QEMU trace and slot/gfn form', async () => {
    const p = await run('kvm-dirty-ring', fileInput(fixture('kvm-dirty-ring.perf.txt.gz')), { slots: '0:160,1:65281@0x100000' });
    expect(p.list.length).toBe(30);
    expect(p.header.meta.harvestEvents).toBe(3);
    const q = await run('kvm-dirty-ring', fileInput(fixture('kvm-dirty-ring.qemu.log')), { slots: '0:160,1:65281@0x100000' });
    const s = await run('kvm-dirty-ring', fileInput(fixture('kvm-dirty-ring.slot-gfn.txt')), { slots: '0:160,1:65281@0x100000' });
    // The first second: the same pushes in three forms.
    const first = [...new Set(p.list.slice(0, 10).flatMap((e) => Array.from(e.pages)))].sort((a, b) => a - b);
    expect([...new Set(q.list.flatMap((e) => Array.from(e.pages)))].sort((a, b) => a - b)).toEqual(first);
    expect(Array.from(s.list[0]!.pages)).toEqual(first);
  });

  it('unknown slots with a layout, offsets beyond a slot, time going back, wrong columns, mixed forms: errors naming the line', async () => {
    expect((await importError('kvm-dirty-ring', text('p.txt', perf), { slots: '1:10' })).message).toMatch(/^p\.txt: line 2: expected a slot of the --slots layout \(1\), found slot 0/);
    expect((await importError('kvm-dirty-ring', text('p.txt', perf), { slots: '0:4,1:5' })).message).toMatch(/^p\.txt: line 1: expected an offset below slot 1's 5 pages/);
    const back = [push('100.100000', 1, 5, 1), push('100.050000', 0, 2, 2)].join('\n');
    expect((await importError('kvm-dirty-ring', text('b.txt', back))).message).toMatch(/^b\.txt: line 2: expected time stamps that never go backwards/);
    expect((await importError('kvm-dirty-ring', text('c.txt', '1 5\n1 5 7\n'))).message).toMatch(/^c\.txt: line 2: expected two numbers per line, "SLOT GFN", found "1 5 7"/);
    expect((await importError('kvm-dirty-ring', text('m.txt', `1 5\n${push('1.0', 1, 2, 1)}\n`))).message).toMatch(/^m\.txt: line 2: expected "SLOT GFN" lines throughout/);
    expect((await importError('kvm-dirty-ring', text('n.txt', push('1.0', 1, 2, 1).replace(/offset 0x2/, 'offset')))).message).toMatch(/^n\.txt: line 1: expected a kvm_dirty_ring_push line/);
    expect(() => parseSlotLayout('1=5')).toThrow(/--slots takes SLOT:PAGES/);
  });
});

describe('qemu-trace', () => {
  const tcg = [
    '10@100.000000:migrate_set_state new state setup',
    '11@100.010000:migration_bitmap_sync_start ',
    '11@100.010000:migration_bitmap_sync_end dirty_pages 0',
    '12@100.020000:memory_notdirty_write_access 0x7f00 ram_addr 0x3000 size 4',
    '12@100.030000:memory_notdirty_write_access 0x7f00 ram_addr 0x3ffe size 4', // spans pages 3 and 4
    '11@100.110000:migration_bitmap_sync_end dirty_pages 2',
    '12@100.120000:memory_notdirty_write_access 0x7f00 ram_addr 0x5000 size 8',
    '11@100.210000:migration_bitmap_sync_end dirty_pages 1',
  ].join('\n');

  it('notdirty writes → pages written between syncs; the header says so; --epoch-ms windows instead', async () => {
    const r = await run('qemu-trace', text('t.log', tcg));
    expect(r.header.meta.pagesFrom).toMatch(/^memory_notdirty_write_access/);
    expect(r.header.nPages).toBe(6);
    expect(sets(r.list)).toEqual([[3, 4], [5]]);
    expect(times(r.list)).toEqual([[0, 100e6], [100e6, 200e6]]);
    expect(r.header.meta.migrationSetupNs).toBe(-10e6);
    const w = await run('qemu-trace', text('t.log', tcg), { 'epoch-ms': 50, 'ram-size': 64 * 4096 });
    expect(w.header.nPages).toBe(64);
    expect(sets(w.list)).toEqual([[3, 4], [], [5], []]);
  });

  it('without notdirty: ram_save_page after sync k+1 → epoch k (bulk stage and other blocks skipped, counted)', async () => {
    const sent = [
      '11@100.010000:migration_bitmap_sync_end dirty_pages 0',
      '11@100.020000:ram_save_page pc.ram: offset: 0x0 host: 0x7f0000000000',
      '11@100.110000:migration_bitmap_sync_end dirty_pages 2',
      '11@100.120000:ram_save_page pc.ram: offset: 0x4000 host: 0x7f0000004000',
      '11@100.130000:ram_save_page pc.ram: offset: 0x3000 host: 0x7f0000003000',
      '11@100.135000:ram_save_page pc.rom: offset: 0x0 host: 0x7f1000000000',
      '11@100.210000:migration_bitmap_sync_end dirty_pages 1',
      '11@100.220000:ram_save_page pc.ram: offset: 0x5000 host: (nil)',
    ].join('\n');
    const r = await run('qemu-trace', gz('s.log.gz', sent));
    expect(r.header.meta.pagesFrom).toMatch(/^ram_save_page of block pc\.ram/);
    expect(sets(r.list)).toEqual([[3, 4], [5]]);
    expect(r.header.meta.importFixes).toMatchObject({ eventsOutsideEpochs: 1, otherBlocksPages: 1 });
    expect(r.header.meta.perSync).toEqual([{ sync: 0, atNs: 0, dirtyPages: 0 }, { sync: 1, atNs: 100e6, dirtyPages: 2 }, { sync: 2, atNs: 200e6, dirtyPages: 1 }]);
  });

  it('the real fixtures: one TCG guest migrating, from notdirty writes and from ram_save_page lines', async () => {
    const t = await run('qemu-trace', fileInput(fixture('qemu-trace-tcg.log.gz')), { 'ram-size': 131076 * 1024 });
    expect(t.header.nPages).toBe(32769);
    expect(t.list.map((e) => e.pages.length)).toEqual([1447, 170, 93, 0]);
    const s = await run('qemu-trace', fileInput(fixture('qemu-trace-sent.log.gz')), { 'ram-size': 131076 * 1024 });
    expect(s.list.length).toBe(4);
    expect((s.header.meta.perSync as unknown[]).length).toBe(5);
  });

  it('corrupt input: missing arguments, no time stamps, time going back more than 1 ms, nothing usable', async () => {
    expect((await importError('qemu-trace', text('a.log', '12@1.0:memory_notdirty_write_access 0x0 ram_addr 0x3000\n'))).message).toMatch(/^a\.log: line 1: expected memory_notdirty_write_access arguments/);
    expect((await importError('qemu-trace', text('b.log', 'memory_notdirty_write_access 0x0 ram_addr 0x3000 size 4\n'))).message).toMatch(/^b\.log: line 1: expected trace lines with time stamps.*-msg timestamp=on/);
    const back = tcg.replace('12@100.030000', '12@100.005000');
    expect((await importError('qemu-trace', text('c.log', back))).message).toMatch(/^c\.log: line 5: expected time stamps that never go back by more than 1 ms/);
    const slight = tcg.replace('12@100.030000', '12@100.019500');
    expect((await run('qemu-trace', text('d.log', slight))).header.meta.importFixes).toMatchObject({ timeStampsSteppedBack: 1 });
    expect((await importError('qemu-trace', text('e.log', '1@1.0:migrate_set_state new state setup\n'))).message).toMatch(/^e\.log: line 1: expected memory_notdirty_write_access \(TCG\) or ram_save_page/);
    expect((await importError('qemu-trace', text('f.log', '1@1.0:migration_bitmap_sync_end dirty_pages x\n'))).message).toMatch(/^f\.log: line 1: expected migration_bitmap_sync_end arguments/);
  });
});

describe('calc-dirty-rate and query-migrate: rates → a synthetic trace', () => {
  it('QMP replies (wrapped, bare, events and empty replies skipped) → W(1 s) = rate × 1 s; uniform shape; fit within 5 %', async () => {
    const lines = [
      '{"return": {}}',
      '{"timestamp": {"seconds": 1, "microseconds": 0}, "event": "MIGRATION", "data": {}}',
      '{"return": {"status": "measuring", "calc-time": 1}}',
      '{"return": {"status": "measured", "sample-pages": 512, "dirty-rate": 4, "mode": "page-sampling", "start-time": 10, "calc-time": 1}}',
    ].join('\n');
    const r = await run('calc-dirty-rate', text('c.jsonl', lines), { 'ram-size': 64 * 2 ** 20, shape: 'uniform' });
    const syn = r.header.meta.synthetic as Record<string, unknown>;
    expect(r.header.meta.source).toBe('synthetic');
    expect(syn.measuredWindows).toEqual([{ windowMs: 1000, pages: 1024 }]); // 4 MiB/s × 1 s / 4 KiB
    expect(syn.shapeAssumption).toMatch(/^uniform: W\(t\) = N/);
    expect(r.header.nPages).toBe(16384);
    expect(Math.abs((r.header.meta.fit as { worstRelError: number }).worstRelError)).toBeLessThan(0.05);
    // The synthetic trace's W(1 s) is the measured one.
    const s = await summarizeTrace(r.header, (async function* () { yield* r.list; })(), kernel, { windowsMs: [1000] });
    expect(s.wt[0]!.pages! / 1024 - 1).toBeLessThan(0.05);
    expect(r.curve!.length).toBeGreaterThan(5);
  });

  it('hot shape: one window → H = 2 × its pages, stated; several windows → H fitted; --hot-pages given', async () => {
    const one = curveFromShape([{ windowMs: 1000, pages: 500 }], 'hot', 100000);
    expect(one.setPages).toBe(1000);
    expect(one.setPagesFrom).toMatch(/^assumed: twice/);
    expect(one.curve(1000)).toBeCloseTo(500, 6);
    const h = 3000;
    const lam = 2000;
    const pts = [250, 1000, 4000].map((ms) => ({ windowMs: ms, pages: h * -Math.expm1(-(lam * ms) / 1000 / h) }));
    const fitted = curveFromShape(pts, 'hot', 100000);
    expect(fitted.setPagesFrom).toMatch(/^fitted/);
    expect(Math.abs(fitted.setPages / h - 1)).toBeLessThan(0.05);
    expect(curveFromShape(pts, 'hot', 100000, 5000).setPagesFrom).toBe('--hot-pages');
    expect(() => curveFromShape(pts, 'hot', 100000, 10)).toThrow(/--hot-pages 10 is below/);
  });

  it('virsh domstats --dirtyrate and HMP info dirty_rate text', async () => {
    const ds = "Domain: 'vm1'\n  dirtyrate.calc_status=2\n  dirtyrate.calc_start_time=348414\n  dirtyrate.calc_period=2\n  dirtyrate.megabytes_per_second=4\n  dirtyrate.calc_mode=dirty-ring\n\nDomain: 'vm1'\n  dirtyrate.calc_status=1\n";
    const r = await run('calc-dirty-rate', text('ds.txt', ds), { 'ram-size': 2 ** 30 });
    expect((r.header.meta.synthetic as Record<string, unknown>).measuredWindows).toEqual([{ windowMs: 2000, pages: 2048 }]);
    const hmp = 'Status: measured\nStart Time: 11646834 (ms)\nPeriod: 10 (sec)\nMode: dirty-bitmap\nDirty rate: 2 (MB/s)\n';
    const h = await run('calc-dirty-rate', text('h.txt', hmp), { 'ram-size': 2 ** 30 });
    expect((h.header.meta.synthetic as Record<string, unknown>).measuredWindows).toEqual([{ windowMs: 10000, pages: 5120 }]);
  });

  it('the real fixture: two page-sampling measurements of a TCG guest', async () => {
    const r = await run('calc-dirty-rate', fileInput(fixture('calc-dirty-rate.jsonl')), { 'ram-size': 131076 * 1024 });
    expect((r.header.meta.synthetic as Record<string, unknown>).measuredWindows).toEqual([{ windowMs: 1000, pages: 512 }, { windowMs: 2000, pages: 1024 }]);
    expect(Math.abs((r.header.meta.fit as { worstRelError: number }).worstRelError)).toBeLessThan(0.05);
  });

  it('query-migrate: a window per new dirty-pages-rate value, timed by total-time from setup-time; virsh domjobinfo text', async () => {
    const poll = (tt: number, rate: number) => JSON.stringify({ return: { status: 'active', 'setup-time': 50, 'total-time': tt, ram: { total: 64 * 2 ** 20, 'page-size': 4096, 'dirty-pages-rate': rate, 'dirty-sync-count': 1 } } });
    const q = ['{"return": {"status": "setup"}}', poll(100, 0), poll(1100, 1000), poll(1150, 1000), poll(2100, 500)].join('\n');
    const r = await run('query-migrate', text('q.jsonl', q));
    expect((r.header.meta.synthetic as Record<string, unknown>).measuredWindows).toEqual([{ windowMs: 1000, pages: 500 }, { windowMs: 1050, pages: 1050 }]);
    expect(r.header.nPages).toBe(16384);
    const dj = (ms: number, rate: number) => `Job type:         Unbounded\nOperation:        Outgoing migration\nTime elapsed:     ${ms}        ms\nMemory total:     1.000 GiB\nDirty rate:       ${rate}        pages/s\nPage size:        4096         bytes\nIteration:        2\nSetup time:       100          ms\n`;
    const v = await run('query-migrate', text('dj.txt', dj(600, 0) + '\n' + dj(1600, 300)));
    expect((v.header.meta.synthetic as Record<string, unknown>).measuredWindows).toEqual([{ windowMs: 1500, pages: 450 }]);
    expect(v.header.nPages).toBe(262144);
  });

  it('the real fixture: query-migrate polled every 50 ms during a TCG migration', async () => {
    const r = await run('query-migrate', fileInput(fixture('query-migrate.jsonl.gz')));
    const syn = r.header.meta.synthetic as { measuredWindows: { windowMs: number }[]; shapeAssumption: string };
    expect(syn.measuredWindows.length).toBe(1);
    expect(syn.shapeAssumption).toMatch(/^hot: .*H = \d+ pages \(assumed: twice/);
    expect(r.header.nPages).toBe(32900); // ram.total 134758400 / 4096
  });

  it('corrupt input: bad JSON lines, a measured result without its figures, no measurement, no RAM size', async () => {
    expect((await importError('calc-dirty-rate', text('a.jsonl', '{"return": {}}\n{"return": \n'), { 'ram-size': 2 ** 30 })).message).toMatch(/^a\.jsonl: line 2: expected one JSON object/);
    expect((await importError('calc-dirty-rate', text('b.jsonl', '{"return": {"status": "measured", "dirty-rate": "x", "calc-time": 1}}\n'), { 'ram-size': 2 ** 30 })).message).toMatch(/^b\.jsonl: expected a measured query-dirty-rate result/);
    expect((await importError('calc-dirty-rate', text('c.jsonl', '{"return": {"status": "measuring"}}\n'), { 'ram-size': 2 ** 30 })).message).toMatch(/^c\.jsonl: expected at least one measured dirty rate/);
    await expect(run('calc-dirty-rate', text('d.jsonl', '{"dirty-rate": 1, "calc-time": 1, "status": "measured"}'))).rejects.toThrow(/needs --ram-size/);
    expect((await importError('query-migrate', text('e.jsonl', '{"return": {"status": "active", "ram": {"total": 1}}}\n{"x":1}\n'))).message).toMatch(/^e\.jsonl: line 1: expected "ram"\."dirty-pages-rate"/);
    expect((await importError('query-migrate', text('f.txt', 'hello\n'))).message).toMatch(/^f\.txt: line 1: expected query-migrate replies/);
  });
});

describe('fit', () => {
  it('periodic classes reproduce a concave curve exactly at its samples (worked by hand)', async () => {
    // (1, 10), (2, 15), (4, 20): slopes 10, 5, 2.5, then flat → classes P=1:5, P=2:5, P=4:10 pages.
    expect(pageClasses(concaveMajorant([{ m: 1, w: 10 }, { m: 2, w: 15 }, { m: 4, w: 20 }]))).toEqual([{ period: 1, pages: 5 }, { period: 2, pages: 5 }, { period: 4, pages: 10 }]);
    const r = await fitTrace({ points: [{ windowMs: 100, pages: 10 }, { windowMs: 200, pages: 15 }, { windowMs: 400, pages: 20 }], nPages: 100, epochMs: 100 }, kernel);
    expect(r.points.map((p) => p.achieved)).toEqual([10, 15, 20]);
    expect(r.worstRelError).toBe(0);
    expect(r.epochs.reduce((n, e) => n + e.pages.length, 0) / r.epochs.length).toBe(10);
    expect(r.header.meta.fit).toMatchObject({ worstRelError: 0, tolerance: 0.05 });
  });

  it('a non-concave curve is fitted by its concave majorant, and the error says where', () => {
    expect(concaveMajorant([{ m: 1, w: 10 }, { m: 2, w: 12 }, { m: 3, w: 30 }, { m: 4, w: 25 }])).toEqual([{ m: 3, w: 30 }, { m: 4, w: 30 }]);
    expect(epochsCovered(400e6, 100e6)).toBe(4);
    expect(epochsCovered(250e6, 100e6)).toBe(2);
    expect(epochsCovered(50e6, 100e6)).toBe(1);
  });

  it('like a real trace with slightly uneven epochs (light): windows of whole epochs, within 5 % everywhere', async () => {
    const t = await readTrace(fileInput(new URL('../data/light-bw32-dt300.dpt', import.meta.url).pathname));
    const durationMs = (t.epochs[t.epochs.length - 1]!.t1 - t.epochs[0]!.t0) / 1e6;
    const windowsMs = likeWindowsMs(100, durationMs);
    expect(windowsMs.every((w) => w % 100 === 0)).toBe(true);
    const s = await summarizeTrace(t.header, (async function* () { yield* t.epochs; })(), kernel, { windowsMs });
    const r = await fitTrace({ points: s.wt.map((w) => ({ windowMs: w.windowMs, pages: w.pages! })), nPages: t.header.nPages, epochMs: 100 }, kernel);
    expect(r.worstRelError).toBeLessThanOrEqual(0.05);
  });

  it('zero-at-start pages are kept and written pages come from the others first', async () => {
    const zero = Uint32Array.from({ length: 50 }, (_, i) => i * 2);
    const r = await fitTrace({ points: [{ windowMs: 100, pages: 5 }, { windowMs: 400, pages: 12 }], nPages: 100, epochMs: 100, zeroAtStart: zero }, kernel);
    const written = new Set(r.epochs.flatMap((e) => Array.from(e.pages)));
    expect([...written].every((p) => p % 2 === 1)).toBe(true);
    expect(r.header.zeroAtStart).toBe(zero);
  });

  it('curve files: JSON in several shapes, CSV with a header; wrong columns and bad values name the line or point', () => {
    const want = [{ windowMs: 100, pages: 10 }, { windowMs: 400, pages: 30 }];
    expect(parseCurveText('[{"windowMs":100,"pages":10},{"windowMs":400,"pages":30}]', 'c.json').points).toEqual(want);
    expect(parseCurveText('[[100,10],[400,30]]', 'c.json').points).toEqual(want);
    expect(parseCurveText('{"nPages": 500, "points": [[100,10],[400,30]]}', 'c.json')).toMatchObject({ nPages: 500, points: want });
    expect(parseCurveText('{"wt": [{"windowMs":100,"pages":10,"starts":9},{"windowMs":400,"pages":30,"starts":6},{"windowMs":10000,"pages":null,"starts":0}]}', 'i.json').points).toEqual(want);
    expect(parseCurveText('window_ms,pages\n# comment\n100,10\n400, 30\n', 'c.csv').points).toEqual(want);
    expect(() => parseCurveText('window_ms,pages\n100,10\n400,30,5\n', 'c.csv')).toThrow(/^c\.csv: line 3: expected two columns/);
    expect(() => parseCurveText('100,-1\n', 'c.csv')).toThrow(/^c\.csv: line 1: expected a page count ≥ 0/);
    expect(() => parseCurveText('[[100,10],[100,12]]', 'c.json')).toThrow(/one point per window length/);
    expect(() => parseCurveText('[{"windowMs":0,"pages":1}]', 'c.json')).toThrow(/^c\.json: expected point 1: a window length in ms > 0/);
    expect(() => parseCurveText('{"points": [1, 2', 'c.json')).toThrow(/^c\.json: (byte \d+: )?expected valid JSON/);
  });
});

describe('instruction-timed traces on the ns axis', () => {
  it('instruction i lands at i / rate seconds; other traces are untouched', async () => {
    const r = await run('lackey', text('t.lk', 'I  1000,4\n S 2000,4\nI  1004,4\n S 3000,4\n'), { 'epoch-instructions': 1 });
    const t = { header: r.header, epochs: r.list };
    const ns = instructionsToNs(t, 2e6);
    expect(ns.header.timeUnit).toBe('ns');
    expect(times(ns.epochs)).toEqual([[0, 500], [500, 1000]]);
    expect(ns.header.epochLen).toBe(500);
    expect(ns.header.meta.timeBase).toMatchObject({ from: 'instructions', instructionsPerSecond: 2e6 });
    expect(instructionsToNs(ns, 1)).toBe(ns);
    expect(() => instructionsToNs(t, 1e12)).toThrow(/shorter than 1 ns/);
  });
});
