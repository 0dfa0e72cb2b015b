/*
 * libFuzzer target for src/v3xy_sig.c: the header parser, the MAC fed in
 * pieces and the match, under a fixed secret.
 *
 * Input: the header value, then optionally "\n" and the body.  Besides
 * the sanitizers' findings, it aborts when a promise of v3xy_sig.h is
 * broken:
 *   - the status, t and the number of well-formed v1 are those of a
 *     naive parser written from the header file's comment, index by index;
 *   - OK gives t of 1 to 10 digits inside the input, whose value is t,
 *     and 1 to 8 well-formed v1; any other status leaves nv1 at 0;
 *   - the canonical header rebuilt from an OK parse parses to the same;
 *   - the MAC is the same fed whole or in pieces cut by the input;
 *   - match is "some v1 is the MAC" (the seeds hold real signatures
 *     under the fixed secret), also once the MAC is put among the v1;
 *   - the timestamp check is symmetric.
 *
 * Built and run by "make fuzz" (FUZZ_SECONDS=60), on a copy of the seed
 * corpus tests/fuzz/sig/ in build/fuzz/sig.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "v3xy_sig.h"


#define FUZZ_SECRET  "v3xy-fuzz-secret"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static v3xy_sig_key_t  key;


static void
check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_sig: broken: %s\n", what);
        abort();
    }
}


static int
ref_is_tchar(uint8_t c)
{
    static const char  tchars[] = "!#$%&'*+-.^_`|~0123456789"
                                  "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                  "abcdefghijklmnopqrstuvwxyz";

    return memchr(tchars, c, sizeof(tchars) - 1) != NULL;
}


/* the header file's comment, read literally */
static v3xy_sig_status_e
ref_parse(const uint8_t *h, size_t len, uint64_t *t, size_t *nv1)
{
    int     have_t;
    size_t  i, k, a, b, v, start, items, v1_items;

    *t = 0;
    *nv1 = 0;

    if (len > 8192) {
        return V3XY_SIG_TOO_LONG;
    }

    have_t = 0;
    items = 0;
    v1_items = 0;
    start = 0;

    for (i = 0; i <= len; i++) {
        if (i < len && h[i] != ',') {
            continue;
        }

        a = start;
        b = i;
        start = i + 1;

        while (a < b && (h[a] == ' ' || h[a] == '\t')) {
            a++;
        }

        while (b > a && (h[b - 1] == ' ' || h[b - 1] == '\t')) {
            b--;
        }

        if (a == b) {
            continue;
        }

        items++;

        for (k = a; k < b && h[k] != '='; k++) {
            if (!ref_is_tchar(h[k])) {
                return V3XY_SIG_BAD_ITEM;
            }
        }

        if (k == b || k == a) {
            return V3XY_SIG_BAD_ITEM;
        }

        v = k + 1;

        if (k - a == 1 && h[a] == 't') {
            if (have_t) {
                return V3XY_SIG_DUP_T;
            }

            if (b - v < 1 || b - v > 10) {
                return V3XY_SIG_BAD_T;
            }

            for (k = v; k < b; k++) {
                if (h[k] < '0' || h[k] > '9') {
                    return V3XY_SIG_BAD_T;
                }

                *t = *t * 10 + (uint64_t) (h[k] - '0');
            }

            have_t = 1;

        } else if (k - a == 2 && h[a] == 'v' && h[a + 1] == '1') {
            if (++v1_items > 8) {
                return V3XY_SIG_TOO_MANY_V1;
            }

            if (b - v != 64) {
                continue;
            }

            for (k = v; k < b; k++) {
                if (memchr("0123456789abcdef", h[k], 16) == NULL) {
                    break;
                }
            }

            if (k == b) {
                (*nv1)++;
            }
        }
    }

    if (items == 0) {
        return V3XY_SIG_EMPTY;
    }

    if (!have_t) {
        return V3XY_SIG_NO_T;
    }

    if (v1_items == 0) {
        return V3XY_SIG_NO_V1;
    }

    if (*nv1 == 0) {
        return V3XY_SIG_BAD_V1;
    }

    return V3XY_SIG_OK;
}


static int
naive_match(const v3xy_sig_header_t *hdr, const unsigned char *mac)
{
    size_t  i;

    for (i = 0; i < hdr->nv1; i++) {
        if (memcmp(hdr->v1[i], mac, V3XY_SIG_MAC_LEN) == 0) {
            return 1;
        }
    }

    return 0;
}


