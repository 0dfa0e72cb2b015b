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
 * The MAC: a key (the secret, prepared once, at configuration load) is
 * the start of any number of MACs, each of which takes "<t>." at init and
 * then the body in any number of pieces, so that one pass over the body
 * may feed the MACs of several secrets.  Keys and MACs hold key material:
 * free them (it is wiped).  v3xy_sig_match() compares a MAC with every
 * well-formed v1 in constant time (CRYPTO_memcmp, no early exit).
 *
 * nginx-free: C99 and OpenSSL 3 (EVP_MAC "HMAC" with SHA-256) only.
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


/* EVP_MAC_CTX, without OpenSSL's headers */
struct evp_mac_ctx_st;

typedef struct {
    struct evp_mac_ctx_st  *ctx;
} v3xy_sig_key_t;

typedef struct {
    struct evp_mac_ctx_st  *ctx;
} v3xy_sig_mac_t;


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
 * Prepares the key of secret[0..len), which must not be empty.  Returns 0,
 * or -1 (nothing to free) if len is 0 or OpenSSL failed.
 */
int v3xy_sig_key_init(v3xy_sig_key_t *key, const unsigned char *secret,
    size_t len);
/* Wipes and frees; NULL-safe and idempotent (k->ctx is set to NULL). */
void v3xy_sig_key_free(v3xy_sig_key_t *key);

/*
 * Starts a MAC under key over "<t_str>.".  Returns 0, or -1 (nothing to
 * free) if OpenSSL failed.  The key may start other MACs meanwhile, and
 * may be freed before the MAC is.
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
 * 1 if mac equals one of h's well-formed v1, else 0.  It compares mac
 * with every one of them, in constant time for a given h->nv1.
 */
int v3xy_sig_match(const v3xy_sig_header_t *h,
    const unsigned char mac[V3XY_SIG_MAC_LEN]);

#endif /* V3XY_SIG_H */
