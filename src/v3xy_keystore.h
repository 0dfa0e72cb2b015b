/*
 * v3xy_keystore: the lines of a key store file, the fields of a key's hash
 * in the Redis store, and the scopes of a key.
 *
 * A key store holds SHA-256 digests of developer keys, never keys:
 *
 *     # comment
 *     <sha256 of the full key, 64 hex digits> <account-id>
 *         <scope>[,<scope>...] [tier=<tier>] [revoked]
 *
 * (one line in the file; broken here for width; tier= and revoked may
 * come in either order, each at most once)
 *
 * Fields are separated by spaces or tabs (a carriage return counts as one,
 * so files with CRLF line ends load); blank lines and lines starting
 * with "#" (after white space) are ignored.  An account id is 1 to 64
 * characters of [A-Za-z0-9_.:-]; a scope 1 to 32 of [a-z0-9_:.-]; a key
 * has 1 to 16 scopes; a tier 1 to 32 of [a-z0-9_-] (a key without one
 * has every zone's default rate).  The hex digits may be of either case.
 *
 * In Redis a key is the hash v3xy:key:<sha256 hex, lower case> with the
 * fields "account", "scopes" (the same scopes, separated by spaces),
 * "status" ("active" or "revoked") and, optionally, "tier" (absent or
 * empty: no tier).
 *
 * A session (Authorization: Bearer <token>) is the hash
 * v3xy:session:<sha256 hex of the token, lower case> with the fields
 * "account" and "status" ("active" or "revoked"); it ends with the hash's
 * TTL, which the auth service that writes it sets.
 *
 * nginx-free: C99 only.
 */

#ifndef V3XY_KEYSTORE_H
#define V3XY_KEYSTORE_H

#include <stddef.h>


#define V3XY_KS_ACCOUNT_MAX   64
#define V3XY_KS_SCOPE_MAX     32
#define V3XY_KS_SCOPES_MAX    16
#define V3XY_KS_TIER_MAX      32
#define V3XY_KS_SCOPES_JOINED_MAX                                             \
    (V3XY_KS_SCOPES_MAX * (V3XY_KS_SCOPE_MAX + 1) - 1)

/* a session token: RFC 6750's b64token, at most this long */
#define V3XY_KS_TOKEN_MAX     4096

/* a session's fingerprint: "session..." and 12 hex digits of its SHA-256 */
#define V3XY_KS_SESSION_ID_PREFIX  "session..."
#define V3XY_KS_SESSION_ID_LEN     (sizeof(V3XY_KS_SESSION_ID_PREFIX) - 1 + 12)


typedef struct {
    const unsigned char  *data;
    size_t                len;
} v3xy_ks_str_t;


typedef struct {
    unsigned char         digest[32];
    v3xy_ks_str_t         account;
    v3xy_ks_str_t         scopes[V3XY_KS_SCOPES_MAX];
    size_t                nscopes;
    v3xy_ks_str_t         tier;       /* len 0: none */
    int                   revoked;
} v3xy_ks_entry_t;


typedef enum {
    V3XY_KS_OK = 0,
    V3XY_KS_SKIP,               /* blank or comment */
    V3XY_KS_BAD_DIGEST,
    V3XY_KS_BAD_ACCOUNT,
    V3XY_KS_NO_SCOPES,
    V3XY_KS_BAD_SCOPE,
    V3XY_KS_TOO_MANY_SCOPES,
    V3XY_KS_BAD_STATUS,         /* a field after the scopes other than
                                   "revoked" or tier= */
    V3XY_KS_TRAILING,           /* more than five fields */
    V3XY_KS_UNKNOWN,            /* a hash: none of its fields */
    V3XY_KS_NO_STATUS,          /* a hash without "status" */
    V3XY_KS_BAD_HASH_STATUS,    /* neither "active" nor "revoked" */
    V3XY_KS_BAD_TIER,           /* not a tier name */
    V3XY_KS_TWICE               /* "revoked" or tier= twice in a line */
} v3xy_ks_status_e;


/*
 * Parses one line (without its newline) into e; the strings of e point
 * into the line.
 */
