/**
 * Calibration profiles fitted to real hosts. Each constant's value comes from
 * a rule over real runs (src/validate/derive.ts states the rules); a test
 * re-derives them from the runs they cite and requires the same values.
 */
import { registerCalibration, type Calibration } from './calibration.js';

const SHIPPED = 'the 15 runs of test/fixtures/qemu-runs (the team corpus of 10 and 5 recorded on 2026-11-26: 16/32/64 MiB/s, 100/300 ms, light, medium, heavy, phases)';

/**
 * QEMU 7.2 under TCG, source and destination QEMU on one 2-core Debian 12
 * host, migrating over 127.0.0.1 (../shared/qemu-runs/README.md).
 */
export const QEMU_72_TCG: Calibration = {
  name: 'qemu-7.2-tcg',
  description: 'QEMU 7.2 under TCG, both QEMUs on one 2-core Debian 12 host, migrating over 127.0.0.1',
  setupMs: 125,
  setupStallsGuest: true,
  linkBytesPerSec: 292855610.22364223,
  zeroPageCpuUs: 14.99,
  phantomPages: 61,
  otherBlockPages: { normal: 50, zero: 81 },
  slotOvershootMs: 0.747,
  postcopySwitchMs: 91,
  constants: {
    postcopySwitchMs: { value: 91, unit: 'ms', source: `median downtime of the completed post-copy runs (1 of them: heavy-bw32-dt300-pc5) over ${SHIPPED}` },
    setupMs: { value: 125, unit: 'ms', source: `median of final.setup_time_ms over ${SHIPPED}` },
    linkBytesPerSec: { value: 292855610.22364223, unit: 'bytes/s', source: `Σ downtime_bytes / Σ downtime over the completed ones of ${SHIPPED}` },
    zeroPageCpuUs: { value: 14.99, unit: 'µs per zero page', source: `bisection: the model's second sync at the real one, median over ${SHIPPED}` },
    phantomPages: { value: 61, unit: 'pages per sync', source: `median of non-zero rounds[].sent_without_recorded_write over ${SHIPPED}` },
    otherBlockNormalPages: { value: 50, unit: 'pages', source: `median of sent.jsonl.gz other_ramblocks_pages_sent over ${SHIPPED}` },
    otherBlockZeroPages: { value: 81, unit: 'pages', source: `median of (ram_total − guest RAM)/page − the non-zero ones over ${SHIPPED}` },
    slotOvershootMs: { value: 0.747, unit: 'ms', source: `median period of the rate-limit slots that used their budget, − 100 ms, over ${SHIPPED}` },
  },
};

registerCalibration(QEMU_72_TCG);
