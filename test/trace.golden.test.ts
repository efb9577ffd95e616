// The golden .dpt file: pins the byte layout of DESIGN §2.2. The expected
// bytes below were written by hand from the spec, not by the writer.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readTrace } from '../src/trace/open.js';
import { encodingSizes } from '../src/trace/dpt.js';
import { bytesInput, dptBytes, ep, header, hex } from './helpers.js';

export const GOLDEN_HEX = `
44 50 54 52 41 43 45 01   # magic "DPTRACE\\x01"
46 00 00 00               # hdr_len 70 = 52 + json_len
05 00 00 00               # flags: bit0 epochs carry t0/t1, bit2 zeroAtStart block
00 10 00 00               # page_size 4096
14 00 00 00 00 00 00 00   # n_pages 20
00 00 00 00               # time_unit 0 = ns
64 00 00 00 00 00 00 00   # epoch_len 100
05 00 00 00 00 00 00 00   # n_epochs 5
12 00 00 00               # json_len 18
7b 22 74 69 6d 65 5a 65 72 6f 4e 73 22 3a 31 30 30 7d   # {"timeZeroNs":100}
04 00 00 00  02  02 00 00 00  10 04     # zeroAtStart: n 4, enc 2 runs, len 2: start 16, length 4
00 00 00 00 00 00 00 00  64 00 00 00 00 00 00 00   # epoch 0: t0 0, t1 100
02 00 00 00  00  02 00 00 00  03 02     #   n 2, enc 0 list, len 2: page 3, gap 2 → {3, 5}
64 00 00 00 00 00 00 00  c8 00 00 00 00 00 00 00   # epoch 1: t0 100, t1 200
02 00 00 00  03  00 00 00 00            #   n 2, enc 3 same as previous, len 0
c8 00 00 00 00 00 00 00  2c 01 00 00 00 00 00 00   # epoch 2: t0 200, t1 300
05 00 00 00  02  02 00 00 00  0a 05     #   n 5, enc 2 runs, len 2: start 10, length 5 → {10..14}
2c 01 00 00 00 00 00 00  90 01 00 00 00 00 00 00   # epoch 3: t0 300, t1 400
0c 00 00 00  01  03 00 00 00  55 ff 00  #   n 12, enc 1 bitmap, len 3 → {0,2,4,6,8..15}
90 01 00 00 00 00 00 00  f4 01 00 00 00 00 00 00   # epoch 4: t0 400, t1 500
00 00 00 00  00  00 00 00 00            #   n 0, enc 0 list, len 0 (the empty set)
`;

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
