/*
 * v3xy_siphash: SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast
 * short-input PRF", 2012), the 64-bit and the 128-bit output.
 *
 * A keyed hash for the shared-memory stores: a client-chosen key (an API
 * key, a header) is named in shared memory by its SipHash under a random
 * key of the zone, not by itself, so that no secret sits in a zone and
 * nobody who lacks the zone's key can choose keys that collide.  A short
 * key costs about 150 instructions, against some 3,000 for SHA-256
 * through OpenSSL 3's EVP interface.
 */

#ifndef V3XY_SIPHASH_H
#define V3XY_SIPHASH_H

#include <stddef.h>


#define V3XY_SIPHASH_KEY_LEN  16


/*
 * SipHash-2-4 of in[0..len) under key (16 bytes) into out: outlen 8 (the
 * original SipHash-2-4) or 16 (SipHash-2-4-128); any other outlen is
 * taken as 16.  Output bytes are little-endian, as in the paper's test
 * vectors and OpenSSL's EVP_MAC "SIPHASH".
 */
void v3xy_siphash(const unsigned char *key, const unsigned char *in,
    size_t len, unsigned char *out, size_t outlen);


#endif /* V3XY_SIPHASH_H */
