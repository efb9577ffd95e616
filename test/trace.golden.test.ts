// The golden .dpt file: pins the byte layout of docs/dpt-format.md The expected
// bytes below were written by hand from the spec, not by the writer.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readTrace } from '../src/trace/open.js';
import { encodingSizes } from '../src/trace/dpt.js';
import { bytesInput, dptBytes, ep, header, hex } from './helpers.js';
import { GOLDEN_HEX } from './fixtures/golden.js';



const goldenHeader = header({ nEpochs: 5, zeroAtStart: Uint32Array.from([16, 17, 18, 19]), meta: { timeZeroNs: 100 } });
const goldenEpochs = [
  ep(0, 100, [3, 5]),
  ep(100, 200, [3, 5]),
  ep(200, 300, [10, 11, 12, 13, 14]),
  ep(300, 400, [0, 2, 4, 6, 8, 9, 10, 11, 12, 13, 14, 15]),
  ep(400, 500, []),
];

describe('golden .dpt', () => {
  const expected = hex(GOLDEN_HEX);

  it('the committed file is exactly the hand-written hex dump', () => {
    const file = new Uint8Array(readFileSync(new URL('./fixtures/golden.dpt', import.meta.url)));
    expect(file.length).toBe(213);
    expect(file).toEqual(expected);
  });

  it('the writer produces those bytes, picking the smallest encoding per epoch', async () => {
    expect(await dptBytes(goldenHeader, goldenEpochs)).toEqual(expected);
  });

  it('the reader gives back the trace', async () => {
    const t = await readTrace(bytesInput('golden.dpt', expected));
    expect(t.format).toBe('dpt');
    expect(t.header.nPages).toBe(20);
    expect(t.header.nEpochs).toBe(5);
    expect(t.header.meta).toEqual({ timeZeroNs: 100 });
    expect(Array.from(t.header.zeroAtStart!)).toEqual([16, 17, 18, 19]);
    expect(t.epochs.map((e) => [e.t0, e.t1, Array.from(e.pages)])).toEqual(
      goldenEpochs.map((e) => [e.t0, e.t1, Array.from(e.pages)]),
    );
  });

  it('encoding sizes are those computed by hand', () => {
    // [list, bitmap, runs, same]
    expect(encodingSizes(Uint32Array.from([3, 5]), null, 20)).toEqual([2, 3, 4, Infinity]);
    expect(encodingSizes(Uint32Array.from([10, 11, 12, 13, 14]), null, 20)).toEqual([5, 3, 2, Infinity]);
    expect(encodingSizes(Uint32Array.from([3, 5]), Uint32Array.from([3, 5]), 20)).toEqual([2, 3, 4, 0]);
  });
});
