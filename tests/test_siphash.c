/*
 * Unit tests of v3xy_siphash: the paper's test vector, then OpenSSL's own
 * SipHash (EVP_MAC "SIPHASH", an implementation we did not write) as the
 * reference for every length from 0 to 80 bytes, both output sizes, and
 * random keys and inputs.
 */

#include "v3xy_test.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "v3xy_siphash.h"


static uint64_t  rng = 0x243f6a8885a308d3ULL;


static uint64_t
rnd(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;

    return rng * 0x2545f4914f6cdd1dULL;
}


static void
openssl_siphash(const unsigned char *key, const unsigned char *in,
    size_t len, unsigned char *out, size_t outlen)
{
    size_t        got;
    EVP_MAC      *mac;
    OSSL_PARAM    params[2];
    EVP_MAC_CTX  *ctx;

    mac = EVP_MAC_fetch(NULL, "SIPHASH", NULL);
    assert_non_null(mac);
    ctx = EVP_MAC_CTX_new(mac);
    assert_non_null(ctx);

    params[0] = OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &outlen);
    params[1] = OSSL_PARAM_construct_end();

    assert_int_equal(EVP_MAC_init(ctx, key, V3XY_SIPHASH_KEY_LEN, params),
                     1);
    assert_int_equal(EVP_MAC_update(ctx, in, len), 1);
    assert_int_equal(EVP_MAC_final(ctx, out, &got, outlen), 1);
    assert_int_equal(got, outlen);

    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
}


/* key 00..0f, message 00..0e: 0xa129ca6149be45e5 (the paper, appendix A) */
static void
test_paper_vector(void **state)
{
    int            i;
    unsigned char  key[16], in[15], out[8];

    static const unsigned char  want[8] = {
        0xe5, 0x45, 0xbe, 0x49, 0x61, 0xca, 0x29, 0xa1
    };

    (void) state;

    for (i = 0; i < 16; i++) {
        key[i] = (unsigned char) i;
    }

    for (i = 0; i < 15; i++) {
        in[i] = (unsigned char) i;
    }

    v3xy_siphash(key, in, sizeof(in), out, 8);

    assert_memory_equal(out, want, 8);
}


/* the paper's key and message pattern, every length of 0..80, 8 and 16 */
static void
test_every_length_against_openssl(void **state)
{
    size_t         len, outlen;
    unsigned char  key[16], in[80], got[16], want[16];

    (void) state;

    for (len = 0; len < 16; len++) {
        key[len] = (unsigned char) len;
    }

    for (len = 0; len < sizeof(in); len++) {
        in[len] = (unsigned char) len;
    }

    for (outlen = 8; outlen <= 16; outlen += 8) {
        for (len = 0; len <= sizeof(in); len++) {
            memset(got, 0xaa, sizeof(got));
            v3xy_siphash(key, in, len, got, outlen);
            openssl_siphash(key, in, len, want, outlen);

            if (memcmp(got, want, outlen) != 0) {
                fail_msg("length %u, output %u: differs from OpenSSL",
                         (unsigned) len, (unsigned) outlen);
            }

            /* nothing written past outlen */
            if (outlen == 8) {
                assert_int_equal(got[8], 0xaa);
                assert_int_equal(got[15], 0xaa);
            }
        }
    }
}


/* random keys, inputs and lengths up to 300 (lengths above 255 wrap) */
static void
test_random_against_openssl(void **state)
{
    int            i;
    size_t         j, len;
    unsigned char  key[16], in[300], got[16], want[16];

    (void) state;

    for (i = 0; i < 2000; i++) {
        for (j = 0; j < sizeof(key); j++) {
            key[j] = (unsigned char) rnd();
        }

        len = rnd() % (sizeof(in) + 1);

        for (j = 0; j < len; j++) {
            in[j] = (unsigned char) rnd();
        }

        v3xy_siphash(key, in, len, got, 16);
        openssl_siphash(key, in, len, want, 16);

        if (memcmp(got, want, 16) != 0) {
            fail_msg("random input %d (length %u): differs from OpenSSL",
                     i, (unsigned) len);
        }
    }
}


/* one bit of the key or of the input changes about half the output */
static void
test_keyed(void **state)
{
    int            bits;
    size_t         i;
    unsigned char  key[16], in[] = "v3xy_0123456789abcdef", a[16], b[16];

    (void) state;

    memset(key, 0x5c, sizeof(key));

    v3xy_siphash(key, in, sizeof(in) - 1, a, 16);
    key[15] ^= 1;
    v3xy_siphash(key, in, sizeof(in) - 1, b, 16);

    for (bits = 0, i = 0; i < 16; i++) {
        bits += __builtin_popcount(a[i] ^ b[i]);
    }

    assert_in_range(bits, 32, 96);

    key[15] ^= 1;
    in[0] ^= 1;
    v3xy_siphash(key, in, sizeof(in) - 1, b, 16);

    for (bits = 0, i = 0; i < 16; i++) {
        bits += __builtin_popcount(a[i] ^ b[i]);
    }

    assert_in_range(bits, 32, 96);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_paper_vector),
        cmocka_unit_test(test_every_length_against_openssl),
        cmocka_unit_test(test_random_against_openssl),
        cmocka_unit_test(test_keyed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
