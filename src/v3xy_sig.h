/*
 * v3xy_sig: the signature of a webhook delivery.
 *
 *     X-V3XY-Signature: t=<unix>,v1=<hmac_hex>[,v1=<hex>...][,k=<v>...]
 *     v1 = lower-case hex of HMAC-SHA256(webhook_secret, "<t>.<raw_body>")
 *
 * The header value, as parsed by v3xy_sig_parse():
 *
 *   - At most V3XY_SIG_HEADER_MAX bytes (8 KiB, nginx's default for a
 *     whole header line): a longer value is refused (TOO_LONG) before it
 *     is looked at.  A legitimate header is about 100 bytes; parsing is
 *     one pass over the value in any case, never quadratic.
 *   - Items separated by ",".  Spaces and tabs around an item (that is,
 *     around the commas and at both ends) are skipped, and empty items
 *     ("t=1,,v1=..", a trailing ",") are ignored, as RFC 9110 lists allow.
 *     A value with no item at all ("", " , ") is EMPTY.
 *   - An item is key "=" value, split at its first "=": the key is one or
 *     more token characters (RFC 9110: A-Z a-z 0-9 !#$%&'*+-.^_`|~),
 *     compared case-sensitively, with nothing around the "=" ("t =1" has
 *     the key "t ", which is no token).  An item with no "=" or whose key
 *     is empty or not a token is BAD_ITEM.  The value is every byte up to
 *     the next comma (spaces before that comma aside); it may be empty.
 *   - "t": exactly once (a second one is DUP_T: which one would the MAC
 *     cover?), none is NO_T.  Its value is 1 to 10 decimal digits, nothing
 *     else (no sign, no space, no fraction), else BAD_T.  Leading zeros
 *     are accepted and count as digits: the MAC covers t exactly as sent,
 *     so "0171640000" is another string to sign than "171640000", and
 *     accepting it lets no one forge anything.  10 digits reach the year
 *     2286 and keep t far from overflow.
 *   - "v1": at most V3XY_SIG_MAX_V1 (8) v1 items of any form, else
 *     TOO_MANY_V1 (it bounds the work per request).  A v1 of exactly 64
 *     lower-case hex digits is well-formed and kept; any other v1 (upper
 *     case, 63 or 65 digits, not hex, empty) is ignored, as if it were
 *     another scheme, so that a sender may add forms later.  No v1 item at
 *     all is NO_V1; v1 items of which none is well-formed is BAD_V1.
 *   - Any other key (v0, v2, T, V1, ...) is ignored, whatever its value.
 * The first problem found from left to right is reported; NO_T, NO_V1 and
 * BAD_V1 are only known at the end, and are checked in this order.
 *
 * The timestamp: v3xy_sig_timestamp_ok() accepts t iff |now - t| is at
 * most the tolerance, in the past or the future, without overflow.
 *
 * The MAC: a key (the secret as HMAC uses it, prepared once, at
 * configuration load, in memory of the caller's) is the start of any number
 * of MACs, each of which takes "<t>." at init and then the body in any
 * number of pieces, so that one pass over the body may feed the MACs of
 * several secrets.  HMAC-SHA256 is made here of SHA-256 (EVP_MD, fetched
 * once per key) rather than of OpenSSL's HMAC, whose keyed context keeps a
 * copy of the key and its padded states in OpenSSL's heap for as long as
 * the key lives: here the key exists only where the caller put it (the
 * module's secret pages, left out of core dumps), and a MAC's states only
 * for the request, in a context that OpenSSL wipes when it is freed.
 * Measured per 1 KiB delivery (one secret, this machine's OpenSSL 3.0 with
 * SHA-NI): 0.95 us, against 1.13 us for a copy of OpenSSL's keyed HMAC
 * context (what the key was before) and 1.57 us for a new HMAC context
 * per request keyed from the secret page (as hygienic, but slower):
 * the two block hashes of the key per request cost less than OpenSSL's
 * copies of its nested contexts.
 * v3xy_sig_match() compares a MAC with every well-formed v1 in constant
 * time (CRYPTO_memcmp, no early exit).
 *
 * The mark of a delivery: SHA-256 over "<t>.<body>", what the replay guard
 * remembers.  It depends on the delivery only (its timestamp and body), not
 * on the v1 values that came with it nor on the secret that matched: a
 * delivery sent again with any subset of its v1 values has the same mark.
 *
 * A delivery (v3xy_sig_delivery_*) is all of that in one pass: the MAC
 * under each of the keys and, when asked, the mark, fed the same pieces.
 *
 * nginx-free: C99 and OpenSSL 3 (EVP_MD SHA-256) only.
 */

