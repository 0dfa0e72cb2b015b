/*
 * Unit tests of src/v3xy_sig.c: the X-V3XY-Signature header, the
 * HMAC-SHA256 over "<t>.<body>" fed in pieces, the constant-time match
 * and the timestamp tolerance, at their edges.
 *
 * The expected MACs were computed independently, with Python 3.11:
 *     hmac.new(secret, t + b"." + body, hashlib.sha256).hexdigest()
 * and checked with OpenSSL's command line for the text bodies:
 *     printf '%s' "$t.$body" | openssl dgst -sha256 -hmac "$secret"
 * The 1 MiB body is bytes((i * 31 + 7) % 251 for i in range(1 << 20)).
 * The marks: hashlib.sha256(t + b"." + body).hexdigest(), and for the
 * text ones printf '%s' "$t.$body" | sha256sum.
 */

#include "v3xy_test.h"

#include <stdio.h>
#include <stdlib.h>

#include "v3xy_sig.h"


#define S1     "whsec_test_0123456789abcdef"
#define S2     "whsec_rotated_FEDCBA9876543210"
#define T      "1716400000"

#define BODY                                                                 \
    "{\"type\":\"payment.confirmed\",\"created_at\":"                        \
    "\"2026-05-22T18:12:00.000Z\",\"data\":{\"payment_ref\":\"cp_8f3a\","    \
    "\"external_id\":\"your-order-12345\",\"asset\":\"LTC\","                \
    "\"amount_usd_cents\":4999,\"tx_hash\":\"abc\","                         \
    "\"metadata\":{\"cart_id\":\"abc\"}}}"

/* S1, T, BODY */
#define MAC_S1                                                               \
    "db2febd9c527c6a8ffbae7e03aeadf7fedda6af54d663ea1aab14648f3ea2cf5"
/* S2, T, BODY */
#define MAC_S2                                                               \
    "58dd8d8e5eaafcffe0675ebde0fa3e3236db20fb96f2210101280fbcbbf07d2f"
/* S1, T, empty body */
#define MAC_S1_EMPTY                                                         \
    "d6516cc24cf308085bf600f7bd50c0de13ee48e8ca25a84ab77392ccbfa1360f"
/* S1, "0171640000", BODY */
#define MAC_S1_LZ                                                            \
    "fb15393faab5aa362dbbf3d6ec22ef858175390b8decb2cec825a35a37d9633f"
/* S1, "171640000", BODY */
#define MAC_S1_NOLZ                                                          \
    "76d7484cd989b73e6a0db1c1de5cd419ddd2db62eeeececd682625d7360f298c"
/* S1, T, the 8 bytes 00 01 02 ff 0a 0d 00 80 */
#define MAC_S1_BIN                                                           \
    "99eb65164fd132e5ce84276505c7a800752516167ae7ae4fa45126cec8f2db50"
/* S1, T, the 1 MiB body */
#define MAC_S1_BIG                                                           \
    "128bfe5814ea0c9f1d761689573f246d2b752ded240edfbb76dbb8e1ba84c856"
/* 65 "L" then "-long-secret-hashed-first" (90 bytes), T, "hello" */
#define MAC_LONG                                                             \
    "c6b762dfe040a74b7b0332deb202cb20f5c00a2825f8fdba20ed258bb646f221"

/* SHA-256 of T "." BODY: the mark of the delivery */
#define MARK_BODY                                                            \
    "b4ad3c0b4f1c81261ad54f3aa7cd3d70afa67f5543e9494b84aab2258cd3a364"
/* SHA-256 of T "." (empty body) */
#define MARK_EMPTY                                                           \
    "4fb17fc59d892955ed638271720cb6de7eed9ffc40c9467b759cba3f3ba577ba"
/* SHA-256 of T "." and the 1 MiB body */
#define MARK_BIG                                                             \
    "deb396617e27ebb010204a30bcff649e79058f01e12c864a95c04f9f6fd68ab4"

/* well-formed v1 that match nothing */
#define HEX_A                                                                \
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HEX_0                                                                \
    "0000000000000000000000000000000000000000000000000000000000000000"

#define BIG_LEN  (1 << 20)

#define U(s)  ((const unsigned char *) (s))

#define parse_lit(s, h)  v3xy_sig_parse(U(s), V3XY_LIT_LEN(s), h)


static uint64_t  rng = 0x9e3779b97f4a7c15ULL;


/* xorshift64*: reproducible across runs and platforms */
static uint64_t
rnd(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;

    return rng * 0x2545f4914f6cdd1dULL;
}


static void
to_hex(const unsigned char mac[V3XY_SIG_MAC_LEN], char *hex)
{
    size_t  i;

    for (i = 0; i < V3XY_SIG_MAC_LEN; i++) {
        sprintf(hex + 2 * i, "%02x", mac[i]);
    }
}


static void
assert_mac_hex(const unsigned char mac[V3XY_SIG_MAC_LEN], const char *want)
{
    char  hex[V3XY_SIG_HEX_LEN + 1];

    to_hex(mac, hex);
    v3xy_assert_buf_str(hex, V3XY_SIG_HEX_LEN, want);
}


static void
hex_to_mac(const char *hex, unsigned char mac[V3XY_SIG_MAC_LEN])
{
    size_t        i;
    unsigned int  b;

    for (i = 0; i < V3XY_SIG_MAC_LEN; i++) {
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &b), 1);
        mac[i] = (unsigned char) b;
    }
}


static unsigned char *
big_body(void)
{
    size_t          i;
    unsigned char  *b;

    b = malloc(BIG_LEN);
    assert_non_null(b);

    for (i = 0; i < BIG_LEN; i++) {
        b[i] = (unsigned char) ((i * 31 + 7) % 251);
    }

    return b;
}


/* MAC of body under secret, fed in pieces of step bytes (0: random) */
static void
mac_in_pieces(const char *secret, const char *t, const unsigned char *body,
    size_t len, size_t step, unsigned char out[V3XY_SIG_MAC_LEN])
{
    size_t          off, n;
    v3xy_sig_key_t  key;
    v3xy_sig_mac_t  mac;

    assert_int_equal(v3xy_sig_key_init(&key, U(secret), strlen(secret)), 0);
    assert_int_equal(v3xy_sig_mac_init(&mac, &key, U(t), strlen(t)), 0);

    for (off = 0; off < len; off += n) {
        n = step ? step : (size_t) (rnd() % 9000);
        if (n > len - off) {
            n = len - off;
        }

        assert_int_equal(v3xy_sig_mac_update(&mac, body + off, n), 0);
    }

    assert_int_equal(v3xy_sig_mac_final(&mac, out), 0);
    v3xy_sig_mac_free(&mac);
    v3xy_sig_key_free(&key);
}


/* a header of len bytes: t, v1, then an unknown scheme that pads it */
static char *
padded_header(size_t len, const char *v1)
{
    char    *h;
    size_t   n;

    h = malloc(len + 1);
    assert_non_null(h);

    n = (size_t) sprintf(h, "t=" T ",v1=%s,pad=", v1);
    assert_true(n <= len);
    memset(h + n, 'x', len - n);
    h[len] = '\0';

    return h;
}


