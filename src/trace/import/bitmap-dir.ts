/**
 * A directory of raw per-epoch dirty bitmaps: one file per epoch, ordered by
 * the (last) number in the file name — Qemu-DPT's `qemu.bm-PID.SECONDS`,
 * `KVM_GET_DIRTY_LOG` dumps such as `dirty-0007.bin`. Each file is a bitmap of
 * 64-bit little-endian words, bit i of word w = page 64·w + i (so byte b, bit
 * j = page 8·b + j); gzipped files are accepted. Every file must have the
 * same length; epochs are `--epoch-ms` long (Qemu-DPT harvests every 1 s).
 *
 * One pass: the header (page count from the first file, epoch count from the
 * listing) is known before the first epoch; an error in a later file aborts
 * the import, and the writer leaves no partial output.
 */
import type { TraceInput } from '../bytes.js';
import { TraceError, type Epoch, type TraceHeader } from '../model.js';
import { contentBytes, pageShift, type DirInput, type ImportContext, type ImportResult, type ImporterSpec } from './common.js';

/** Default epoch length, ms: Qemu-DPT writes one bitmap per second. */
export const BITMAP_DIR_DEFAULT_EPOCH_MS = 1000;

/** Pages set in a bitmap of 64-bit little-endian words (LSB-first bytes). */
export function bitmapPages(bytes: Uint8Array, nPages: number): Uint32Array {
  let n = 0;
  for (let b = 0; b < bytes.length; b++) {
    let x = bytes[b]!;
    while (x) { x &= x - 1; n++; }
  }
  const out = new Uint32Array(n);
  let k = 0;
  for (let b = 0; b < bytes.length; b++) {
    let x = bytes[b]!;
    while (x) {
      const j = 31 - Math.clz32(x & -x);
      const p = b * 8 + j;
      if (p < nPages) out[k++] = p;
      x &= x - 1;
    }
  }
  return out.subarray(0, k);
}

/** The number that orders a file: the last run of digits in its name, or null. */
export function orderNumber(name: string): bigint | null {
  const m = name.match(/\d+/g);
  return m ? BigInt(m[m.length - 1]!) : null;
}

