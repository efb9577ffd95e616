// Units as people write them (docs/outputs.md).
import { describe, expect, it } from 'vitest';
import { parseBandwidth, parseDurationMs, parseSize, UnitError } from '../src/sim/units.js';

describe('units', () => {
  it('bandwidths: MB = 10^6, MiB = 2^20, bits, bare bytes/s', () => {
    expect(parseBandwidth('128MiB/s')).toBe(128 * 2 ** 20);
    expect(parseBandwidth('32MB/s')).toBe(32e6);
    expect(parseBandwidth('1Gbit/s')).toBe(125e6);
    expect(parseBandwidth('10Gbps')).toBe(1.25e9);
    expect(parseBandwidth('100 Gbit/s')).toBe(12.5e9);
    expect(parseBandwidth('4096')).toBe(4096);
    expect(() => parseBandwidth('fast')).toThrow(UnitError);
    expect(() => parseBandwidth('3 furlongs/s')).toThrow(UnitError);
  });
  it('durations: bare numbers are ms, as in QEMU', () => {
    expect(parseDurationMs('300ms')).toBe(300);
    expect(parseDurationMs('2s')).toBe(2000);
    expect(parseDurationMs('300')).toBe(300);
    expect(parseDurationMs('1.5min')).toBe(90000);
    expect(parseDurationMs('250us')).toBe(0.25);
    expect(() => parseDurationMs('3 parsecs')).toThrow(UnitError);
  });
  it('sizes', () => {
    expect(parseSize('512MiB')).toBe(512 * 2 ** 20);
    expect(parseSize('1GB')).toBe(1e9);
    expect(parseSize('100')).toBe(100);
    expect(() => parseSize('1Gbit')).toThrow(UnitError);
  });
});
