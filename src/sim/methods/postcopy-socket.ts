/**
 * The two pieces of state post-copy adds to the engine (used by postcopy.ts):
 *
 * - SocketFifo: the migration stream between the source and the destination
 *   as one FIFO — what the source wrote and the destination has not read yet
 *   (socket buffers on both sides). It holds at most `capacityBytes`; the
 *   destination reads it at `drainBytesPerSec` from `drainFromNs` on (before
 *   that it is still busy with the switch). A page written into it arrives
 *   when everything ahead of it has been read.
 * - Destination: which pages the destination still lacks (the guest faults on
 *   them): those the source has not sent yet, and those still in the socket.
 *   It is the engine's RemoteMemory, and queues the guest's page requests.
 *
 * Cost: one segment per send (a QEMUFile flush or a requested page); only the
 * segments still in the socket are kept.
 */
import type { Bitmap } from '../../kernel/index.js';
import type { Engine, RemoteMemory } from '../engine.js';

/** The migration socket as one FIFO of bytes. Infinite capacity and rate: no queueing at all. */
export class SocketFifo {
  /** Bytes written into the socket so far (positions are counted in these). */
  private written = 0;
  /** Bytes the destination had read by time `at`. */
  private read = 0;
  private at = 0;
  private readonly perNs: number;

  constructor(readonly capacityBytes: number, drainBytesPerSec: number, readonly drainFromNs: number) {
    this.perNs = drainBytesPerSec / 1e9;
  }

  /** Bytes read by the destination at time t ≥ the last write. */
  private readBy(t: number): number {
    const from = Math.max(this.at, this.drainFromNs);
    if (t <= from) return this.read;
    return Math.min(this.written, this.read + (t - from) * this.perNs);
  }

  /** When the destination will have read everything written so far (later writes queue behind it). */
  private readAllAt(): number {
    const from = Math.max(this.at, this.drainFromNs);
    if (this.written <= this.read || this.perNs === Infinity) return from;
    return from + (this.written - this.read) / this.perNs;
  }

  /**
   * A sender starting at `t` writes `bytes` that take it `ownNs` on its own:
   * they go in at its own speed while the socket has room; once it is full
   * the sender blocks (a blocking writev) and goes on as fast as the
   * destination makes room. Returns when the write ends and when the
   * destination will have read its last byte.
   */
  put(t: number, bytes: number, ownNs: number): { end: number; readNs: number } {
    const readAtT = this.readBy(t);
    const over = this.written - readAtT + bytes - this.capacityBytes;
    const start = Math.max(t, this.drainFromNs);
    let end = t + ownNs;
    if (over > 0) {
      end = Math.max(end, start + over / this.perNs);
      // The destination reads on while the bytes go in: the socket is full when the write ends.
      this.read = Math.min(this.written + bytes, readAtT + Math.max(0, end - start) * this.perNs);
    } else {
      this.read = this.readBy(end); // room enough: the bytes are in when the write ends
    }
    this.at = Math.max(this.at, end);
    this.written += bytes;
    return { end, readNs: this.readAllAt() };
  }

  /** When everything written so far has been read. */
  get emptyAt(): number {
    return this.readAllAt();
  }
}

/** Pages [lo, hi) of the bitmap order went into the socket together; the destination has them at `arrivesNs`. */
interface Segment {
  lo: number;
  hi: number;
  arrivesNs: number;
}

/** A page request from the destination, queued on the source (ram_save_queue_pages). */
export interface PageRequest {
  page: number;
  /** When it reaches the source (the return path), ns. */
  atSourceNs: number;
}

/** What the destination lacks, and the guest's requests for it (the engine's RemoteMemory). */
export class Destination implements RemoteMemory {
  /** Pages the destination lacks: those to send at the switch, until their segment is read. */
  private readonly lacking: Bitmap;
  private readonly segments: Segment[] = [];
  private head = 0;
  /** Requests not yet taken by the migration thread, oldest first. */
  readonly requests: PageRequest[] = [];

  /** oneWayNs: a message's latency from one side to the other (half the rtt). */
  constructor(private readonly e: Engine, private readonly oneWayNs: number) {
    this.lacking = e.k.bitmap(e.nPages);
    e.k.copy(this.lacking, e.mig); // the discard list: everything still to send
  }

  dispose(): void {
    this.e.k.dispose(this.lacking);
  }

  private lacks(p: number): boolean {
    const u = this.e.k.u32;
    return ((u[(this.lacking.ptr >>> 2) + (p >>> 5)]! >>> (p & 31)) & 1) === 1;
  }

  /** The segment that carried page p (sent, not yet known to be read). */
  private segmentOf(p: number): Segment | null {
    for (let i = this.head; i < this.segments.length; i++) {
      const s = this.segments[i]!;
      if (p >= s.lo && p < s.hi) return s;
    }
    return null;
  }

  /** When page p, already sent, is on the destination. */
  private arrival(p: number): number {
    return this.segmentOf(p)?.arrivesNs ?? -Infinity;
  }

  missing(p: number, wallNs: number): boolean {
    if (!this.lacks(p)) return false;
    if (this.e.isPending(p)) return true;
    return this.arrival(p) > wallNs;
  }

  fault(p: number, wallNs: number): number | null {
    // postcopy_request_page → migrate_send_rp_req_pages: the request goes out either way
    // (the page is not in receivedmap); the source drops it if the page was sent already.
    this.requests.push({ page: p, atSourceNs: wallNs + this.oneWayNs });
    return this.e.isPending(p) ? null : this.arrival(p);
  }

  /** Pages [lo, hi) go into the socket; the destination has read them at `readNs` (call before the engine sends them). */
  sent(lo: number, hi: number, readNs: number): void {
    if (hi > lo) this.segments.push({ lo, hi, arrivesNs: readNs + this.oneWayNs });
  }

  /** Pages [lo, hi) were sent: if the guest waits for one of them, it knows when it arrives. */
  arrived(lo: number, hi: number): void {
    const f = this.e.faultPending;
    if (f && !f.known && f.page >= lo && f.page < hi && !this.e.isPending(f.page)) this.e.unblockGuestAt(this.arrival(f.page));
  }

  /** The request that has reached the source by `now`, if any (taken off the queue). */
  takeRequest(now: number): PageRequest | null {
    const r = this.requests[0];
    if (!r || r.atSourceNs > now) return null;
    this.requests.shift();
    return r;
  }

  /** Whether a request has reached the source by `now` (postcopy_has_request). */
  hasRequest(now: number): boolean {
    return this.requests.length > 0 && this.requests[0]!.atSourceNs <= now;
  }

  /** Forget the segments the destination has read by `now` (their pages are there). */
  prune(now: number): void {
    while (this.head < this.segments.length && this.segments[this.head]!.arrivesNs <= now) {
      const s = this.segments[this.head++]!;
      this.e.k.clear(this.lacking, s.lo, s.hi);
    }
    if (this.head > 1024 && this.head * 2 > this.segments.length) {
      this.segments.splice(0, this.head);
      this.head = 0;
    }
  }
}