static void
hmac_matches_independent_vectors(void **state)
{
    unsigned char  mac[V3XY_SIG_MAC_LEN];

    (void) state;

    assert_int_equal(v3xy_sig_hmac(U(S1), strlen(S1), U(T), strlen(T),
                                   U(BODY), strlen(BODY), mac), 0);
    assert_mac_hex(mac, MAC_S1);

    assert_int_equal(v3xy_sig_hmac(U(S2), strlen(S2), U(T), strlen(T),
                                   U(BODY), strlen(BODY), mac), 0);
    assert_mac_hex(mac, MAC_S2);

    assert_int_equal(v3xy_sig_hmac(U(S1), strlen(S1), U(T), strlen(T),
                                   NULL, 0, mac), 0);
    assert_mac_hex(mac, MAC_S1_EMPTY);

    assert_int_equal(v3xy_sig_hmac(U(S1), strlen(S1), U(T), strlen(T),
                                   U("\x00\x01\x02\xff\n\r\x00\x80"), 8,
                                   mac), 0);
    assert_mac_hex(mac, MAC_S1_BIN);

    assert_int_equal(v3xy_sig_hmac(U("LLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLL"
                                     "LLLLLLLLLLLLLLLLLLLLLLLLL"
                                     "-long-secret-hashed-first"), 90,
                                   U(T), strlen(T), U("hello"), 5, mac), 0);
    assert_mac_hex(mac, MAC_LONG);
}


static void
mac_covers_t_exactly_as_sent(void **state)
{
    unsigned char  mac[V3XY_SIG_MAC_LEN];

    (void) state;

    assert_int_equal(v3xy_sig_hmac(U(S1), strlen(S1), U("0171640000"), 10,
                                   U(BODY), strlen(BODY), mac), 0);
    assert_mac_hex(mac, MAC_S1_LZ);

    assert_int_equal(v3xy_sig_hmac(U(S1), strlen(S1), U("171640000"), 9,
                                   U(BODY), strlen(BODY), mac), 0);
    assert_mac_hex(mac, MAC_S1_NOLZ);
}


static void
mac_is_the_same_in_any_pieces(void **state)
{
    int             i;
    size_t          steps[] = { 1, 2, 7, 64, 65, 4096, BIG_LEN };
    unsigned char   mac[V3XY_SIG_MAC_LEN];
    unsigned char  *big;

    (void) state;

    for (i = 0; i < (int) (sizeof(steps) / sizeof(steps[0])); i++) {
        mac_in_pieces(S1, T, U(BODY), strlen(BODY), steps[i], mac);
        assert_mac_hex(mac, MAC_S1);
    }

    for (i = 0; i < 20; i++) {
        mac_in_pieces(S1, T, U(BODY), strlen(BODY), 1 + rnd() % 50, mac);
        assert_mac_hex(mac, MAC_S1);
    }

    big = big_body();

    mac_in_pieces(S1, T, big, BIG_LEN, BIG_LEN, mac);
    assert_mac_hex(mac, MAC_S1_BIG);
    mac_in_pieces(S1, T, big, BIG_LEN, 7, mac);
    assert_mac_hex(mac, MAC_S1_BIG);

    for (i = 0; i < 5; i++) {
        mac_in_pieces(S1, T, big, BIG_LEN, 0, mac);
        assert_mac_hex(mac, MAC_S1_BIG);
    }

    free(big);
}


static void
empty_updates_change_nothing(void **state)
{
    unsigned char   out[V3XY_SIG_MAC_LEN];
    v3xy_sig_key_t  key;
    v3xy_sig_mac_t  mac;

    (void) state;

    assert_int_equal(v3xy_sig_key_init(&key, U(S1), strlen(S1)), 0);
    assert_int_equal(v3xy_sig_mac_init(&mac, &key, U(T), strlen(T)), 0);
    assert_int_equal(v3xy_sig_mac_update(&mac, NULL, 0), 0);
    assert_int_equal(v3xy_sig_mac_update(&mac, U(BODY), 10), 0);
    assert_int_equal(v3xy_sig_mac_update(&mac, U(BODY), 0), 0);
    assert_int_equal(v3xy_sig_mac_update(&mac, U(BODY) + 10,
                                         strlen(BODY) - 10), 0);
    assert_int_equal(v3xy_sig_mac_update(&mac, NULL, 0), 0);
    assert_int_equal(v3xy_sig_mac_final(&mac, out), 0);
    assert_mac_hex(out, MAC_S1);
    v3xy_sig_mac_free(&mac);
    v3xy_sig_key_free(&key);
}


static void
two_secrets_are_fed_in_one_pass(void **state)
{
    size_t          off, n;
    unsigned char   out1[V3XY_SIG_MAC_LEN], out2[V3XY_SIG_MAC_LEN];
    unsigned char  *big;
    v3xy_sig_key_t  k1, k2;
    v3xy_sig_mac_t  m1, m2;

    (void) state;

    assert_int_equal(v3xy_sig_key_init(&k1, U(S1), strlen(S1)), 0);
    assert_int_equal(v3xy_sig_key_init(&k2, U(S2), strlen(S2)), 0);

    assert_int_equal(v3xy_sig_mac_init(&m1, &k1, U(T), strlen(T)), 0);
    assert_int_equal(v3xy_sig_mac_init(&m2, &k2, U(T), strlen(T)), 0);

    for (off = 0; off < strlen(BODY); off += n) {
        n = 1 + rnd() % 13;
        if (n > strlen(BODY) - off) {
            n = strlen(BODY) - off;
        }

        assert_int_equal(v3xy_sig_mac_update(&m1, U(BODY) + off, n), 0);
        assert_int_equal(v3xy_sig_mac_update(&m2, U(BODY) + off, n), 0);
    }

    assert_int_equal(v3xy_sig_mac_final(&m1, out1), 0);
    assert_int_equal(v3xy_sig_mac_final(&m2, out2), 0);
    assert_mac_hex(out1, MAC_S1);
    assert_mac_hex(out2, MAC_S2);
    v3xy_sig_mac_free(&m1);
    v3xy_sig_mac_free(&m2);

    /* the same keys start more MACs: a key is not used up by one */

    big = big_body();

    assert_int_equal(v3xy_sig_mac_init(&m1, &k1, U(T), strlen(T)), 0);
    assert_int_equal(v3xy_sig_mac_init(&m2, &k1, U(T), strlen(T)), 0);
    assert_int_equal(v3xy_sig_mac_update(&m1, big, BIG_LEN), 0);
    assert_int_equal(v3xy_sig_mac_update(&m2, U(BODY), strlen(BODY)), 0);
    assert_int_equal(v3xy_sig_mac_final(&m2, out2), 0);
    assert_int_equal(v3xy_sig_mac_final(&m1, out1), 0);
    assert_mac_hex(out1, MAC_S1_BIG);
    assert_mac_hex(out2, MAC_S1);
    v3xy_sig_mac_free(&m1);
    v3xy_sig_mac_free(&m2);

    free(big);
    v3xy_sig_key_free(&k1);
    v3xy_sig_key_free(&k2);
}


static void
key_is_wiped_when_freed(void **state)
{
    size_t          i;
    unsigned char   out[V3XY_SIG_MAC_LEN];
    v3xy_sig_key_t  key;
    v3xy_sig_mac_t  mac;

    (void) state;

    /* the key material is where the caller put it, and only there */

    assert_int_equal(v3xy_sig_key_init(&key, U(S2), strlen(S2)), 0);
    assert_memory_equal(key.k, S2, strlen(S2));

    for (i = strlen(S2); i < V3XY_SIG_BLOCK_LEN; i++) {
        assert_int_equal(key.k[i], 0);
    }

    assert_int_equal(v3xy_sig_mac_init(&mac, &key, U(T), strlen(T)), 0);
    assert_int_equal(v3xy_sig_mac_update(&mac, U(BODY), strlen(BODY)), 0);
    assert_int_equal(v3xy_sig_mac_final(&mac, out), 0);
    assert_mac_hex(out, MAC_S2);
    v3xy_sig_mac_free(&mac);
    assert_null(mac.ctx);

    v3xy_sig_key_free(&key);
    assert_null(key.md);

    for (i = 0; i < V3XY_SIG_BLOCK_LEN; i++) {
        assert_int_equal(key.k[i], 0);
    }

    /* a secret longer than a block is kept as its digest, not as itself */

    assert_int_equal(v3xy_sig_key_init(&key,
                         U("LLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLL"
                           "LLLLLLLLLLLLLLLLL-long-secret-hashed-first"), 90),
                     0);
    assert_memory_not_equal(key.k, "LLLLLLLL", 8);
    v3xy_sig_key_free(&key);
}