static void
check_parse(const uint8_t *h, size_t len, v3xy_sig_status_e rc,
    const v3xy_sig_header_t *hdr)
{
    char               canon[32 + V3XY_SIG_MAX_V1 * (4 + V3XY_SIG_HEX_LEN)];
    size_t             i, j, n;
    uint64_t           t;
    v3xy_sig_header_t  again;

    if (rc != V3XY_SIG_OK) {
        check(hdr->nv1 == 0, "nv1 is 0 after a failure");
        return;
    }

    check(len <= V3XY_SIG_HEADER_MAX, "at most 8 KiB");
    check(hdr->nv1 >= 1 && hdr->nv1 <= V3XY_SIG_MAX_V1, "1 to 8 v1");
    check(hdr->t_len >= 1 && hdr->t_len <= V3XY_SIG_T_MAX_LEN,
          "t of 1 to 10 digits");
    check(hdr->t_str >= h && hdr->t_str + hdr->t_len <= h + len,
          "t inside the header");

    t = 0;

    for (i = 0; i < hdr->t_len; i++) {
        check(hdr->t_str[i] >= '0' && hdr->t_str[i] <= '9', "t is digits");
        t = t * 10 + (uint64_t) (hdr->t_str[i] - '0');
    }

    check(t == hdr->t, "t's value");

    n = (size_t) sprintf(canon, "t=%.*s", (int) hdr->t_len,
                         (const char *) hdr->t_str);

    for (i = 0; i < hdr->nv1; i++) {
        n += (size_t) sprintf(canon + n, ",v1=");

        for (j = 0; j < V3XY_SIG_MAC_LEN; j++) {
            n += (size_t) sprintf(canon + n, "%02x", hdr->v1[i][j]);
        }
    }

    check(v3xy_sig_parse((const unsigned char *) canon, n, &again)
          == V3XY_SIG_OK, "the canonical header parses");
    check(again.t == hdr->t && again.nv1 == hdr->nv1
          && memcmp(again.v1, hdr->v1, hdr->nv1 * V3XY_SIG_MAC_LEN) == 0,
          "the canonical header parses to the same");
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t              hlen, blen, off, n, ref_nv1;
    uint8_t            *h;
    uint64_t            now, ref_t;
    const uint8_t      *nl, *body;
    unsigned char       whole[V3XY_SIG_MAC_LEN], pieces[V3XY_SIG_MAC_LEN];
    v3xy_sig_mac_t      mac;
    v3xy_sig_header_t   hdr;
    v3xy_sig_status_e   rc;

    if (key.md == NULL) {
        check(v3xy_sig_key_init(&key, (const unsigned char *) FUZZ_SECRET,
                                sizeof(FUZZ_SECRET) - 1) == 0, "key init");
    }

    nl = memchr(data, '\n', size);
    hlen = nl ? (size_t) (nl - data) : size;
    body = nl ? nl + 1 : data + size;
    blen = nl ? size - hlen - 1 : 0;

    /* a copy of its own size: ASan sees any read past the header */

    h = malloc(hlen ? hlen : 1);
    check(h != NULL, "memory");
    memcpy(h, data, hlen);

    rc = v3xy_sig_parse(hlen ? h : NULL, hlen, &hdr);

    check(v3xy_sig_status_text(rc) != NULL, "a status text");
    check(ref_parse(h, hlen, &ref_t, &ref_nv1) == rc, "the naive status");
    check(rc != V3XY_SIG_OK || (ref_t == hdr.t && ref_nv1 == hdr.nv1),
          "the naive t and v1");
    check_parse(h, hlen, rc, &hdr);

    if (rc != V3XY_SIG_OK) {
        free(h);
        return 0;
    }

    now = 1716400000;
    check(v3xy_sig_timestamp_ok(hdr.t, now, 300)
          == v3xy_sig_timestamp_ok(now, hdr.t, 300), "symmetric tolerance");

    check(v3xy_sig_hmac((const unsigned char *) FUZZ_SECRET,
                        sizeof(FUZZ_SECRET) - 1, hdr.t_str, hdr.t_len,
                        body, blen, whole) == 0, "one-shot MAC");

    /* pieces cut by the body's own bytes: 1 to 64 bytes, some empty */

    check(v3xy_sig_mac_init(&mac, &key, hdr.t_str, hdr.t_len) == 0,
          "MAC init");

    for (off = 0; off < blen; off += n) {
        n = body[off] % 65;
        n = n > blen - off ? blen - off : n;

        check(v3xy_sig_mac_update(&mac, body + off, n) == 0, "MAC update");

        if (n == 0) {
            n = 1;
            check(v3xy_sig_mac_update(&mac, body + off, 1) == 0,
                  "MAC update");
        }
    }

    check(v3xy_sig_mac_final(&mac, pieces) == 0, "MAC final");
    v3xy_sig_mac_free(&mac);

    check(memcmp(whole, pieces, V3XY_SIG_MAC_LEN) == 0,
          "the same MAC in pieces");

    /* match is "one of the v1 is the MAC" (the seeds hold real ones) */

    check(v3xy_sig_match(&hdr, whole) == naive_match(&hdr, whole),
          "match of the MAC");

    memcpy(hdr.v1[hdr.nv1 - 1], whole, V3XY_SIG_MAC_LEN);
    check(v3xy_sig_match(&hdr, whole) == 1, "match finds the MAC");

    whole[hdr.t % V3XY_SIG_MAC_LEN] ^= 0x80;
    check(v3xy_sig_match(&hdr, whole) == naive_match(&hdr, whole),
          "match of another MAC");

    free(h);

    return 0;
}