#ifndef V3XY_SIG_H
#define V3XY_SIG_H

#include <stddef.h>
#include <stdint.h>


#define V3XY_SIG_HEADER_MAX   8192
#define V3XY_SIG_MAX_V1       8
#define V3XY_SIG_T_MAX_LEN    10
#define V3XY_SIG_MAC_LEN      32
#define V3XY_SIG_HEX_LEN      (2 * V3XY_SIG_MAC_LEN)


typedef enum {
    V3XY_SIG_OK = 0,
    V3XY_SIG_EMPTY,             /* no item at all */
    V3XY_SIG_TOO_LONG,          /* over V3XY_SIG_HEADER_MAX bytes */
    V3XY_SIG_BAD_ITEM,          /* an item that is not token=value */
    V3XY_SIG_NO_T,
    V3XY_SIG_DUP_T,
    V3XY_SIG_BAD_T,             /* not 1 to 10 decimal digits */
    V3XY_SIG_NO_V1,
    V3XY_SIG_BAD_V1,            /* no v1 of 64 lower-case hex digits */
    V3XY_SIG_TOO_MANY_V1        /* over V3XY_SIG_MAX_V1 v1 items */
} v3xy_sig_status_e;


typedef struct {
    uint64_t              t;
    const unsigned char  *t_str;    /* the digits as sent, inside the */
    size_t                t_len;    /* parsed value: the MAC covers them */
    size_t                nv1;      /* well-formed v1, in header order */
    unsigned char         v1[V3XY_SIG_MAX_V1][V3XY_SIG_MAC_LEN];
} v3xy_sig_header_t;


#define V3XY_SIG_BLOCK_LEN    64     /* SHA-256's block, HMAC's key size */
#define V3XY_SIG_MARK_LEN     32


/* EVP_MD and EVP_MD_CTX, without OpenSSL's headers */
struct evp_md_st;
struct evp_md_ctx_st;

/*
 * Key material: the secret padded to a block (or its SHA-256, if longer).
 * Keep it in memory that core dumps leave out, and free it (it is wiped).
 */
typedef struct {
    struct evp_md_st      *md;
    unsigned char          k[V3XY_SIG_BLOCK_LEN];
} v3xy_sig_key_t;

typedef struct {
    struct evp_md_ctx_st  *ctx;     /* the inner hash, then the outer */
    const v3xy_sig_key_t  *key;
} v3xy_sig_mac_t;

typedef struct {
    struct evp_md_ctx_st  *ctx;
} v3xy_sig_mark_t;

typedef struct {
    v3xy_sig_mac_t        *macs;    /* one per key, the caller's memory */
    size_t                 n;
    v3xy_sig_mark_t        mark;    /* ctx NULL: no mark asked */
} v3xy_sig_delivery_t;


/*
 * Parses the header value h[0..len) (not NUL-terminated; h may be NULL
 * when len is 0) into *out.  On any status but OK, out->nv1 is 0 and the
 * rest of *out is unspecified.  out->t_str points into h.
 */
v3xy_sig_status_e v3xy_sig_parse(const unsigned char *h, size_t len,
    v3xy_sig_header_t *out);

/*
 * A message for a status, fit for a log and for a client: it never holds
 * anything from the header nor any secret.
 */
const char *v3xy_sig_status_text(v3xy_sig_status_e status);

/* 1 if t is at most tolerance seconds before or after now, else 0. */
int v3xy_sig_timestamp_ok(uint64_t t, uint64_t now, uint64_t tolerance);


/*
 * Prepares the key of secret[0..len), which must not be empty, in *key
 * (the caller's memory: put it where secrets go).  Returns 0, or -1
 * (nothing to free, key->md is NULL) if len is 0 or OpenSSL failed.
 */