static void
mark_is_sha256_of_t_and_body(void **state)
{
    char             hex[V3XY_SIG_HEX_LEN + 1];
    size_t           off, n;
    unsigned char    mark[V3XY_SIG_MARK_LEN];
    unsigned char   *big;
    v3xy_sig_key_t   k1, k2;
    v3xy_sig_mark_t  m;

    (void) state;

    assert_int_equal(v3xy_sig_key_init(&k1, U(S1), strlen(S1)), 0);
    assert_int_equal(v3xy_sig_key_init(&k2, U(S2), strlen(S2)), 0);

    /* in pieces, under either key: the same digest, the key's no part */

    assert_int_equal(v3xy_sig_mark_init(&m, &k1, U(T), strlen(T)), 0);

    for (off = 0; off < strlen(BODY); off += n) {
        n = 1 + rnd() % 11;
        if (n > strlen(BODY) - off) {
            n = strlen(BODY) - off;
        }

        assert_int_equal(v3xy_sig_mark_update(&m, U(BODY) + off, n), 0);
    }

    assert_int_equal(v3xy_sig_mark_final(&m, mark), 0);
    to_hex(mark, hex);
    v3xy_assert_buf_str(hex, V3XY_SIG_HEX_LEN, MARK_BODY);
    v3xy_sig_mark_free(&m);
    assert_null(m.ctx);

    assert_int_equal(v3xy_sig_mark_init(&m, &k2, U(T), strlen(T)), 0);
    assert_int_equal(v3xy_sig_mark_update(&m, NULL, 0), 0);
    assert_int_equal(v3xy_sig_mark_final(&m, mark), 0);
    to_hex(mark, hex);
    v3xy_assert_buf_str(hex, V3XY_SIG_HEX_LEN, MARK_EMPTY);
    v3xy_sig_mark_free(&m);

    big = big_body();
    assert_int_equal(v3xy_sig_mark_init(&m, &k2, U(T), strlen(T)), 0);
    assert_int_equal(v3xy_sig_mark_update(&m, big, BIG_LEN), 0);
    assert_int_equal(v3xy_sig_mark_final(&m, mark), 0);
    to_hex(mark, hex);
    v3xy_assert_buf_str(hex, V3XY_SIG_HEX_LEN, MARK_BIG);
    v3xy_sig_mark_free(&m);
    v3xy_sig_mark_free(&m);
    v3xy_sig_mark_free(NULL);
    free(big);

    /* misuse */
    assert_int_equal(v3xy_sig_mark_update(&m, U(BODY), 1), -1);
    assert_int_equal(v3xy_sig_mark_final(&m, mark), -1);
    v3xy_sig_key_free(&k1);
    assert_int_equal(v3xy_sig_mark_init(&m, &k1, U(T), strlen(T)), -1);
    assert_null(m.ctx);

    v3xy_sig_key_free(&k2);
}


/*
 * One pass over a delivery under keys[0..n): which key matched header h,
 * and the mark (hex) if asked.
 */
static int
deliver(const char *header, const char *t, const char *body,
    const char **secrets, size_t n, int with_mark, char *mark_hex)
{
    int                  rc;
    size_t               i, off, step;
    unsigned char        mac[V3XY_SIG_MAC_LEN], mark[V3XY_SIG_MARK_LEN];
    unsigned char        mark_mac[V3XY_SIG_MAC_LEN];
    v3xy_sig_key_t       keys[4];
    v3xy_sig_mac_t       macs[4];
    v3xy_sig_header_t    h;
    v3xy_sig_delivery_t  d;

    assert_true(n <= 4);
    assert_int_equal(v3xy_sig_parse(U(header), strlen(header), &h),
                     V3XY_SIG_OK);

    for (i = 0; i < n; i++) {
        assert_int_equal(v3xy_sig_key_init(&keys[i], U(secrets[i]),
                                           strlen(secrets[i])), 0);
    }

    assert_int_equal(v3xy_sig_delivery_init(&d, macs, keys, n, U(t),
                                            strlen(t), with_mark), 0);
    assert_int_equal(d.n, n);
    assert_true((d.mark.ctx != NULL) == (with_mark != 0));

    for (off = 0; off < strlen(body); off += step) {
        step = 1 + rnd() % 17;
        if (step > strlen(body) - off) {
            step = strlen(body) - off;
        }

        assert_int_equal(v3xy_sig_delivery_update(&d, U(body) + off, step),
                         0);
    }

    rc = v3xy_sig_delivery_final(&d, &h, mac, mark);

    if (rc >= 0) {
        /* the MAC that matched is the one of that key */
        assert_true(v3xy_sig_match(&h, mac));
        assert_int_equal(v3xy_sig_hmac(U(secrets[rc]), strlen(secrets[rc]),
                                       U(t), strlen(t), U(body),
                                       strlen(body), mark_mac), 0);
        assert_memory_equal(mac, mark_mac, V3XY_SIG_MAC_LEN);
    }
    v3xy_sig_delivery_free(&d);
    v3xy_sig_delivery_free(&d);
    assert_int_equal(d.n, 0);
    assert_null(d.mark.ctx);

    if (with_mark && rc != -2) {
        to_hex(mark, mark_hex);
        mark_hex[V3XY_SIG_HEX_LEN] = '\0';
    }

    for (i = 0; i < n; i++) {
        v3xy_sig_key_free(&keys[i]);
    }

    return rc;
}


static void
delivery_mark_ignores_the_v1_values(void **state)
{
    char         m1[V3XY_SIG_HEX_LEN + 1], m2[V3XY_SIG_HEX_LEN + 1];
    char         m3[V3XY_SIG_HEX_LEN + 1], m4[V3XY_SIG_HEX_LEN + 1];
    const char  *rotating[] = { S2, S1 };
    const char  *current[] = { S1 };

    (void) state;

    /* a rotation: signed with both, then either alone: one mark */

    assert_int_equal(deliver("t=" T ",v1=" MAC_S2 ",v1=" MAC_S1, T, BODY,
                             rotating, 2, 1, m1), 0);
    assert_int_equal(deliver("t=" T ",v1=" MAC_S1, T, BODY, rotating, 2, 1,
                             m2), 1);
    assert_int_equal(deliver("t=" T ",v1=" MAC_S2, T, BODY, rotating, 2, 1,
                             m3), 0);
    assert_int_equal(deliver("t=" T ",v1=" HEX_A ",v1=" MAC_S1, T, BODY,
                             current, 1, 1, m4), 0);
    assert_string_equal(m1, MARK_BODY);
    assert_string_equal(m2, MARK_BODY);
    assert_string_equal(m3, MARK_BODY);
    assert_string_equal(m4, MARK_BODY);

    /* nothing matches: -1, and the mark is still the delivery's */

    assert_int_equal(deliver("t=" T ",v1=" HEX_A, T, BODY, rotating, 2, 1,
                             m1), -1);
    assert_string_equal(m1, MARK_BODY);

    /* another body or another t: another mark */

    assert_int_equal(deliver("t=" T ",v1=" MAC_S1_EMPTY, T, "", current, 1,
                             1, m1), 0);
    assert_string_equal(m1, MARK_EMPTY);
    assert_int_equal(deliver("t=" T ",v1=" MAC_S1, T, BODY " ", current, 1,
                             1, m2), -1);
    assert_string_not_equal(m2, MARK_BODY);
    assert_int_equal(deliver("t=1716400001,v1=" MAC_S1, "1716400001", BODY,
                             current, 1, 1, m3), -1);
    assert_string_not_equal(m3, MARK_BODY);
    assert_string_not_equal(m3, m2);

    /* no mark asked: the MACs alone */

    assert_int_equal(deliver("t=" T ",v1=" MAC_S1, T, BODY, rotating, 2, 0,
                             NULL), 1);
}


