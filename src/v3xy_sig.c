/*
 * v3xy_sig: the signature of a webhook delivery.
 */

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "v3xy_sig.h"


static int v3xy_sig_is_tchar(unsigned char c);
static int v3xy_sig_hex_value(unsigned char c);
static int v3xy_sig_parse_v1(const unsigned char *p, size_t len,
    unsigned char out[V3XY_SIG_MAC_LEN]);


v3xy_sig_status_e
v3xy_sig_parse(const unsigned char *h, size_t len, v3xy_sig_header_t *out)
{
    size_t                i, nitems, nv1_items;
    uint64_t              t;
    const unsigned char  *p, *end, *s, *e, *eq, *val;

    out->nv1 = 0;

    if (len > V3XY_SIG_HEADER_MAX) {
        return V3XY_SIG_TOO_LONG;
    }

    if (len == 0) {
        return V3XY_SIG_EMPTY;
    }

    out->t = 0;
    out->t_str = NULL;
    out->t_len = 0;

    nitems = 0;
    nv1_items = 0;

    p = h;
    end = h + len;

    for ( ;; ) {

        /* the item is s[0..e), without the spaces and tabs around it */

        e = memchr(p, ',', (size_t) (end - p));
        if (e == NULL) {
            e = end;
        }

        s = p;
        p = e;

        while (s < e && (*s == ' ' || *s == '\t')) {
            s++;
        }

        while (e > s && (e[-1] == ' ' || e[-1] == '\t')) {
            e--;
        }

        if (s == e) {
            goto next;
        }

        nitems++;

        eq = memchr(s, '=', (size_t) (e - s));
        if (eq == NULL || eq == s) {
            goto bad_item;
        }

        for (i = 0; s + i < eq; i++) {
            if (!v3xy_sig_is_tchar(s[i])) {
                goto bad_item;
            }
        }

        val = eq + 1;

        if (eq - s == 1 && s[0] == 't') {

            if (out->t_str != NULL) {
                out->nv1 = 0;
                return V3XY_SIG_DUP_T;
            }

            if (val == e || e - val > V3XY_SIG_T_MAX_LEN) {
                goto bad_t;
            }

            t = 0;

            for (i = 0; val + i < e; i++) {
                if (val[i] < '0' || val[i] > '9') {
                    goto bad_t;
                }

                t = t * 10 + (uint64_t) (val[i] - '0');
            }

            out->t = t;
            out->t_str = val;
            out->t_len = (size_t) (e - val);

        } else if (eq - s == 2 && s[0] == 'v' && s[1] == '1') {

            if (++nv1_items > V3XY_SIG_MAX_V1) {
                out->nv1 = 0;
                return V3XY_SIG_TOO_MANY_V1;
            }

            if (v3xy_sig_parse_v1(val, (size_t) (e - val), out->v1[out->nv1])
                == 0)
            {
                out->nv1++;
            }
        }

        /* any other scheme is ignored */

    next:

        if (p == end) {
            break;
        }

        p++;
    }

    if (nitems == 0) {
        return V3XY_SIG_EMPTY;
    }

    if (out->t_str == NULL) {
        out->nv1 = 0;
        return V3XY_SIG_NO_T;
    }

    if (nv1_items == 0) {
        return V3XY_SIG_NO_V1;
    }

    if (out->nv1 == 0) {
        return V3XY_SIG_BAD_V1;
    }

    return V3XY_SIG_OK;

bad_item:

    out->nv1 = 0;
    return V3XY_SIG_BAD_ITEM;

bad_t:

    out->nv1 = 0;
    return V3XY_SIG_BAD_T;
}


static int
v3xy_sig_is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
        || (c >= '0' && c <= '9'))
    {
        return 1;
    }

    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}


static int
v3xy_sig_hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}


static int
v3xy_sig_parse_v1(const unsigned char *p, size_t len,
    unsigned char out[V3XY_SIG_MAC_LEN])
{
    int     hi, lo;
    size_t  i;

    if (len != V3XY_SIG_HEX_LEN) {
        return -1;
    }

    for (i = 0; i < V3XY_SIG_MAC_LEN; i++) {
        hi = v3xy_sig_hex_value(p[2 * i]);
        lo = v3xy_sig_hex_value(p[2 * i + 1]);

        if (hi < 0 || lo < 0) {
            return -1;
        }

        out[i] = (unsigned char) (hi << 4 | lo);
    }

    return 0;
}


const char *
v3xy_sig_status_text(v3xy_sig_status_e status)
{
    switch (status) {

    case V3XY_SIG_OK:
        return "The X-V3XY-Signature header is well-formed.";

    case V3XY_SIG_EMPTY:
        return "The X-V3XY-Signature header is empty.";

    case V3XY_SIG_TOO_LONG:
        return "The X-V3XY-Signature header is longer than 8192 bytes.";

    case V3XY_SIG_BAD_ITEM:
        return "The X-V3XY-Signature header has an item that is not "
               "key=value.";

    case V3XY_SIG_NO_T:
        return "The X-V3XY-Signature header has no t= timestamp.";

    case V3XY_SIG_DUP_T:
        return "The X-V3XY-Signature header has more than one t= "
               "timestamp.";

    case V3XY_SIG_BAD_T:
        return "The t= timestamp of the X-V3XY-Signature header is not "
               "1 to 10 decimal digits.";

    case V3XY_SIG_NO_V1:
        return "The X-V3XY-Signature header has no v1= signature.";

    case V3XY_SIG_BAD_V1:
        return "No v1= signature of the X-V3XY-Signature header is 64 "
               "lower-case hex digits.";

    case V3XY_SIG_TOO_MANY_V1:
        return "The X-V3XY-Signature header has more than 8 v1= "
               "signatures.";
    }

    return "The X-V3XY-Signature header is malformed.";
}


