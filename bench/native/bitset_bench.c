// Native C reference for bench/kernel.mjs: the same bitmap operations as the
// WebAssembly kernel, on the same data (xorshift32, seeded alike), compiled
// with gcc -O3 -march=native. Long-lived: reads one operation name per line on
// stdin, runs it once, and prints "<op> <ns> <check>" so the driver can
// interleave C, WebAssembly and JavaScript runs of each operation.
#define _POSIX_C_SOURCE 199309L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NBITS (1u << 28)
#define NWORDS (NBITS / 64)
#define OUTCAP 65536
#define NSCATTER (1u << 20)

static uint64_t *a, *b, *s, *sp, *d;
static uint32_t *out, *scatter;
static uint8_t *varints;
static size_t varintLen;
static uint64_t halfK; // half of a's set bits, computed once

static uint32_t xs = 2463534242u;
static uint32_t xorshift32(void) {
  xs ^= xs << 13; xs ^= xs >> 17; xs ^= xs << 5; return xs;
}
static uint64_t rnd64(void) {
  uint64_t lo = xorshift32(); uint64_t hi = xorshift32(); return lo | (hi << 32);
}

static double now_ns(void) {
  struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e9 + t.tv_nsec;
}

// Iterate the set bits of x & ~y into a 64 Ki buffer; when it is full the consumer
// takes it (checksum: count + the last index of each full buffer, cheap in every language).
static uint64_t iterate(const uint64_t *x, const uint64_t *y) {
  uint64_t sum = 0; uint32_t n = 0;
  for (uint32_t w = 0; w < NWORDS; w++) {
    uint64_t v = x[w] & ~y[w];
    while (v) {
      out[n++] = (w << 6) + (uint32_t)__builtin_ctzll(v);
      if (n == OUTCAP) { sum += OUTCAP + out[n - 1]; n = 0; }
      v &= v - 1;
    }
  }
  return sum + n;
}

static uint64_t run(const char *op) {
  uint64_t c = 0;
  if (!strcmp(op, "or")) { for (uint32_t i = 0; i < NWORDS; i++) d[i] = a[i] | b[i]; c = d[NWORDS / 3]; }
  else if (!strcmp(op, "and")) { for (uint32_t i = 0; i < NWORDS; i++) d[i] = a[i] & b[i]; c = d[NWORDS / 3]; }
  else if (!strcmp(op, "andNot")) { for (uint32_t i = 0; i < NWORDS; i++) d[i] = a[i] & ~b[i]; c = d[NWORDS / 3]; }
  else if (!strcmp(op, "copy")) { memcpy(d, a, NWORDS * 8); c = d[NWORDS / 3]; }
  else if (!strcmp(op, "clear")) { memset(d, 0, NWORDS * 8); c = d[NWORDS / 3]; }
  else if (!strcmp(op, "popcount")) { for (uint32_t i = 0; i < NWORDS; i++) c += __builtin_popcountll(a[i]); }
  else if (!strcmp(op, "popcountAndNot")) { for (uint32_t i = 0; i < NWORDS; i++) c += __builtin_popcountll(a[i] & ~b[i]); }
  else if (!strcmp(op, "iterate6")) c = iterate(s, b);
  else if (!strcmp(op, "iterate04")) c = iterate(sp, b);
  else if (!strcmp(op, "advance")) {
    // Position after skipping half of a's set bits from 0 (the sender's advance).
    uint64_t k = halfK;
    uint32_t w = 0;
    for (;; w++) { uint32_t pc = __builtin_popcountll(a[w]); if (pc >= k) break; k -= pc; }
    uint64_t v = a[w]; while (k > 1) { v &= v - 1; k--; }
    c = (w << 6) + __builtin_ctzll(v) + 1;
  }
  else if (!strcmp(op, "scatter")) {
    for (uint32_t i = 0; i < NSCATTER; i++) { uint32_t p = scatter[i]; d[p >> 6] |= 1ull << (p & 63); }
    c = d[scatter[7] >> 6];
  }
  else if (!strcmp(op, "decode")) {
    size_t pos = 0; uint64_t page = 0; uint32_t n = 0;
    while (pos < varintLen) {
      uint64_t v = 0; unsigned shift = 0; uint8_t byte;
      do { byte = varints[pos++]; v |= (uint64_t)(byte & 0x7f) << shift; shift += 7; } while (byte & 0x80);
      page = n == 0 ? v : page + v; n++;
      d[page >> 6] |= 1ull << (page & 63);
    }
    c = n;
  }
  else { fprintf(stderr, "unknown op %s\n", op); exit(2); }
  return c;
}

int main(void) {
  a = aligned_alloc(64, NWORDS * 8); b = aligned_alloc(64, NWORDS * 8); s = aligned_alloc(64, NWORDS * 8);
  sp = aligned_alloc(64, NWORDS * 8); d = aligned_alloc(64, NWORDS * 8);
  out = aligned_alloc(64, OUTCAP * 4); scatter = malloc(NSCATTER * 4);
  varints = malloc(NSCATTER * 5);
  // Same order of draws as bench/kernel.mjs: a, b, then s = 3-way AND, sp = 7-way AND, then scatter indices.
  for (uint32_t i = 0; i < NWORDS; i++) a[i] = rnd64();
  for (uint32_t i = 0; i < NWORDS; i++) b[i] = rnd64();
  for (uint32_t i = 0; i < NWORDS; i++) { uint64_t v = rnd64(); v &= rnd64(); v &= rnd64(); s[i] = v; }
  for (uint32_t i = 0; i < NWORDS; i++) { uint64_t v = rnd64(); for (int j = 0; j < 6; j++) v &= rnd64(); sp[i] = v; }
  for (uint32_t i = 0; i < NSCATTER; i++) scatter[i] = xorshift32() & (NBITS - 1);
  // Decode input: every 256th page (1 Mi pages), gaps of 256 → 2-byte varints.
  varintLen = 0;
  for (uint32_t i = 0; i < NSCATTER; i++) {
    uint32_t v = i == 0 ? 0 : 256;
    do { uint8_t byte = v & 0x7f; v >>= 7; if (v) byte |= 0x80; varints[varintLen++] = byte; } while (v);
  }
  halfK = 0;
  for (uint32_t i = 0; i < NWORDS; i++) halfK += __builtin_popcountll(a[i]);
  halfK /= 2;
  memset(d, 0, NWORDS * 8);
  memset(out, 0, OUTCAP * 4);
  printf("ready\n"); fflush(stdout);
  char line[64];
  while (fgets(line, sizeof line, stdin)) {
    line[strcspn(line, "\r\n")] = 0;
    if (!line[0]) continue;
    double t0 = now_ns();
    uint64_t c = run(line);
    double t1 = now_ns();
    printf("%s %.0f %llu\n", line, t1 - t0, (unsigned long long)c);
    fflush(stdout);
  }
  return 0;
}