static void
delivery_misuse_fails_cleanly(void **state)
{
    unsigned char        mac[V3XY_SIG_MAC_LEN], mark[V3XY_SIG_MARK_LEN];
    v3xy_sig_key_t       keys[2];
    v3xy_sig_mac_t       macs[2];
    v3xy_sig_header_t    h;
    v3xy_sig_delivery_t  d;

    (void) state;

    assert_int_equal(parse_lit("t=" T ",v1=" MAC_S1, &h), V3XY_SIG_OK);
    assert_int_equal(v3xy_sig_key_init(&keys[0], U(S1), strlen(S1)), 0);
    assert_int_equal(v3xy_sig_key_init(&keys[1], U(""), 0), -1);

    /* no key at all, or a failed second key: -1, nothing left to free */

    assert_int_equal(v3xy_sig_delivery_init(&d, macs, keys, 0, U(T),
                                            strlen(T), 1), -1);
    assert_int_equal(v3xy_sig_delivery_init(&d, macs, keys, 2, U(T),
                                            strlen(T), 1), -1);
    assert_int_equal(d.n, 0);
    assert_null(d.mark.ctx);
    assert_null(macs[0].ctx);
    assert_int_equal(v3xy_sig_delivery_final(&d, &h, mac, mark), -2);
    v3xy_sig_delivery_free(&d);

    v3xy_sig_key_free(&keys[0]);
}


static void
misuse_fails_cleanly(void **state)
{
    unsigned char   out[V3XY_SIG_MAC_LEN];
    v3xy_sig_key_t  key;
    v3xy_sig_mac_t  mac;

    (void) state;

    /* an empty secret is refused, with nothing to free */
    key.md = (struct evp_md_st *) &key;
    assert_int_equal(v3xy_sig_key_init(&key, U(""), 0), -1);
    assert_null(key.md);
    assert_int_equal(v3xy_sig_hmac(U(""), 0, U(T), strlen(T), U(BODY),
                                   strlen(BODY), out), -1);

    /* a failed or freed key starts no MAC */
    assert_int_equal(v3xy_sig_mac_init(&mac, &key, U(T), strlen(T)), -1);
    assert_null(mac.ctx);

    /* a freed MAC takes nothing; frees are idempotent and NULL-safe */
    assert_int_equal(v3xy_sig_key_init(&key, U(S1), strlen(S1)), 0);
    assert_int_equal(v3xy_sig_mac_init(&mac, &key, U(T), strlen(T)), 0);
    v3xy_sig_mac_free(&mac);
    v3xy_sig_mac_free(&mac);
    assert_int_equal(v3xy_sig_mac_update(&mac, U(BODY), 1), -1);
    assert_int_equal(v3xy_sig_mac_final(&mac, out), -1);
    v3xy_sig_mac_free(NULL);

    v3xy_sig_key_free(&key);
    v3xy_sig_key_free(&key);
    v3xy_sig_key_free(NULL);
}


static void
parse_takes_t_and_v1(void **state)
{
    static const char   h[] = "t=" T ",v1=" MAC_S1;
    unsigned char       mac[V3XY_SIG_MAC_LEN];
    v3xy_sig_header_t   hdr;

    (void) state;

    assert_int_equal(v3xy_sig_parse(U(h), V3XY_LIT_LEN(h), &hdr),
                     V3XY_SIG_OK);
    assert_int_equal(hdr.t, 1716400000);
    assert_ptr_equal(hdr.t_str, U(h) + 2);
    v3xy_assert_buf_str(hdr.t_str, hdr.t_len, T);
    assert_int_equal(hdr.nv1, 1);

    hex_to_mac(MAC_S1, mac);
    assert_memory_equal(hdr.v1[0], mac, V3XY_SIG_MAC_LEN);
    assert_int_equal(v3xy_sig_match(&hdr, mac), 1);

    /* the order of the items does not matter */
    assert_int_equal(parse_lit("v1=" MAC_S1 ",t=" T, &hdr), V3XY_SIG_OK);
    assert_int_equal(hdr.t, 1716400000);
    assert_int_equal(v3xy_sig_match(&hdr, mac), 1);
}


/* n well-formed v1, the matching one at position at (-1: none) */
static void
match_among(size_t n, int at, int want)
{
    char               h[1024];
    size_t             i, len;
    unsigned char      mac[V3XY_SIG_MAC_LEN];
    v3xy_sig_header_t  hdr;

    len = (size_t) sprintf(h, "t=" T);

    for (i = 0; i < n; i++) {
        len += (size_t) sprintf(h + len, ",v1=%s",
                                (int) i == at ? MAC_S1
                                : i % 2 ? HEX_A : HEX_0);
    }

    assert_int_equal(v3xy_sig_parse(U(h), len, &hdr), V3XY_SIG_OK);
    assert_int_equal(hdr.nv1, n);

    hex_to_mac(MAC_S1, mac);
    assert_int_equal(v3xy_sig_match(&hdr, mac), want);
}


static void
match_finds_the_valid_v1_anywhere(void **state)
{
    int  at;

    (void) state;

    match_among(3, 0, 1);
    match_among(3, 1, 1);
    match_among(3, 2, 1);
    match_among(3, -1, 0);

    for (at = 0; at < V3XY_SIG_MAX_V1; at++) {
        match_among(V3XY_SIG_MAX_V1, at, 1);
    }

    match_among(V3XY_SIG_MAX_V1, -1, 0);
    match_among(1, -1, 0);
}


static void
match_needs_every_byte(void **state)
{
    int                i;
    unsigned char      mac[V3XY_SIG_MAC_LEN];
    v3xy_sig_header_t  hdr;

    (void) state;

    assert_int_equal(parse_lit("t=" T ",v1=" MAC_S1, &hdr), V3XY_SIG_OK);
    hex_to_mac(MAC_S1, mac);

    for (i = 0; i < V3XY_SIG_MAC_LEN; i++) {
        mac[i] ^= 0x01;
        assert_int_equal(v3xy_sig_match(&hdr, mac), 0);
        mac[i] ^= 0x81;
        assert_int_equal(v3xy_sig_match(&hdr, mac), 0);
        mac[i] ^= 0x80;
    }

    assert_int_equal(v3xy_sig_match(&hdr, mac), 1);

    /* nothing to compare with: no match */
    hdr.nv1 = 0;
    assert_int_equal(v3xy_sig_match(&hdr, mac), 0);
}


static void
unknown_schemes_are_ignored(void **state)
{
    unsigned char      mac[V3XY_SIG_MAC_LEN];
    v3xy_sig_header_t  hdr;

    (void) state;

    /* keys are case-sensitive: T and V1 are other schemes */
    assert_int_equal(parse_lit("v0=" MAC_S2 ",T=1,t=" T ",V1=" MAC_S2
                               ",v2=YWJj==,v1=" MAC_S1 ",x-y=,v10=" MAC_S2
                               ",t1=5,tt=6,!#$%&'*+-.^_`|~=z z,v=q",
                               &hdr),
                     V3XY_SIG_OK);
    assert_int_equal(hdr.t, 1716400000);
    assert_int_equal(hdr.nv1, 1);

    hex_to_mac(MAC_S1, mac);
    assert_int_equal(v3xy_sig_match(&hdr, mac), 1);
    hex_to_mac(MAC_S2, mac);
    assert_int_equal(v3xy_sig_match(&hdr, mac), 0);

    /* only other schemes: no t (it is looked for first) */
    assert_int_equal(parse_lit("v0=" MAC_S1, &hdr), V3XY_SIG_NO_T);
    assert_int_equal(parse_lit("T=" T ",V1=" MAC_S1, &hdr), V3XY_SIG_NO_T);
}