int
v3xy_sig_timestamp_ok(uint64_t t, uint64_t now, uint64_t tolerance)
{
    if (t <= now) {
        return now - t <= tolerance;
    }

    return t - now <= tolerance;
}


int
v3xy_sig_key_init(v3xy_sig_key_t *key, const unsigned char *secret,
    size_t len)
{
    EVP_MAC      *hmac;
    OSSL_PARAM    params[2];
    EVP_MAC_CTX  *ctx;

    key->ctx = NULL;

    if (len == 0) {
        return -1;
    }

    hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (hmac == NULL) {
        return -1;
    }

    /* the context holds a reference to the fetched method */

    ctx = EVP_MAC_CTX_new(hmac);
    EVP_MAC_free(hmac);

    if (ctx == NULL) {
        return -1;
    }

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 (char *) "SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();

    if (EVP_MAC_init(ctx, secret, len, params) != 1) {
        EVP_MAC_CTX_free(ctx);
        return -1;
    }

    key->ctx = ctx;

    return 0;
}


void
v3xy_sig_key_free(v3xy_sig_key_t *key)
{
    if (key == NULL) {
        return;
    }

    /* HMAC's free wipes the key and the digest states */

    EVP_MAC_CTX_free(key->ctx);
    key->ctx = NULL;
}


int
v3xy_sig_mac_init(v3xy_sig_mac_t *mac, const v3xy_sig_key_t *key,
    const unsigned char *t_str, size_t t_len)
{
    EVP_MAC_CTX  *ctx;

    mac->ctx = NULL;

    if (key->ctx == NULL) {
        return -1;
    }

    /* a copy of the keyed state: no key schedule, no fetch per request */

    ctx = EVP_MAC_CTX_dup(key->ctx);
    if (ctx == NULL) {
        return -1;
    }

    if (EVP_MAC_update(ctx, t_str, t_len) != 1
        || EVP_MAC_update(ctx, (const unsigned char *) ".", 1) != 1)
    {
        EVP_MAC_CTX_free(ctx);
        return -1;
    }

    mac->ctx = ctx;

    return 0;
}


int
v3xy_sig_mac_update(v3xy_sig_mac_t *mac, const unsigned char *p, size_t len)
{
    if (mac->ctx == NULL) {
        return -1;
    }

    if (len == 0) {
        return 0;
    }

    return EVP_MAC_update(mac->ctx, p, len) == 1 ? 0 : -1;
}


int
v3xy_sig_mac_final(v3xy_sig_mac_t *mac, unsigned char out[V3XY_SIG_MAC_LEN])
{
    size_t  len;

    if (mac->ctx == NULL) {
        return -1;
    }

    if (EVP_MAC_final(mac->ctx, out, &len, V3XY_SIG_MAC_LEN) != 1
        || len != V3XY_SIG_MAC_LEN)
    {
        return -1;
    }

    return 0;
}


void
v3xy_sig_mac_free(v3xy_sig_mac_t *mac)
{
    if (mac == NULL) {
        return;
    }

    EVP_MAC_CTX_free(mac->ctx);
    mac->ctx = NULL;
}


int
v3xy_sig_hmac(const unsigned char *secret, size_t secret_len,
    const unsigned char *t_str, size_t t_len, const unsigned char *body,
    size_t len, unsigned char out[V3XY_SIG_MAC_LEN])
{
    int             rc;
    v3xy_sig_key_t  key;
    v3xy_sig_mac_t  mac;

    if (v3xy_sig_key_init(&key, secret, secret_len) != 0) {
        return -1;
    }

    rc = v3xy_sig_mac_init(&mac, &key, t_str, t_len);

    v3xy_sig_key_free(&key);

    if (rc != 0) {
        return -1;
    }

    rc = v3xy_sig_mac_update(&mac, body, len);

    if (rc == 0) {
        rc = v3xy_sig_mac_final(&mac, out);
    }

    v3xy_sig_mac_free(&mac);

    return rc;
}


int
v3xy_sig_match(const v3xy_sig_header_t *h,
    const unsigned char mac[V3XY_SIG_MAC_LEN])
{
    int     found;
    size_t  i, n;

    n = h->nv1 < V3XY_SIG_MAX_V1 ? h->nv1 : V3XY_SIG_MAX_V1;
    found = 0;

    /* no early exit: every v1 is compared, whichever one matches */

    for (i = 0; i < n; i++) {
        found |= CRYPTO_memcmp(h->v1[i], mac, V3XY_SIG_MAC_LEN) == 0;
    }

    return found;
}
