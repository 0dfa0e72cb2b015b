/*
 * v3xy_keystore: the lines of a key store file and the scopes of a key.
 *
 * A key store holds SHA-256 digests of developer keys, never keys:
 *
 *     # comment
 *     <sha256 of the full key, 64 hex digits> <account-id>
 *         <scope>[,<scope>...] [revoked]
 *
 * (one line in the file; broken here for width)
 *
 * Fields are separated by spaces or tabs (a carriage return counts as one,
 * so files with CRLF line ends load); blank lines and lines starting
 * with "#" (after white space) are ignored.  An account id is 1 to 64
 * characters of [A-Za-z0-9_.:-]; a scope 1 to 32 of [a-z0-9_:.-]; a key
 * has 1 to 16 scopes.  The hex digits may be of either case.
 *
 * nginx-free: C99 only.
 */

#ifndef V3XY_KEYSTORE_H
#define V3XY_KEYSTORE_H

#include <stddef.h>


#define V3XY_KS_ACCOUNT_MAX   64
#define V3XY_KS_SCOPE_MAX     32
#define V3XY_KS_SCOPES_MAX    16


typedef struct {
    const unsigned char  *data;
    size_t                len;
} v3xy_ks_str_t;


typedef struct {
    unsigned char         digest[32];
    v3xy_ks_str_t         account;
    v3xy_ks_str_t         scopes[V3XY_KS_SCOPES_MAX];
    size_t                nscopes;
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
    V3XY_KS_BAD_STATUS,         /* a fourth field other than "revoked" */
    V3XY_KS_TRAILING            /* more than four fields */
} v3xy_ks_status_e;


/*
 * Parses one line (without its newline) into e; the strings of e point
 * into the line.
 */
v3xy_ks_status_e v3xy_ks_parse_line(const unsigned char *line, size_t len,
    v3xy_ks_entry_t *e);

const char *v3xy_ks_status_text(v3xy_ks_status_e status);

/* 1 if every scope of want[0..n) is among e's scopes, else 0. */
int v3xy_ks_has_scopes(const v3xy_ks_entry_t *e, const v3xy_ks_str_t *want,
    size_t n);

/* 1 if s is a well-formed scope name. */
int v3xy_ks_scope_valid(const unsigned char *s, size_t len);

#endif /* V3XY_KEYSTORE_H */
