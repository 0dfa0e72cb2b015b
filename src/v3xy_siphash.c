/*
 * v3xy_siphash: SipHash-2-4, written from the paper's description: two
 * compression rounds per 8-byte word, four finalization rounds; the last
 * word holds the remaining bytes and the length modulo 256 in its top
 * byte; the 128-bit form flips 0xee into v1 at the start and into v2 at
 * finalization, then 0xdd into v1 before four more rounds for the second
 * half.
 */

#include <stdint.h>

#include "v3xy_siphash.h"


#define V3XY_ROTL(x, b)  (uint64_t) (((x) << (b)) | ((x) >> (64 - (b))))

#define V3XY_SIPROUND(v0, v1, v2, v3)                                        \
    do {                                                                      \
        v0 += v1; v1 = V3XY_ROTL(v1, 13); v1 ^= v0; v0 = V3XY_ROTL(v0, 32);  \
        v2 += v3; v3 = V3XY_ROTL(v3, 16); v3 ^= v2;                           \
        v0 += v3; v3 = V3XY_ROTL(v3, 21); v3 ^= v0;                           \
        v2 += v1; v1 = V3XY_ROTL(v1, 17); v1 ^= v2; v2 = V3XY_ROTL(v2, 32);  \
    } while (0)


static uint64_t v3xy_le64(const unsigned char *p);
static void v3xy_put_le64(unsigned char *p, uint64_t v);


void
v3xy_siphash(const unsigned char *key, const unsigned char *in, size_t len,
    unsigned char *out, size_t outlen)
{
    int        i;
    size_t     n;
    uint64_t   k0, k1, v0, v1, v2, v3, m, b;

    k0 = v3xy_le64(key);
    k1 = v3xy_le64(key + 8);

    v0 = k0 ^ 0x736f6d6570736575ULL;
    v1 = k1 ^ 0x646f72616e646f6dULL;
    v2 = k0 ^ 0x6c7967656e657261ULL;
    v3 = k1 ^ 0x7465646279746573ULL;

    if (outlen != 8) {
        v1 ^= 0xee;
    }

    for (n = len; n >= 8; n -= 8, in += 8) {
        m = v3xy_le64(in);

        v3 ^= m;
        V3XY_SIPROUND(v0, v1, v2, v3);
        V3XY_SIPROUND(v0, v1, v2, v3);
        v0 ^= m;
    }

    b = (uint64_t) (len & 0xff) << 56;

    for (i = (int) n - 1; i >= 0; i--) {
        b |= (uint64_t) in[i] << (8 * i);
    }

    v3 ^= b;
    V3XY_SIPROUND(v0, v1, v2, v3);
    V3XY_SIPROUND(v0, v1, v2, v3);
    v0 ^= b;

    v2 ^= (outlen != 8) ? 0xee : 0xff;

    for (i = 0; i < 4; i++) {
        V3XY_SIPROUND(v0, v1, v2, v3);
    }

    v3xy_put_le64(out, v0 ^ v1 ^ v2 ^ v3);

    if (outlen == 8) {
        return;
    }

    v1 ^= 0xdd;

    for (i = 0; i < 4; i++) {
        V3XY_SIPROUND(v0, v1, v2, v3);
    }

    v3xy_put_le64(out + 8, v0 ^ v1 ^ v2 ^ v3);
}


static uint64_t
v3xy_le64(const unsigned char *p)
{
    return (uint64_t) p[0] | (uint64_t) p[1] << 8 | (uint64_t) p[2] << 16
           | (uint64_t) p[3] << 24 | (uint64_t) p[4] << 32
           | (uint64_t) p[5] << 40 | (uint64_t) p[6] << 48
           | (uint64_t) p[7] << 56;
}


static void
v3xy_put_le64(unsigned char *p, uint64_t v)
{
    int  i;

    for (i = 0; i < 8; i++) {
        p[i] = (unsigned char) (v >> (8 * i));
    }
}