int v3xy_sig_key_init(v3xy_sig_key_t *key, const unsigned char *secret,
    size_t len);
/* Wipes and frees; NULL-safe and idempotent (key->md is set to NULL). */
void v3xy_sig_key_free(v3xy_sig_key_t *key);

/*
 * Starts a MAC under key over "<t_str>.".  Returns 0, or -1 (nothing to
 * free) if OpenSSL failed.  The key may start other MACs meanwhile; it
 * must outlive the MAC's final (the outer hash is keyed then).
 */
int v3xy_sig_mac_init(v3xy_sig_mac_t *mac, const v3xy_sig_key_t *key,
    const unsigned char *t_str, size_t t_len);
/* Adds p[0..len) (p may be NULL when len is 0).  Returns 0 or -1. */
int v3xy_sig_mac_update(v3xy_sig_mac_t *mac, const unsigned char *p,
    size_t len);
/* Writes the MAC; no update may follow.  Returns 0 or -1. */
int v3xy_sig_mac_final(v3xy_sig_mac_t *mac,
    unsigned char out[V3XY_SIG_MAC_LEN]);
/* Wipes and frees, after final or instead; NULL-safe and idempotent. */
void v3xy_sig_mac_free(v3xy_sig_mac_t *mac);

/* The whole of the above at once, over body[0..len).  Returns 0 or -1. */
int v3xy_sig_hmac(const unsigned char *secret, size_t secret_len,
    const unsigned char *t_str, size_t t_len, const unsigned char *body,
    size_t len, unsigned char out[V3XY_SIG_MAC_LEN]);

/*
 * The mark: starts SHA-256 over "<t_str>." with the SHA-256 of key (any
 * key: the mark does not depend on it), takes the body in pieces, writes
 * the digest.  Returns 0 or -1 (init: nothing to free); free after final
 * or instead, NULL-safe and idempotent.
 */
int v3xy_sig_mark_init(v3xy_sig_mark_t *mark, const v3xy_sig_key_t *key,
    const unsigned char *t_str, size_t t_len);
int v3xy_sig_mark_update(v3xy_sig_mark_t *mark, const unsigned char *p,
    size_t len);
int v3xy_sig_mark_final(v3xy_sig_mark_t *mark,
    unsigned char out[V3XY_SIG_MARK_LEN]);
void v3xy_sig_mark_free(v3xy_sig_mark_t *mark);

/*
 * One pass over a delivery: starts the MAC of each of keys[0..n) (n >= 1)
 * in macs[0..n), and the mark if mark is not 0.  Returns 0, or -1 with
 * nothing to free.
 */
int v3xy_sig_delivery_init(v3xy_sig_delivery_t *d, v3xy_sig_mac_t *macs,
    const v3xy_sig_key_t *keys, size_t n, const unsigned char *t_str,
    size_t t_len, int mark);
/* Feeds p[0..len) to every MAC and to the mark.  Returns 0 or -1. */
int v3xy_sig_delivery_update(v3xy_sig_delivery_t *d,
    const unsigned char *p, size_t len);
/*
 * Ends every MAC and compares each with h's v1 values: returns the index
 * of the first key whose MAC is among them (and writes that MAC to mac),
 * -1 if none is, -2 if OpenSSL failed.  With a mark asked (and not -2),
 * writes it to mark.
 */
int v3xy_sig_delivery_final(v3xy_sig_delivery_t *d,
    const v3xy_sig_header_t *h, unsigned char mac[V3XY_SIG_MAC_LEN],
    unsigned char mark[V3XY_SIG_MARK_LEN]);
/* Wipes and frees every MAC and the mark; idempotent. */
void v3xy_sig_delivery_free(v3xy_sig_delivery_t *d);


/*
 * 1 if mac equals one of h's well-formed v1, else 0.  It compares mac
 * with every one of them, in constant time for a given h->nv1.
 */
int v3xy_sig_match(const v3xy_sig_header_t *h,
    const unsigned char mac[V3XY_SIG_MAC_LEN]);

#endif /* V3XY_SIG_H */