static void
t_may_have_leading_zeros(void **state)
{
    v3xy_sig_header_t  hdr;

    (void) state;

    assert_int_equal(parse_lit("t=0171640000,v1=" HEX_A, &hdr),
                     V3XY_SIG_OK);
    assert_int_equal(hdr.t, 171640000);
    v3xy_assert_buf_str(hdr.t_str, hdr.t_len, "0171640000");

    assert_int_equal(parse_lit("t=0,v1=" HEX_A, &hdr), V3XY_SIG_OK);
    assert_int_equal(hdr.t, 0);
    v3xy_assert_buf_str(hdr.t_str, hdr.t_len, "0");

    assert_int_equal(parse_lit("t=0000000000,v1=" HEX_A, &hdr),
                     V3XY_SIG_OK);
    assert_int_equal(hdr.t, 0);
    assert_int_equal(hdr.t_len, 10);

    assert_int_equal(parse_lit("t=0000000001,v1=" HEX_A, &hdr),
                     V3XY_SIG_OK);
    assert_int_equal(hdr.t, 1);

    /* zeros count as digits: 11 are too many */
    assert_int_equal(parse_lit("t=00000000001,v1=" HEX_A, &hdr),
                     V3XY_SIG_BAD_T);
    assert_int_equal(parse_lit("t=01716400000,v1=" HEX_A, &hdr),
                     V3XY_SIG_BAD_T);
}


static void
t_is_1_to_10_digits(void **state)
{
    v3xy_sig_header_t  hdr;

    (void) state;

    assert_int_equal(parse_lit("t=9999999999,v1=" HEX_A, &hdr),
                     V3XY_SIG_OK);
    assert_int_equal(hdr.t, 9999999999ULL);

    assert_int_equal(parse_lit("t=7,v1=" HEX_A, &hdr), V3XY_SIG_OK);
    assert_int_equal(hdr.t, 7);

    assert_int_equal(parse_lit("t=10000000000,v1=" HEX_A, &hdr),
                     V3XY_SIG_BAD_T);
    assert_int_equal(parse_lit("t=18446744073709551616,v1=" HEX_A, &hdr),
                     V3XY_SIG_BAD_T);
    assert_int_equal(parse_lit("t=99999999999999999999999999,v1=" HEX_A,
                               &hdr),
                     V3XY_SIG_BAD_T);
}


static void
t_that_is_not_digits_is_malformed(void **state)
{
    size_t             i;
    v3xy_sig_header_t  hdr;

    static const char  *bad[] = {
        "t=,v1=" HEX_A,
        "t=+1716400000,v1=" HEX_A,
        "t=-1,v1=" HEX_A,
        "t=1716400000.5,v1=" HEX_A,
        "t=1e9,v1=" HEX_A,
        "t=0x10,v1=" HEX_A,
        "t= 1716400000,v1=" HEX_A,
        "t=1716 400000,v1=" HEX_A,
        "t=1716400000=,v1=" HEX_A,
        "t=\xef\xbc\x91,v1=" HEX_A,         /* a full-width digit one */
        "t=171640000\x80,v1=" HEX_A,
        "v1=" HEX_A ",t="
    };

    (void) state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(v3xy_sig_parse(U(bad[i]), strlen(bad[i]), &hdr),
                         V3XY_SIG_BAD_T);
        assert_int_equal(hdr.nv1, 0);
    }

    /* a NUL is not a digit, and does not end the value */
    assert_int_equal(parse_lit("t=17\0" "6400000,v1=" HEX_A, &hdr),
                     V3XY_SIG_BAD_T);
}


static void
duplicate_t_is_malformed(void **state)
{
    v3xy_sig_header_t  hdr;

    (void) state;

    assert_int_equal(parse_lit("t=" T ",t=" T ",v1=" HEX_A, &hdr),
                     V3XY_SIG_DUP_T);
    assert_int_equal(hdr.nv1, 0);
    assert_int_equal(parse_lit("t=" T ",v1=" HEX_A ",t=1", &hdr),
                     V3XY_SIG_DUP_T);
    assert_int_equal(hdr.nv1, 0);

    /* found before the second t's value is looked at */
    assert_int_equal(parse_lit("t=1,t=x,v1=" HEX_A, &hdr), V3XY_SIG_DUP_T);

    /* the same v1 twice is just two v1 */
    assert_int_equal(parse_lit("t=1,v1=" HEX_A ",v1=" HEX_A, &hdr),
                     V3XY_SIG_OK);
    assert_int_equal(hdr.nv1, 2);
}


static void
missing_t_or_v1_is_malformed(void **state)
{
    v3xy_sig_header_t  hdr;

    (void) state;

    assert_int_equal(parse_lit("v1=" MAC_S1, &hdr), V3XY_SIG_NO_T);
    assert_int_equal(hdr.nv1, 0);
    assert_int_equal(parse_lit("t=" T, &hdr), V3XY_SIG_NO_V1);
    assert_int_equal(parse_lit("t=" T ",v0=" MAC_S1, &hdr), V3XY_SIG_NO_V1);

    /* neither: no t, reported first */
    assert_int_equal(parse_lit("x=1", &hdr), V3XY_SIG_NO_T);
}


static void
empty_header_is_empty(void **state)
{
    v3xy_sig_header_t  hdr;

    (void) state;

    assert_int_equal(v3xy_sig_parse(NULL, 0, &hdr), V3XY_SIG_EMPTY);
    assert_int_equal(hdr.nv1, 0);
    assert_int_equal(parse_lit("", &hdr), V3XY_SIG_EMPTY);
    assert_int_equal(parse_lit(" ", &hdr), V3XY_SIG_EMPTY);
    assert_int_equal(parse_lit("\t \t", &hdr), V3XY_SIG_EMPTY);
    assert_int_equal(parse_lit(",", &hdr), V3XY_SIG_EMPTY);
    assert_int_equal(parse_lit(" , \t,,", &hdr), V3XY_SIG_EMPTY);
}


static void
empty_values_and_items(void **state)
{
    v3xy_sig_header_t  hdr;

    (void) state;

    /* empty items are skipped, wherever they are */
    assert_int_equal(parse_lit(",t=" T ",,v1=" HEX_A ",", &hdr),
                     V3XY_SIG_OK);
    assert_int_equal(hdr.t, 1716400000);
    assert_int_equal(hdr.nv1, 1);
    assert_int_equal(parse_lit(",,,t=" T ", ,\t,v1=" HEX_A ",,,", &hdr),
                     V3XY_SIG_OK);

    /* empty values: t is malformed, v1 ill-formed, others ignored */
    assert_int_equal(parse_lit("t=,v1=" HEX_A, &hdr), V3XY_SIG_BAD_T);
    assert_int_equal(parse_lit("t=" T ",v1=", &hdr), V3XY_SIG_BAD_V1);
    assert_int_equal(parse_lit("t=" T ",v1=,v1=" HEX_A, &hdr),
                     V3XY_SIG_OK);
    assert_int_equal(hdr.nv1, 1);
    assert_int_equal(parse_lit("t=" T ",v1=" HEX_A ",v0=,x=", &hdr),
                     V3XY_SIG_OK);

    /* an empty key is no key */
    assert_int_equal(parse_lit("t=" T ",v1=" HEX_A ",=", &hdr),
                     V3XY_SIG_BAD_ITEM);
    assert_int_equal(parse_lit("=" T ",v1=" HEX_A, &hdr),
                     V3XY_SIG_BAD_ITEM);
}


static void
spaces_around_items_are_skipped(void **state)
{
    unsigned char      mac[V3XY_SIG_MAC_LEN];
    v3xy_sig_header_t  hdr;

    (void) state;

    assert_int_equal(parse_lit(" t=" T " , v1=" MAC_S1 "\t,\tv2=x y ",
                               &hdr),
                     V3XY_SIG_OK);
    v3xy_assert_buf_str(hdr.t_str, hdr.t_len, T);
    hex_to_mac(MAC_S1, mac);
    assert_int_equal(v3xy_sig_match(&hdr, mac), 1);

    assert_int_equal(parse_lit("  \t t=" T ",v1=" MAC_S1 " \t ", &hdr),
                     V3XY_SIG_OK);
    assert_int_equal(v3xy_sig_match(&hdr, mac), 1);
}


