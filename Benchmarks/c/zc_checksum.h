/*
 * zc_checksum.h — the benchmark's stream checksum ("zc64"), shared by the C
 * receivers and mirrored in Swift (BenchKit). Not cryptographic: it exists so a
 * receiver can verify every byte of a stream without storing it.
 *
 * Definition: h = 0x243F6A8885A308D3; for each 8-byte little-endian word w of
 * the stream (a final partial word is zero-padded), h = rotl64(h ^ w, 29) *
 * 0x9E3779B97F4A7C15; the result is h ^ length.
 */
#ifndef ZC_CHECKSUM_H
#define ZC_CHECKSUM_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct zc64 {
    uint64_t h, length;
    unsigned char carry[8];
    unsigned ncarry;
} zc64;

static inline void zc64_init(zc64 *c) {
    c->h = 0x243F6A8885A308D3ull;
    c->length = 0;
    c->ncarry = 0;
}

static inline uint64_t zc64_mix(uint64_t h, uint64_t w) {
    h ^= w;
    h = (h << 29) | (h >> 35);
    return h * 0x9E3779B97F4A7C15ull;
}

static inline void zc64_update(zc64 *c, const void *data, size_t n) {
    const unsigned char *p = (const unsigned char *)data;
    c->length += n;
    while (c->ncarry > 0 && n > 0) {
        c->carry[c->ncarry++] = *p++;
        n--;
        if (c->ncarry == 8) {
            uint64_t w;
            memcpy(&w, c->carry, 8);
            c->h = zc64_mix(c->h, w);
            c->ncarry = 0;
        }
    }
    uint64_t h = c->h;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = zc64_mix(h, w);
        p += 8;
        n -= 8;
    }
    c->h = h;
    while (n > 0) {
        c->carry[c->ncarry++] = *p++;
        n--;
    }
}

static inline uint64_t zc64_final(const zc64 *c) {
    uint64_t h = c->h;
    if (c->ncarry > 0) {
        unsigned char last[8] = {0};
        memcpy(last, c->carry, c->ncarry);
        uint64_t w;
        memcpy(&w, last, 8);
        h = zc64_mix(h, w);
    }
    return h ^ c->length;
}
#endif
