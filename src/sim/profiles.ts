/**
 * Calibration profiles fitted to real hosts. Each constant's value comes from
 * a rule over real runs (src/validate/derive.ts states the rules); a test
 * re-derives them from the runs they cite and requires the same values.
 */
import { registerCalibration, type Calibration } from './calibration.js';

const SHIPPED = 'the quiet runs of test/fixtures/qemu-runs (31 real QEMU 7.2 TCG migrations, 26 of them recorded on a quiet host: 16/32/64 MiB/s, 5–300 ms and downtime-limit steps, pre-copy, auto-converge, post-copy, XBZRLE, multifd; light, medium, heavy, phases workloads)';

const POSTCOPY = 'the 4 post-copy runs (heavy-bw32-dt300-pc3, heavy-bw32-dt300-pc5, heavy-bw64-dt300-pc5, medium-bw16-dt300-pc4)';
const POSTCOPY_SOCKET = 'the 3 post-copy runs with a query-migrate poll before the destination\'s LISTEN (heavy-bw32-dt300-pc3, heavy-bw32-dt300-pc5, heavy-bw64-dt300-pc5)';

/**
 * QEMU 7.2 under TCG, source and destination QEMU on one 2-core Debian 12
 * host, migrating over 127.0.0.1 (test/fixtures/qemu-runs/README.md).
 */
export const QEMU_72_TCG: Calibration = {
  name: 'qemu-7.2-tcg',
  description: 'QEMU 7.2 under TCG, both QEMUs on one 2-core Debian 12 host, migrating over 127.0.0.1',
  setupMs: 118.5,
  setupStallsGuest: true,
  linkBytesPerSec: 561048775.7929065,
  switchoverFixedMs: 2.4818168240369944,
  deviceStateBytes: 114085,
  rttMs: 0,
  zeroPageCpuUs: 9.07,
  zeroPageCpuUsPerKWrites: 0.79,
  phantomPages: 61,
  otherBlockPages: { normal: 50, zero: 81 },
  slotOvershootMs: 0.4162500000001046,
  xbzrleEncodedBytes: 23.524830699774267,
  xbzrleOverflowShare: 0,
  xbzrleCpuUs: 1.82,
  postcopyStopMs: 2.059500000000071,
  postcopySyncUsPerPage: 2.88031518616003,
  postcopyPackageMs: 2.7224999999998545,
  postcopyDstStartMs: 64.69799999999987,
  postcopySocketBytes: 4592391,
  postcopyDrainRatio: 1.456,
  constants: {
    setupMs: { value: 118.5, unit: 'ms', source: `median of final.setup_time_ms over ${SHIPPED}` },
    linkBytesPerSec: { value: 561048775.7929065, unit: 'bytes/s', source: `median final-copy speed, downtime_bytes / (last − first normal page of the final round in sent.jsonl.gz), rounds ≥ 2 ms, over ${SHIPPED}` },
    switchoverFixedMs: { value: 2.4818168240369944, unit: 'ms', source: `median of (stop → first page of the final copy) + (last page → completed) − device state time over ${SHIPPED}` },
    deviceStateBytes: { value: 114085, unit: 'bytes', source: `median of final mbps × (total − setup) − transferred over ${SHIPPED}` },
    rttMs: { value: 0, unit: 'ms', source: 'in switchoverFixedMs (measured on the host)' },
    phantomPages: { value: 61, unit: 'pages per sync', source: `median of the runs' medians of non-zero rounds[].sent_without_recorded_write over ${SHIPPED}` },
    slotOvershootMs: { value: 0.4162500000001046, unit: 'ms', source: `median of the runs' median period of the rate-limit slots that used their budget, − 100 ms, over ${SHIPPED}` },
    otherBlockNormalPages: { value: 50, unit: 'pages', source: `median of sent.jsonl.gz other_ramblocks_pages_sent over ${SHIPPED}` },
    otherBlockZeroPages: { value: 81, unit: 'pages', source: `median of (ram_total − guest RAM)/page − the non-zero ones over ${SHIPPED}` },
    zeroPageCpuUs: { value: 9.07, unit: 'µs per zero page at no guest writes', source: `least-squares line over the runs' bisected values (model's second sync at the real one) vs the trace's write rate, over ${SHIPPED}` },
    zeroPageCpuUsPerKWrites: { value: 0.79, unit: 'µs per zero page per 1000 pages/s written', source: 'slope of the same line (the guest competes with the sender for the host\'s cores)' },
    postcopyStopMs: { value: 2.059500000000071, unit: 'ms', source: `median of postcopy_start → savevm_state_complete_precopy (vCPU stopped) over ${POSTCOPY}` },
    postcopySyncUsPerPage: { value: 2.88031518616003, unit: 'µs per page in the dirty log', source: `median of (the last sync's end − savevm_state_complete_precopy) / the pages the recorder saw written since the previous sync (trace_union_overlap) over ${POSTCOPY}` },
    postcopyPackageMs: { value: 2.7224999999998545, unit: 'ms', source: `median of postcopy_start + QEMU's downtime − the last sync's end (discard list, device-state package) over ${POSTCOPY}` },
    postcopyDstStartMs: { value: 64.69799999999987, unit: 'ms', source: `median of the destination's loadvm_postcopy_handle_run − (postcopy_start + QEMU's downtime): guest stall after QEMU's downtime, over ${POSTCOPY}` },
    postcopySocketBytes: { value: 4592391, unit: 'bytes', source: `median of the post-copy bytes written by the last query-migrate poll between the package and the destination's LISTEN (the socket held them) over ${POSTCOPY_SOCKET}` },
    postcopyDrainRatio: { value: 1.456, unit: '× max-postcopy-bandwidth', source: `median of the per-run bisections (1–4) that make the model's page requests equal QEMU's (runs' own socket bytes and switch parts: 1.456, 1.151, and heavy-bw64 at the range's top, 4) over ${POSTCOPY_SOCKET}` },
    xbzrleEncodedBytes: { value: 23.524830699774267, unit: 'bytes per cache hit', source: `median over XBZRLE runs of (xbzrle-cache bytes − 4096 × overflow) / (pages − overflow) + 8 (a cancelled run: its last qmp.jsonl.gz counters), over ${SHIPPED}` },
    xbzrleOverflowShare: { value: 0, unit: 'overflows per cache hit', source: `median over XBZRLE runs of xbzrle-cache overflow / pages, over ${SHIPPED}` },
    xbzrleCpuUs: { value: 1.82, unit: 'µs per cache hit', source: 'QEMU docs/xbzrle.txt: "a sustained bandwidth of 2-2.5 GB/s": 4096 B at 2.25 GB/s (the runs cannot separate it: live, it hides in the rate-limit sleep; their final copies vary more per page than it)' },
  },
};

registerCalibration(QEMU_72_TCG);