static void
spaces_around_equals_are_not(void **state)
{
    v3xy_sig_header_t  hdr;

    (void) state;

    /* before "=": the key is no token */
    assert_int_equal(parse_lit("t =" T ",v1=" HEX_A, &hdr),
                     V3XY_SIG_BAD_ITEM);
    assert_int_equal(parse_lit("t = " T ",v1=" HEX_A, &hdr),
                     V3XY_SIG_BAD_ITEM);
    assert_int_equal(parse_lit("t=" T ",v1 =" HEX_A, &hdr),
                     V3XY_SIG_BAD_ITEM);
    assert_int_equal(parse_lit("t=" T ",v1\t=" HEX_A, &hdr),
                     V3XY_SIG_BAD_ITEM);

    /* after "=": part of the value */
    assert_int_equal(parse_lit("t= " T ",v1=" HEX_A, &hdr), V3XY_SIG_BAD_T);
    assert_int_equal(parse_lit("t=" T ",v1= " HEX_A, &hdr),
                     V3XY_SIG_BAD_V1);
    assert_int_equal(parse_lit("t=" T ",v1= " HEX_A ",v1=" HEX_0, &hdr),
                     V3XY_SIG_OK);
    assert_int_equal(hdr.nv1, 1);

    /* other white space is no separator */
    assert_int_equal(parse_lit("t=" T ",\nv1=" HEX_A, &hdr),
                     V3XY_SIG_BAD_ITEM);
    assert_int_equal(parse_lit("t=" T ";v1=" HEX_A, &hdr), V3XY_SIG_BAD_T);
}


static void
items_that_are_not_key_value_are_malformed(void **state)
{
    v3xy_sig_header_t  hdr;

    (void) state;

    assert_int_equal(parse_lit("t=" T ",v1=" HEX_A ",junk", &hdr),
                     V3XY_SIG_BAD_ITEM);
    assert_int_equal(hdr.nv1, 0);
    assert_int_equal(parse_lit("t:" T ",v1=" HEX_A, &hdr),
                     V3XY_SIG_BAD_ITEM);
    assert_int_equal(parse_lit("t=" T ",a b=c,v1=" HEX_A, &hdr),
                     V3XY_SIG_BAD_ITEM);
    assert_int_equal(parse_lit("t=" T ",a\"=c,v1=" HEX_A, &hdr),
                     V3XY_SIG_BAD_ITEM);
    assert_int_equal(parse_lit("t=" T ",\xc3\xa9=c,v1=" HEX_A, &hdr),
                     V3XY_SIG_BAD_ITEM);
    assert_int_equal(parse_lit("t=" T ",a\0=c,v1=" HEX_A, &hdr),
                     V3XY_SIG_BAD_ITEM);
    assert_int_equal(parse_lit("t=" T ",v1=" HEX_A ",(v2)=x", &hdr),
                     V3XY_SIG_BAD_ITEM);

    /* the first problem from the left is the one reported */
    assert_int_equal(parse_lit("junk,t=x,t=y", &hdr), V3XY_SIG_BAD_ITEM);
    assert_int_equal(parse_lit("t=x,junk", &hdr), V3XY_SIG_BAD_T);
}


static void
v1_is_64_lower_case_hex_digits(void **state)
{
    char               h[256];
    size_t             i;
    unsigned char      mac[V3XY_SIG_MAC_LEN];
    v3xy_sig_header_t  hdr;

    static const char  *ill[] = {
        "DB2FEBD9C527C6A8FFBAE7E03AEADF7FEDDA6AF54D663EA1AAB14648F3EA2CF5",
        "Db2febd9c527c6a8ffbae7e03aeadf7fedda6af54d663ea1aab14648f3ea2cf5",
        "db2febd9c527c6a8ffbae7e03aeadf7fedda6af54d663ea1aab14648f3ea2cF5",
        "db2febd9c527c6a8ffbae7e03aeadf7fedda6af54d663ea1aab14648f3ea2cf",
        "db2febd9c527c6a8ffbae7e03aeadf7fedda6af54d663ea1aab14648f3ea2cf50",
        "db2febd9c527c6a8ffbae7e03aeadf7fedda6af54d663ea1aab14648f3ea2cg5",
        "db2febd9c527c6a8ffbae7e03aeadf7fedda6af54d663ea1aab14648f3ea2c f5",
        "0xdb2febd9c527c6a8ffbae7e03aeadf7fedda6af54d663ea1aab14648f3ea2c",
        "2y/r2cUnxqj/uufgOurff+3aavVNZj6hqrFGSPPqLPU=",
        "db2febd9c527c6a8ffbae7e03aeadf7fedda6af54d663ea1aab14648f3ea2cf5"
        "db2febd9c527c6a8ffbae7e03aeadf7fedda6af54d663ea1aab14648f3ea2cf5",
        ""
    };

    (void) state;

    hex_to_mac(MAC_S1, mac);

    for (i = 0; i < sizeof(ill) / sizeof(ill[0]); i++) {

        /* alone: no well-formed v1, malformed */
        sprintf(h, "t=" T ",v1=%s", ill[i]);
        assert_int_equal(v3xy_sig_parse(U(h), strlen(h), &hdr),
                         V3XY_SIG_BAD_V1);
        assert_int_equal(hdr.nv1, 0);

        /* next to a well-formed one, before or after: ignored */
        sprintf(h, "t=" T ",v1=%s,v1=" MAC_S1, ill[i]);
        assert_int_equal(v3xy_sig_parse(U(h), strlen(h), &hdr),
                         V3XY_SIG_OK);
        assert_int_equal(hdr.nv1, 1);
        assert_int_equal(v3xy_sig_match(&hdr, mac), 1);

        sprintf(h, "t=" T ",v1=" HEX_A ",v1=%s", ill[i]);
        assert_int_equal(v3xy_sig_parse(U(h), strlen(h), &hdr),
                         V3XY_SIG_OK);
        assert_int_equal(hdr.nv1, 1);
        assert_int_equal(v3xy_sig_match(&hdr, mac), 0);
    }

    /* every lower-case hex digit decodes */
    assert_int_equal(parse_lit("t=1,v1=0123456789abcdef0123456789abcdef"
                               "fedcba9876543210fedcba9876543210", &hdr),
                     V3XY_SIG_OK);
    assert_int_equal(hdr.v1[0][0], 0x01);
    assert_int_equal(hdr.v1[0][7], 0xef);
    assert_int_equal(hdr.v1[0][16], 0xfe);
    assert_int_equal(hdr.v1[0][31], 0x10);
}


static void
at_most_8_v1_items(void **state)
{
    char               h[4096];
    size_t             i, len;
    v3xy_sig_header_t  hdr;

    (void) state;

    /* 8 ill-formed and 1 well-formed: 9 items, too many */
    len = (size_t) sprintf(h, "t=" T ",v1=" HEX_A);

    for (i = 0; i < V3XY_SIG_MAX_V1; i++) {
        len += (size_t) sprintf(h + len, ",v1=X");
    }

    assert_int_equal(v3xy_sig_parse(U(h), len, &hdr),
                     V3XY_SIG_TOO_MANY_V1);
    assert_int_equal(hdr.nv1, 0);

    /* one fewer is fine */
    assert_int_equal(v3xy_sig_parse(U(h), len - 6, &hdr), V3XY_SIG_OK);
    assert_int_equal(hdr.nv1, 1);

    /* 9 well-formed */
    len = (size_t) sprintf(h, "t=" T);

    for (i = 0; i <= V3XY_SIG_MAX_V1; i++) {
        len += (size_t) sprintf(h + len, ",v1=" HEX_A);
    }

    assert_int_equal(v3xy_sig_parse(U(h), len, &hdr),
                     V3XY_SIG_TOO_MANY_V1);
    assert_int_equal(hdr.nv1, 0);

    /* other schemes do not count */
    len = (size_t) sprintf(h, "t=" T ",v1=" HEX_A);

    for (i = 0; i < 50; i++) {
        len += (size_t) sprintf(h + len, ",v2=" HEX_A);
    }

    assert_int_equal(v3xy_sig_parse(U(h), len, &hdr), V3XY_SIG_OK);
}