async function run(src: TraceInput | DirInput, ctx: ImportContext): Promise<ImportResult> {
  if (!('entries' in src)) throw new TraceError(src.name, {}, 'a directory of per-epoch bitmap files');
  const dir = src;
  const o = ctx.options;
  const epochMs = (o['epoch-ms'] as number | undefined) ?? BITMAP_DIR_DEFAULT_EPOCH_MS;
  if (!(epochMs > 0) || !Number.isInteger(Math.round(epochMs * 1e6))) throw new RangeError(`--epoch-ms must be > 0, not ${epochMs}`);
  const pageSize = (o['page-size'] as number | undefined) ?? 4096;
  pageShift(pageSize);
  const all = (await dir.entries()).filter((f) => !f.baseName.startsWith('.'));
  if (all.length === 0) throw new TraceError(dir.name, {}, 'at least one bitmap file in the directory, found none');
  const numbered = all.map((f) => ({ f, k: orderNumber(f.baseName) }));
  const unnumbered = numbered.find((x) => x.k === null);
  if (unnumbered) throw new TraceError(`${dir.name}/${unnumbered.f.baseName}`, {}, 'a number in the file name (the epoch order: qemu.bm-PID.SECONDS, dirty-0007.bin, …)');
  numbered.sort((a, b) => (a.k! < b.k! ? -1 : a.k! > b.k! ? 1 : 0));
  for (let i = 1; i < numbered.length; i++) {
    if (numbered[i]!.k === numbered[i - 1]!.k) {
      throw new TraceError(`${dir.name}/${numbered[i]!.f.baseName}`, {}, `a number in the file name unique in the directory; ${numbered[i - 1]!.f.baseName} has the same (${numbered[i]!.k})`);
    }
  }
  const files = numbered.map((x) => x.f);
  const gaps = numbered.slice(1).filter((x, i) => x.k! - numbered[i]!.k! !== 1n).length;
  const path = (f: { baseName: string }) => `${dir.name}/${f.baseName}`;

  const firstBytes = await contentBytes({ name: path(files[0]!), open: () => files[0]!.open() });
  const check = (bytes: Uint8Array, name: string, len: number) => {
    if (bytes.length === 0 || bytes.length % 8 !== 0) throw new TraceError(name, { byte: bytes.length }, `a bitmap of whole 64-bit words (a non-zero multiple of 8 bytes), found ${bytes.length} bytes`);
    if (bytes.length !== len) throw new TraceError(name, { byte: Math.min(bytes.length, len) }, `${len} bytes, the length of ${files[0]!.baseName} (every epoch's bitmap covers the same pages), found ${bytes.length}`);
  };
  check(firstBytes, path(files[0]!), firstBytes.length);
  const bits = firstBytes.length * 8;
  const given = o.pages as number | undefined;
  if (given !== undefined && (given < 1 || given > bits || given >= 2 ** 32)) throw new RangeError(`--pages must be from 1 to ${Math.min(bits, 2 ** 32 - 1)} (the bits in each bitmap), not ${given}`);
  const nPages = given ?? bits;
  if (nPages >= 2 ** 32) throw new TraceError(path(files[0]!), { byte: 0 }, 'a bitmap of fewer than 2^32 bits');
  const epochNs = Math.round(epochMs * 1e6);

  const header: TraceHeader = {
    pageSize,
    nPages,
    timeUnit: 'ns',
    epochLen: epochNs,
    nEpochs: files.length,
    hasTimes: false,
    hasCounts: false,
    zeroAtStart: null,
    meta: {
      source: 'dirty bitmaps',
      importedFrom: 'bitmap-dir',
      input: dir.name,
      files: files.map((f) => f.baseName),
      bitmap: '64-bit little-endian words, bit i of word w = page 64·w + i; one file per epoch, ordered by the last number in its name',
      epochMs,
      fileNumberGaps: gaps,
      pagesNote: given !== undefined ? `--pages ${given}: bits at or above it must be clear` : `every bit of a ${firstBytes.length}-byte bitmap (${bits} pages)`,
      timeZeroNs: 0,
    },
  };

  async function* epochs(): AsyncGenerator<Epoch> {
    for (let k = 0; k < files.length; k++) {
      const f = files[k]!;
      const name = path(f);
      const bytes = k === 0 ? firstBytes : await contentBytes({ name, open: () => f.open() });
      check(bytes, name, firstBytes.length);
      const pages = bitmapPages(bytes, bits);
      if (pages.length > 0 && pages[pages.length - 1]! >= nPages) {
        const p = pages[pages.length - 1]!;
        throw new TraceError(name, { byte: p >> 3 }, `no bit set at or above page ${nPages} (--pages), found page ${p}`);
      }
      yield { t0: k * epochNs, t1: (k + 1) * epochNs, pages };
    }
  }
  const notes = [
    `${files.length} bitmaps of ${firstBytes.length} bytes (${nPages} pages) from ${files[0]!.baseName} to ${files[files.length - 1]!.baseName}; epochs of ${epochMs} ms${o['epoch-ms'] === undefined ? ' (default, as Qemu-DPT)' : ''}`,
  ];
  if (gaps) notes.push(`${gaps} gaps in the file numbering (missing epochs?): the epochs are placed back to back regardless`);
  return { header, epochs: epochs(), notes };
}

/** The bitmap-dir importer. */
export const bitmapDir: ImporterSpec = {
  id: 'bitmap-dir',
  summary: 'a directory of raw per-epoch dirty bitmaps (KVM_GET_DIRTY_LOG dumps, Qemu-DPT qemu.bm-PID.SECONDS): 64-bit little-endian words, one file per epoch, ordered by the number in the file name',
  input: 'directory',
  options: [
    { flag: 'epoch-ms', kind: 'duration', description: `epoch length (default ${BITMAP_DIR_DEFAULT_EPOCH_MS}ms, Qemu-DPT's period)` },
    { flag: 'pages', kind: 'int', description: 'guest pages, when the bitmaps are padded to whole words (default: every bit)' },
    { flag: 'page-size', kind: 'int', description: 'page size in bytes (default 4096)' },
  ],
  run,
};
