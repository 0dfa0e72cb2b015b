/*
 * v3xy_sig: the signature of a webhook delivery.
 */

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "v3xy_sig.h"


static int v3xy_sig_is_tchar(unsigned char c);
static int v3xy_sig_hex_value(unsigned char c);
static int v3xy_sig_parse_v1(const unsigned char *p, size_t len,
    unsigned char out[V3XY_SIG_MAC_LEN]);
static int v3xy_sig_keyed_init(EVP_MD_CTX *ctx, const v3xy_sig_key_t *key,
    unsigned char pad);


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
    key->md = NULL;
    memset(key->k, 0, V3XY_SIG_BLOCK_LEN);

    if (len == 0) {
        return -1;
    }

    key->md = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (key->md == NULL) {
        return -1;
    }

    /* RFC 2104: a key longer than a block is its digest */

    if (len <= V3XY_SIG_BLOCK_LEN) {
        memcpy(key->k, secret, len);

    } else if (EVP_Digest(secret, len, key->k, NULL, key->md, NULL) != 1) {
        v3xy_sig_key_free(key);
        return -1;
    }

    return 0;
}


void
v3xy_sig_key_free(v3xy_sig_key_t *key)
{
    if (key == NULL) {
        return;
    }

    OPENSSL_cleanse(key->k, V3XY_SIG_BLOCK_LEN);
    EVP_MD_free(key->md);
    key->md = NULL;
}


/* starts a hash over the key xor pad: HMAC's inner or outer hash */

static int
v3xy_sig_keyed_init(EVP_MD_CTX *ctx, const v3xy_sig_key_t *key,
    unsigned char pad)
{
    int            rc;
    size_t         i;
    unsigned char  block[V3XY_SIG_BLOCK_LEN];

    for (i = 0; i < V3XY_SIG_BLOCK_LEN; i++) {
        block[i] = key->k[i] ^ pad;
    }

    rc = (EVP_DigestInit_ex2(ctx, key->md, NULL) == 1
          && EVP_DigestUpdate(ctx, block, V3XY_SIG_BLOCK_LEN) == 1)
         ? 0 : -1;

    OPENSSL_cleanse(block, V3XY_SIG_BLOCK_LEN);

    return rc;
}


int
v3xy_sig_mac_init(v3xy_sig_mac_t *mac, const v3xy_sig_key_t *key,
    const unsigned char *t_str, size_t t_len)
{
    EVP_MD_CTX  *ctx;

    mac->ctx = NULL;
    mac->key = NULL;

    if (key->md == NULL) {
        return -1;
    }

    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        return -1;
    }

    if (v3xy_sig_keyed_init(ctx, key, 0x36) != 0
        || EVP_DigestUpdate(ctx, t_str, t_len) != 1
        || EVP_DigestUpdate(ctx, ".", 1) != 1)
    {
        EVP_MD_CTX_free(ctx);
        return -1;
    }

    mac->ctx = ctx;
    mac->key = key;

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

    return EVP_DigestUpdate(mac->ctx, p, len) == 1 ? 0 : -1;
}


int
v3xy_sig_mac_final(v3xy_sig_mac_t *mac, unsigned char out[V3XY_SIG_MAC_LEN])
{
    int            rc;
    unsigned int   len;
    unsigned char  inner[V3XY_SIG_MAC_LEN];

    if (mac->ctx == NULL) {
        return -1;
    }

    /* the outer hash in the same context: its state replaces the inner's */

    rc = (EVP_DigestFinal_ex(mac->ctx, inner, &len) == 1
          && len == V3XY_SIG_MAC_LEN
          && v3xy_sig_keyed_init(mac->ctx, mac->key, 0x5c) == 0
          && EVP_DigestUpdate(mac->ctx, inner, V3XY_SIG_MAC_LEN) == 1
          && EVP_DigestFinal_ex(mac->ctx, out, &len) == 1
          && len == V3XY_SIG_MAC_LEN)
         ? 0 : -1;

    OPENSSL_cleanse(inner, V3XY_SIG_MAC_LEN);

    return rc;
}


void
v3xy_sig_mac_free(v3xy_sig_mac_t *mac)
{
    if (mac == NULL) {
        return;
    }

    /* SHA-256's provider wipes its state when the context is freed */

    EVP_MD_CTX_free(mac->ctx);
    mac->ctx = NULL;
    mac->key = NULL;
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

    if (rc == 0) {
        rc = v3xy_sig_mac_update(&mac, body, len);
    }

    if (rc == 0) {
        rc = v3xy_sig_mac_final(&mac, out);
    }

    v3xy_sig_mac_free(&mac);
    v3xy_sig_key_free(&key);

    return rc;
}