static void
header_is_at_most_8_kib(void **state)
{
    char               *h;
    unsigned char       mac[V3XY_SIG_MAC_LEN];
    v3xy_sig_header_t   hdr;

    (void) state;

    hex_to_mac(MAC_S1, mac);

    h = padded_header(V3XY_SIG_HEADER_MAX, MAC_S1);
    assert_int_equal(v3xy_sig_parse(U(h), V3XY_SIG_HEADER_MAX, &hdr),
                     V3XY_SIG_OK);
    assert_int_equal(v3xy_sig_match(&hdr, mac), 1);
    free(h);

    h = padded_header(V3XY_SIG_HEADER_MAX + 1, MAC_S1);
    assert_int_equal(v3xy_sig_parse(U(h), V3XY_SIG_HEADER_MAX + 1, &hdr),
                     V3XY_SIG_TOO_LONG);
    assert_int_equal(hdr.nv1, 0);
    free(h);

    h = padded_header(10 * 1024, MAC_S1);
    assert_int_equal(v3xy_sig_parse(U(h), 10 * 1024, &hdr),
                     V3XY_SIG_TOO_LONG);
    free(h);

    /* a whole 10 KiB of the worst: refused before it is looked at */
    h = malloc(10 * 1024);
    assert_non_null(h);
    memset(h, ',', 10 * 1024);
    assert_int_equal(v3xy_sig_parse(U(h), 10 * 1024, &hdr),
                     V3XY_SIG_TOO_LONG);
    free(h);
}


static void
large_headers_parse_in_one_pass(void **state)
{
    int                 i, r;
    char               *h;
    size_t              n;
    v3xy_sig_header_t   hdr;

    (void) state;

    h = malloc(V3XY_SIG_HEADER_MAX);
    assert_non_null(h);

    /*
     * Many tiny items, one huge item, one huge key, many spaces: each is
     * parsed in one pass; 10000 rounds of each would take minutes if any
     * were quadratic (8 KiB squared is 64 M steps a round).
     */

    for (r = 0; r < 4; r++) {

        switch (r) {
        case 0:
            for (n = 0; n + 4 <= V3XY_SIG_HEADER_MAX; n += 4) {
                memcpy(h + n, "a=b,", 4);
            }
            break;
        case 1:
            memcpy(h, "a=", 2);
            memset(h + 2, '=', V3XY_SIG_HEADER_MAX - 2);
            break;
        case 2:
            memset(h, 'k', V3XY_SIG_HEADER_MAX - 2);
            memcpy(h + V3XY_SIG_HEADER_MAX - 2, "=v", 2);
            break;
        default:
            memset(h, ' ', V3XY_SIG_HEADER_MAX);
            break;
        }

        for (i = 0; i < 10000; i++) {
            assert_int_not_equal(v3xy_sig_parse(U(h), V3XY_SIG_HEADER_MAX,
                                                &hdr),
                                 V3XY_SIG_OK);
        }
    }

    free(h);
}


static void
parse_reads_only_len_bytes(void **state)
{
    static const char   h[] = "t=" T ",v1=" MAC_S1 ",t=1,junk";
    size_t              len;
    v3xy_sig_header_t   hdr;

    (void) state;

    len = strlen("t=" T ",v1=" MAC_S1);

    assert_int_equal(v3xy_sig_parse(U(h), len, &hdr), V3XY_SIG_OK);
    assert_int_equal(v3xy_sig_parse(U(h), len + 1, &hdr), V3XY_SIG_OK);
    assert_int_equal(v3xy_sig_parse(U(h), len + 2, &hdr), V3XY_SIG_BAD_ITEM);
    assert_int_equal(v3xy_sig_parse(U(h), len + 4, &hdr), V3XY_SIG_DUP_T);

    /* a v1 cut short is ill-formed; a t cut short is another t */
    assert_int_equal(v3xy_sig_parse(U(h), len - 1, &hdr), V3XY_SIG_BAD_V1);
    assert_int_equal(v3xy_sig_parse(U(h), 5, &hdr), V3XY_SIG_NO_V1);
}


static void
failed_parse_leaves_nothing_to_match(void **state)
{
    unsigned char      mac[V3XY_SIG_MAC_LEN];
    v3xy_sig_header_t  hdr;

    (void) state;

    hex_to_mac(MAC_S1, mac);

    assert_int_equal(parse_lit("t=" T ",v1=" MAC_S1, &hdr), V3XY_SIG_OK);
    assert_int_equal(v3xy_sig_match(&hdr, mac), 1);

    assert_int_equal(parse_lit("t=" T ",v1=" MAC_S1 ",t=" T, &hdr),
                     V3XY_SIG_DUP_T);
    assert_int_equal(v3xy_sig_match(&hdr, mac), 0);

    assert_int_equal(parse_lit("v1=" MAC_S1, &hdr), V3XY_SIG_NO_T);
    assert_int_equal(v3xy_sig_match(&hdr, mac), 0);

    assert_int_equal(parse_lit("v1=" MAC_S1 ",t=" T ",!", &hdr),
                     V3XY_SIG_BAD_ITEM);
    assert_int_equal(v3xy_sig_match(&hdr, mac), 0);
}


static void
timestamp_tolerance_edges(void **state)
{
    uint64_t  now;

    (void) state;

    now = 1716400000;

    assert_int_equal(v3xy_sig_timestamp_ok(now, now, 300), 1);
    assert_int_equal(v3xy_sig_timestamp_ok(now - 300, now, 300), 1);
    assert_int_equal(v3xy_sig_timestamp_ok(now - 301, now, 300), 0);
    assert_int_equal(v3xy_sig_timestamp_ok(now + 300, now, 300), 1);
    assert_int_equal(v3xy_sig_timestamp_ok(now + 301, now, 300), 0);

    assert_int_equal(v3xy_sig_timestamp_ok(now, now, 0), 1);
    assert_int_equal(v3xy_sig_timestamp_ok(now - 1, now, 0), 0);
    assert_int_equal(v3xy_sig_timestamp_ok(now + 1, now, 0), 0);

    /* t = 0 */
    assert_int_equal(v3xy_sig_timestamp_ok(0, now, 300), 0);
    assert_int_equal(v3xy_sig_timestamp_ok(0, 0, 0), 1);
    assert_int_equal(v3xy_sig_timestamp_ok(0, 300, 300), 1);
    assert_int_equal(v3xy_sig_timestamp_ok(0, 301, 300), 0);
    assert_int_equal(v3xy_sig_timestamp_ok(0, now, now), 1);

    /* the largest t the parser gives, and beyond: no wrap-around */
    assert_int_equal(v3xy_sig_timestamp_ok(9999999999ULL, now, 300), 0);
    assert_int_equal(v3xy_sig_timestamp_ok(UINT64_MAX, now, 300), 0);
    assert_int_equal(v3xy_sig_timestamp_ok(UINT64_MAX, 0, UINT64_MAX - 1),
                     0);
    assert_int_equal(v3xy_sig_timestamp_ok(UINT64_MAX, 0, UINT64_MAX), 1);
    assert_int_equal(v3xy_sig_timestamp_ok(0, UINT64_MAX, UINT64_MAX - 1),
                     0);
    assert_int_equal(v3xy_sig_timestamp_ok(UINT64_MAX, UINT64_MAX, 0), 1);
    assert_int_equal(v3xy_sig_timestamp_ok(UINT64_MAX - 300, UINT64_MAX,
                                           300), 1);
    assert_int_equal(v3xy_sig_timestamp_ok(UINT64_MAX - 301, UINT64_MAX,
                                           300), 0);
    assert_int_equal(v3xy_sig_timestamp_ok(now, now + 1, UINT64_MAX), 1);
}