v3xy_ks_status_e v3xy_ks_parse_line(const unsigned char *line, size_t len,
    v3xy_ks_entry_t *e);

/*
 * The fields of a key's hash in the Redis store (v3xy:key:<digest>):
 * account, scopes (separated by spaces or tabs), status ("active" or
 * "revoked") and tier, each with data NULL if the hash lacks it.
 *
 *   V3XY_KS_OK       status "revoked" (e->revoked, whatever the other
 *                    fields hold), or "active" with a valid account,
 *                    1 to 16 valid scopes and no tier, an empty one or a
 *                    valid one (e's strings point into them);
 *   V3XY_KS_UNKNOWN  none of the four fields: no such key;
 *   anything else    a malformed hash: V3XY_KS_NO_STATUS,
 *                    V3XY_KS_BAD_HASH_STATUS, V3XY_KS_BAD_ACCOUNT (none
 *                    or invalid), V3XY_KS_NO_SCOPES (none, or only
 *                    spaces), V3XY_KS_BAD_SCOPE, V3XY_KS_TOO_MANY_SCOPES,
 *                    V3XY_KS_BAD_TIER.
 *
 * e->digest is left zero.
 */
v3xy_ks_status_e v3xy_ks_parse_hash(const v3xy_ks_str_t *account,
    const v3xy_ks_str_t *scopes, const v3xy_ks_str_t *status,
    const v3xy_ks_str_t *tier, v3xy_ks_entry_t *e);

/*
 * The fields of a session's hash (v3xy:session:<digest>): account and
 * status, each with data NULL if the hash lacks it.  V3XY_KS_OK: "revoked"
 * (e->revoked), or "active" with a valid account (e->account, no scopes);
 * V3XY_KS_UNKNOWN: neither field (no such session, or it has expired);
 * else malformed: V3XY_KS_NO_STATUS, V3XY_KS_BAD_HASH_STATUS,
 * V3XY_KS_BAD_ACCOUNT.
 */
v3xy_ks_status_e v3xy_ks_parse_session(const v3xy_ks_str_t *account,
    const v3xy_ks_str_t *status, v3xy_ks_entry_t *e);


typedef enum {
    V3XY_KS_BEARER_OK = 0,
    V3XY_KS_BEARER_NONE,        /* no Authorization, or another scheme */
    V3XY_KS_BEARER_MALFORMED    /* "Bearer" and no token of the form */
} v3xy_ks_bearer_e;

/*
 * An Authorization header's value: the scheme "Bearer" (any case), one or
 * more spaces, then a token of 1 to V3XY_KS_TOKEN_MAX characters of
 * RFC 6750's b64token (A-Z a-z 0-9 - . _ ~ + / then "=" only at the end),
 * nothing after it.  *token points into value.
 */
v3xy_ks_bearer_e v3xy_ks_bearer(const unsigned char *value, size_t len,
    v3xy_ks_str_t *token);

/* Writes V3XY_KS_SESSION_ID_LEN bytes: the fingerprint of a token's
 * SHA-256 (32 bytes), which names a session in logs. */
void v3xy_ks_session_id(const unsigned char *digest, unsigned char *out);

/*
 * Writes e's scopes into out, separated by one space; returns the length,
 * at most V3XY_KS_SCOPES_JOINED_MAX.
 */
size_t v3xy_ks_scopes_join(const v3xy_ks_entry_t *e, unsigned char *out);

const char *v3xy_ks_status_text(v3xy_ks_status_e status);

/* 1 if every scope of want[0..n) is among e's scopes, else 0. */
int v3xy_ks_has_scopes(const v3xy_ks_entry_t *e, const v3xy_ks_str_t *want,
    size_t n);

/* 1 if s is a well-formed scope name. */
int v3xy_ks_scope_valid(const unsigned char *s, size_t len);

/* 1 if s is a well-formed tier name: 1 to 32 of a-z 0-9 _ - */
int v3xy_ks_tier_valid(const unsigned char *s, size_t len);

#endif /* V3XY_KEYSTORE_H */
