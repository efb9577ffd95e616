// Bad input (docs/dpt-format.md): every header and block field of a .dpt, the strict
// JSON-lines twin, the recorder importer, gzip and missing files. Each error
// names the file, the byte offset or line, and what was expected.
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { TraceError } from '../src/trace/model.js';
import { fileInput } from '../src/trace/node.js';
import { readTrace } from '../src/trace/open.js';
import { bytesInput, dptBytes, ep, header, hex } from './helpers.js';
import { GOLDEN_HEX } from './fixtures/golden.js';

const golden = hex(GOLDEN_HEX);

function patched(edits: [number, number[]][]): Uint8Array {
  const b = golden.slice();
  for (const [at, bytes] of edits) b.set(bytes, at);
  return b;
}

async function failure(bytes: Uint8Array, name = 'bad.dpt'): Promise<TraceError> {
  try {
    await readTrace(bytesInput(name, bytes));
  } catch (e) {
    expect(e).toBeInstanceOf(TraceError);
    return e as TraceError;
  }
  throw new Error('expected the reader to refuse this input');
}

// Offsets in the golden file: header 0–69, zeroAtStart block 70, epochs at 81, 108, 133, 160, 188.
const cases: [string, Uint8Array, number, RegExp][] = [
  ['bad magic', patched([[0, [0x58]]]), 0, /magic "DPTRACE"/],
  ['unknown version', patched([[7, [2]]]), 7, /\.dpt version 1, found version 2/],
  ['hdr_len shorter than 52 + json_len', patched([[8, [10]]]), 8, /hdr_len ≥ 70/],
  ['unknown flag bits', patched([[12, [0x0d]]]), 12, /flags with only bits 0–2 set, found 0xd/],
  ['page size not a power of two', patched([[16, [0xb8, 0x0b]]]), 16, /page_size: a power of two from 512 B to 1 GiB, found 3000/],
  ['page size 2^31', patched([[16, [0, 0, 0, 0x80]]]), 16, /page_size: a power of two from 512 B to 1 GiB, found 2147483648/],
  ['page size 256', patched([[16, [0, 1]]]), 16, /page_size: a power of two from 512 B to 1 GiB, found 256/],
  ['zero pages', patched([[20, [0]]]), 20, /1 ≤ n_pages < 2\^32, found 0/],
  ['too many pages', patched([[24, [1]]]), 20, /n_pages < 2\^32/],
  ['unknown time unit', patched([[28, [7]]]), 28, /time_unit 0 \(ns\), 1 \(instructions\) or 2 \(rounds\), found 7/],
  ['n_epochs beyond 2^53', patched([[47, [0x40]]]), 40, /n_epochs ≤ 2\^53/],
  ['JSON that does not parse', patched([[52, [0x5b]]]), 52, /UTF-8 JSON metadata/],
  ['json_len past the end of file', patched([[8, [0x33, 0x00, 0x01]], [48, [0xff, 0xff]]]), 52, /the JSON metadata \(65535 bytes\), found end of file/],
  ['zeroAtStart n above n_pages', patched([[70, [99]]]), 70, /zeroAtStart: n_dirty ≤ n_pages \(20\), found 99/],
  ['zeroAtStart as "same as previous"', patched([[74, [3]]]), 74, /zeroAtStart encoding 0, 1 or 2/],
  ['zeroAtStart runs past n_pages', patched([[79, [0x11]]]), 79, /runs within n_pages \(20\), found a run ending at 21/],
  ['t1 before t0', patched([[89, [0]], [81, [5]]]), 89, /epoch 0: t1 ≥ t0 = 5, found 0/],
  ['time going backwards', patched([[108, [50]]]), 108, /epoch 1: t0 ≥ the previous epoch's t1 = 100 \(time going backwards\), found 50/],
  ['unknown encoding', patched([[101, [9]]]), 101, /epoch 0: encoding 0, 1, 2 or 3, found 9/],
  ['list length too long for n', patched([[102, [0x40]]]), 102, /epoch 0: len ≤ 10 for 2 pages, found 64/],
  ['page index ≥ n_pages', patched([[106, [20]]]), 106, /epoch 0: a page index < n_pages \(20\), found 20/],
  ['duplicate page in a list', patched([[107, [0]]]), 107, /epoch 0: strictly increasing pages, found page 3 twice/],
  ['list shorter than n_dirty', patched([[97, [3]]]), 102, /epoch 0: len ≥ n_dirty = 3 for a page list/],
  ['"same" with another n_dirty', patched([[124, [3]]]), 124, /epoch 1: n_dirty = 2 \(same set as the previous epoch\), found 3/],
  ['runs past n_pages', patched([[159, [0x0b]]]), 158, /epoch 2: runs within n_pages \(20\), found a run ending at 21/],
  ['bitmap of the wrong length', patched([[181, [4]]]), 181, /epoch 3: len = 3 for a bitmap, found 4/],
  ['bitmap padding bit set', patched([[187, [0x10]]]), 187, /epoch 3: zero padding bits after page 19, found page 20 set/],
  ['bitmap count ≠ n_dirty', patched([[176, [11]]]), 186, /epoch 3: 11 set bits \(n_dirty\), found more/],
  ['n_epochs larger than the file', patched([[40, [6]]]), 213, /epoch 5 of n_epochs = 6, found end of file \(truncated file\)/],
  ['n_epochs smaller than the file', patched([[40, [4]]]), 188, /end of file after n_epochs = 4 epochs, found more bytes/],
  ['truncated inside a block header', golden.slice(0, 200), 188, /epoch 4's block header \(25 bytes\), found end of file after 12 \(truncated file\)/],
  ['truncated inside a payload', golden.slice(0, 186), 185, /epoch 3's payload \(3 bytes\), found end of file/],
  ['truncated header', golden.slice(0, 30), 0, /a \.dpt header \(52 bytes\), found end of file after 30/],
];

describe('.dpt: every corrupt field is refused with file, byte offset and expectation', () => {
  it.each(cases)('%s', async (_name, bytes, offset, msg) => {
    const e = await failure(bytes);
    expect(e.file).toBe('bad.dpt');
    expect(e.where).toEqual({ byte: offset });
    expect(e.message).toMatch(new RegExp(`^bad\\.dpt: byte ${offset}: expected `));
    expect(e.message).toMatch(msg);
    expect(e.message).not.toContain('\n');
  });

  it('epoch_len 0 without per-epoch times', async () => {
    const e = await failure(await dptBytes(header({ hasTimes: false, epochLen: 0 }), []));
    expect(e.message).toMatch(/byte 32: expected epoch_len > 0/);
  });

  it('bad magic when the format is forced to dpt', async () => {
    await expect(readTrace(bytesInput('bad.dpt', patched([[3, [0x58]]])), { format: 'dpt' })).rejects.toThrow(
      /^bad\.dpt: byte 3: expected the magic bytes "DPTRACE\\x01" of a \.dpt file$/,
    );
  });

  it('the first epoch cannot be "same as previous"', async () => {
    const e = await failure(patched([[101, [3]], [102, [0]]]));
    expect(e.message).toMatch(/byte 101: expected epoch 0: encoding 0–2 for the first epoch/);
  });

  it('a write count of 0', async () => {
    const b = await dptBytes(header({ hasCounts: true }), [ep(0, 1, [2], [5])]);
    b[b.length - 1] = 0;
    expect((await failure(b)).message).toMatch(/expected epoch 0: a write count between 1 and 2\^32 − 1, found 0/);
  });
});

const line = (o: unknown) => JSON.stringify(o);
const text = (ls: string[]) => new TextEncoder().encode(ls.join('\n') + '\n');
const jsonlHead = line({ format: 'dpt-jsonl', version: 1, pageSize: 4096, nPages: 10, timeUnit: 'ns', epochLen: 10, nEpochs: 2, hasTimes: true, hasCounts: false, zeroAtStart: null, meta: {} });

describe('.dpt.jsonl is strict', () => {
  const cases: [string, string[], number, RegExp][] = [
    ['unsorted pages', [jsonlHead, line({ t0: 0, t1: 5, pages: [3, 1] }), line({ t0: 5, t1: 9, pages: [] })], 2, /"pages" sorted and unique, found 1 after 3/],
    ['duplicated pages', [jsonlHead, line({ t0: 0, t1: 5, pages: [1, 1] })], 2, /sorted and unique, found 1 after 1/],
    ['page ≥ nPages', [jsonlHead, line({ t0: 0, t1: 5, pages: [10] })], 2, /"pages"\[0\] < nPages \(10\), found 10/],
    ['time going backwards', [jsonlHead, line({ t0: 0, t1: 5, pages: [] }), line({ t0: 4, t1: 9, pages: [] })], 3, /time going backwards/],
    ['bad JSON', [jsonlHead, '{"t0": 0, "t1": 5, "pages": [1,'], 2, /a JSON object per line/],
    ['truncated (fewer lines than nEpochs)', [jsonlHead, line({ t0: 0, t1: 5, pages: [] })], 3, /2 epochs \(nEpochs\), found end of file after 1 \(truncated file\)/],
    ['wrong version', [jsonlHead.replace('"version":1', '"version":2')], 1, /"version": 1, found 2/],
  ];
  it.each(cases)('%s', async (_n, ls, lineNo, msg) => {
    const e = await failure(text(ls), 'bad.dpt.jsonl');
    expect(e.where).toEqual({ line: lineNo });
    expect(e.message).toMatch(new RegExp(`^bad\\.dpt\\.jsonl: line ${lineNo}: expected `));
    expect(e.message).toMatch(msg);
  });
});

describe('recorder JSON lines', () => {
  const head = line({ page_size: 4096, pages: 10 });
  const cases: [string, string[], number, RegExp][] = [
    ['bad JSON', [head, '{"t0_ms": 0,'], 2, /a JSON object per line/],
    ['missing page count', [line({ page_size: 4096 })], 1, /"pages" \(the page count\)/],
    ['page ≥ page count', [head, line({ t0_ms: 0, t1_ms: 1, pages: [10] })], 2, /"pages"\[0\] < the page count \(10\), found 10/],
    ['t1 before t0', [head, line({ t0_ms: 5, t1_ms: 1, pages: [] })], 2, /"t1_ms" ≥ "t0_ms" = 5, found 1/],
    ['time going backwards', [head, line({ t0_ms: 0, t1_ms: 5, pages: [] }), line({ t0_ms: 4, t1_ms: 9, pages: [] })], 3, /time going backwards/],
    ['n that does not count the list', [head, line({ t0_ms: 0, t1_ms: 1, n: 3, pages: [1, 1] })], 2, /"n" = 2 \(entries listed/],
    ['negative page', [head, line({ t0_ms: 0, t1_ms: 1, pages: [-1] })], 2, /non-negative integer, found -1/],
  ];
  it.each(cases)('%s', async (_n, ls, lineNo, msg) => {
    const e = await failure(text(ls), 'trace.jsonl');
    expect(e.where).toEqual({ line: lineNo });
    expect(e.message).toMatch(msg);
  });
});

describe('files and wrappers', () => {
  it('a missing file', async () => {
    await expect(readTrace(fileInput('/nonexistent/x.dpt'))).rejects.toThrow(/^\/nonexistent\/x\.dpt: expected an existing file \(no such file\)$/);
  });
  it('content of no known format', async () => {
    expect((await failure(new TextEncoder().encode('hello'), 'x.txt')).message).toBe(
      'x.txt: byte 0: expected a trace: .dpt (magic "DPTRACE"), .dpt.jsonl or recorder JSON lines (a "{" header line), gzipped or not',
    );
  });
  it('an empty file', async () => {
    expect((await failure(new Uint8Array(0), 'e.dpt')).message).toMatch(/^e\.dpt: byte 0: expected a trace .* found an empty file/);
  });
  it('corrupt gzip', async () => {
    const gz = new Uint8Array(gzipSync(golden));
    gz.fill(0x55, 20, 40);
    expect((await failure(gz, 'c.dpt.gz')).message).toMatch(/^c\.dpt\.gz: byte \d+: expected valid gzip data/);
  });
  it('a truncated gzip', async () => {
    const gz = new Uint8Array(gzipSync(golden)).slice(0, 60);
    expect((await failure(gz, 't.dpt.gz')).message).toMatch(/^t\.dpt\.gz: (byte \d+: )?expected/);
  });
});