static void
status_texts_are_distinct_and_hold_no_input(void **state)
{
    int          i, j;
    const char  *text[V3XY_SIG_TOO_MANY_V1 + 1];

    (void) state;

    for (i = 0; i <= V3XY_SIG_TOO_MANY_V1; i++) {
        text[i] = v3xy_sig_status_text((v3xy_sig_status_e) i);
        assert_non_null(text[i]);
        assert_true(strlen(text[i]) > 10);
        assert_null(strchr(text[i], '%'));

        for (j = 0; j < i; j++) {
            assert_string_not_equal(text[i], text[j]);
        }
    }

    assert_non_null(v3xy_sig_status_text((v3xy_sig_status_e) 99));
}


/* what the nginx glue does: parse, check t, MAC per secret, match */
static int
verify(const char *header, const char *body, uint64_t now,
    const char **secrets, size_t nsecrets)
{
    int                ok;
    size_t             i, off, n, len;
    unsigned char      out[V3XY_SIG_MAC_LEN];
    v3xy_sig_key_t     keys[4];
    v3xy_sig_mac_t     macs[4];
    v3xy_sig_header_t  hdr;

    if (v3xy_sig_parse(U(header), strlen(header), &hdr) != V3XY_SIG_OK) {
        return -1;
    }

    if (!v3xy_sig_timestamp_ok(hdr.t, now, 300)) {
        return -2;
    }

    for (i = 0; i < nsecrets; i++) {
        assert_int_equal(v3xy_sig_key_init(&keys[i], U(secrets[i]),
                                           strlen(secrets[i])), 0);
        assert_int_equal(v3xy_sig_mac_init(&macs[i], &keys[i], hdr.t_str,
                                           hdr.t_len), 0);
    }

    len = strlen(body);

    for (off = 0; off < len; off += n) {
        n = len - off < 50 ? len - off : 50;

        for (i = 0; i < nsecrets; i++) {
            assert_int_equal(v3xy_sig_mac_update(&macs[i], U(body) + off, n),
                             0);
        }
    }

    ok = 0;

    for (i = 0; i < nsecrets; i++) {
        assert_int_equal(v3xy_sig_mac_final(&macs[i], out), 0);
        ok |= v3xy_sig_match(&hdr, out);
        v3xy_sig_mac_free(&macs[i]);
        v3xy_sig_key_free(&keys[i]);
    }

    return ok;
}


static void
verification_end_to_end(void **state)
{
    const char  *current[] = { S1 };
    const char  *rotated[] = { S2, S1 };
    const char  *wrong[] = { S2 };
    const char  *both_wrong[] = { S2, "whsec_other_secret_000000" };

    (void) state;

    assert_int_equal(verify("t=" T ",v1=" MAC_S1, BODY, 1716400000,
                            current, 1), 1);
    assert_int_equal(verify("t=" T ",v1=" MAC_S1, BODY, 1716400000,
                            rotated, 2), 1);
    assert_int_equal(verify("t=" T ",v1=" MAC_S2, BODY, 1716400000,
                            rotated, 2), 1);
    assert_int_equal(verify("t=" T ",v1=" MAC_S1, BODY, 1716400000,
                            wrong, 1), 0);
    assert_int_equal(verify("t=" T ",v1=" MAC_S1, BODY, 1716400000,
                            both_wrong, 2), 0);

    /* a sender that signs with both secrets during its own rotation */
    assert_int_equal(verify("t=" T ",v1=" MAC_S2 ",v1=" MAC_S1, BODY,
                            1716400000, wrong, 1), 1);

    /* tampered body, tampered t (same value, other digits) */
    assert_int_equal(verify("t=" T ",v1=" MAC_S1, BODY " ", 1716400000,
                            current, 1), 0);
    assert_int_equal(verify("t=" T ",v1=" MAC_S1, "", 1716400000,
                            current, 1), 0);
    assert_int_equal(verify("t=" T ",v1=" MAC_S1_EMPTY, "", 1716400000,
                            current, 1), 1);
    assert_int_equal(verify("t=0171640000,v1=" MAC_S1_LZ, BODY, 171640000,
                            current, 1), 1);
    assert_int_equal(verify("t=171640000,v1=" MAC_S1_LZ, BODY, 171640000,
                            current, 1), 0);
    assert_int_equal(verify("t=0171640000,v1=" MAC_S1_NOLZ, BODY,
                            171640000, current, 1), 0);

    /* stale and future */
    assert_int_equal(verify("t=" T ",v1=" MAC_S1, BODY, 1716400301,
                            current, 1), -2);
    assert_int_equal(verify("t=" T ",v1=" MAC_S1, BODY, 1716399699,
                            current, 1), -2);
    assert_int_equal(verify("t=" T ",v1=" MAC_S1, BODY, 1716400300,
                            current, 1), 1);

    /* malformed */
    assert_int_equal(verify("t=" T ",v1=" "DB2FEBD9C527C6A8FFBAE7E03AEADF7F"
                            "EDDA6AF54D663EA1AAB14648F3EA2CF5", BODY,
                            1716400000, current, 1), -1);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(hmac_matches_independent_vectors),
        cmocka_unit_test(mac_covers_t_exactly_as_sent),
        cmocka_unit_test(mac_is_the_same_in_any_pieces),
        cmocka_unit_test(empty_updates_change_nothing),
        cmocka_unit_test(two_secrets_are_fed_in_one_pass),
        cmocka_unit_test(key_is_wiped_when_freed),
        cmocka_unit_test(mark_is_sha256_of_t_and_body),
        cmocka_unit_test(delivery_mark_ignores_the_v1_values),
        cmocka_unit_test(delivery_misuse_fails_cleanly),
        cmocka_unit_test(misuse_fails_cleanly),
        cmocka_unit_test(parse_takes_t_and_v1),
        cmocka_unit_test(match_finds_the_valid_v1_anywhere),
        cmocka_unit_test(match_needs_every_byte),
        cmocka_unit_test(unknown_schemes_are_ignored),
        cmocka_unit_test(t_may_have_leading_zeros),
        cmocka_unit_test(t_is_1_to_10_digits),
        cmocka_unit_test(t_that_is_not_digits_is_malformed),
        cmocka_unit_test(duplicate_t_is_malformed),
        cmocka_unit_test(missing_t_or_v1_is_malformed),
        cmocka_unit_test(empty_header_is_empty),
        cmocka_unit_test(empty_values_and_items),
        cmocka_unit_test(spaces_around_items_are_skipped),
        cmocka_unit_test(spaces_around_equals_are_not),
        cmocka_unit_test(items_that_are_not_key_value_are_malformed),
        cmocka_unit_test(v1_is_64_lower_case_hex_digits),
        cmocka_unit_test(at_most_8_v1_items),
        cmocka_unit_test(header_is_at_most_8_kib),
        cmocka_unit_test(large_headers_parse_in_one_pass),
        cmocka_unit_test(parse_reads_only_len_bytes),
        cmocka_unit_test(failed_parse_leaves_nothing_to_match),
        cmocka_unit_test(timestamp_tolerance_edges),
        cmocka_unit_test(status_texts_are_distinct_and_hold_no_input),
        cmocka_unit_test(verification_end_to_end)
    };

    return cmocka_run_group_tests_name("v3xy_sig", tests, NULL, NULL);
}