int
v3xy_sig_mark_init(v3xy_sig_mark_t *mark, const v3xy_sig_key_t *key,
    const unsigned char *t_str, size_t t_len)
{
    EVP_MD_CTX  *ctx;

    mark->ctx = NULL;

    if (key->md == NULL) {
        return -1;
    }

    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        return -1;
    }

    if (EVP_DigestInit_ex2(ctx, key->md, NULL) != 1
        || EVP_DigestUpdate(ctx, t_str, t_len) != 1
        || EVP_DigestUpdate(ctx, ".", 1) != 1)
    {
        EVP_MD_CTX_free(ctx);
        return -1;
    }

    mark->ctx = ctx;

    return 0;
}


int
v3xy_sig_mark_update(v3xy_sig_mark_t *mark, const unsigned char *p,
    size_t len)
{
    if (mark->ctx == NULL) {
        return -1;
    }

    if (len == 0) {
        return 0;
    }

    return EVP_DigestUpdate(mark->ctx, p, len) == 1 ? 0 : -1;
}


int
v3xy_sig_mark_final(v3xy_sig_mark_t *mark,
    unsigned char out[V3XY_SIG_MARK_LEN])
{
    unsigned int  len;

    if (mark->ctx == NULL) {
        return -1;
    }

    if (EVP_DigestFinal_ex(mark->ctx, out, &len) != 1
        || len != V3XY_SIG_MARK_LEN)
    {
        return -1;
    }

    return 0;
}


void
v3xy_sig_mark_free(v3xy_sig_mark_t *mark)
{
    if (mark == NULL) {
        return;
    }

    EVP_MD_CTX_free(mark->ctx);
    mark->ctx = NULL;
}


int
v3xy_sig_delivery_init(v3xy_sig_delivery_t *d, v3xy_sig_mac_t *macs,
    const v3xy_sig_key_t *keys, size_t n, const unsigned char *t_str,
    size_t t_len, int mark)
{
    size_t  i;

    d->macs = macs;
    d->n = 0;
    d->mark.ctx = NULL;

    if (n == 0) {
        return -1;
    }

    for (i = 0; i < n; i++) {
        if (v3xy_sig_mac_init(&macs[i], &keys[i], t_str, t_len) != 0) {
            v3xy_sig_delivery_free(d);
            return -1;
        }

        d->n = i + 1;
    }

    if (mark && v3xy_sig_mark_init(&d->mark, &keys[0], t_str, t_len) != 0) {
        v3xy_sig_delivery_free(d);
        return -1;
    }

    return 0;
}


int
v3xy_sig_delivery_update(v3xy_sig_delivery_t *d, const unsigned char *p,
    size_t len)
{
    size_t  i;

    for (i = 0; i < d->n; i++) {
        if (v3xy_sig_mac_update(&d->macs[i], p, len) != 0) {
            return -1;
        }
    }

    if (d->mark.ctx && v3xy_sig_mark_update(&d->mark, p, len) != 0) {
        return -1;
    }

    return 0;
}


int
v3xy_sig_delivery_final(v3xy_sig_delivery_t *d, const v3xy_sig_header_t *h,
    unsigned char mac[V3XY_SIG_MAC_LEN], unsigned char mark[V3XY_SIG_MARK_LEN])
{
    int            found;
    size_t         i;
    unsigned char  out[V3XY_SIG_MAC_LEN];

    if (d->n == 0) {
        return -2;
    }

    found = -1;

    for (i = 0; i < d->n; i++) {
        if (v3xy_sig_mac_final(&d->macs[i], out) != 0) {
            return -2;
        }

        if (found == -1 && v3xy_sig_match(h, out)) {
            found = (int) i;
            memcpy(mac, out, V3XY_SIG_MAC_LEN);
        }
    }

    if (d->mark.ctx && v3xy_sig_mark_final(&d->mark, mark) != 0) {
        return -2;
    }

    return found;
}


void
v3xy_sig_delivery_free(v3xy_sig_delivery_t *d)
{
    size_t  i;

    for (i = 0; i < d->n; i++) {
        v3xy_sig_mac_free(&d->macs[i]);
    }

    d->n = 0;
    v3xy_sig_mark_free(&d->mark);
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
