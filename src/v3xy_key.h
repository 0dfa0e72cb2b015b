/*
 * v3xy_key: the developer key's form and its non-secret fingerprint.
 *
 * A developer key is "v3xy_dev_" followed by a random secret (the API's
 * specification says no more).  We accept any secret of 1 to 256 visible
 * ASCII characters (0x21 to 0x7e: base64's "+/=", a ".", any punctuation),
 * all that a header value carries as it is; a space, a control character
 * (a newline would split the header) or a byte over 0x7e is refused.  A
 * secret under 16 characters is accepted but weak (v3xy_key_weak()): the
 * configuration says so.  The fingerprint names a key in logs and
 * limit keys without revealing it: the prefix, "...", and the first 12 hex
 * digits of SHA-256 over the whole key.
 *
 * nginx-free: C99 and OpenSSL only.
 */

#ifndef V3XY_KEY_H
#define V3XY_KEY_H

#include <stddef.h>


#define V3XY_KEY_PREFIX       "v3xy_dev_"
#define V3XY_KEY_PREFIX_LEN   (sizeof(V3XY_KEY_PREFIX) - 1)
#define V3XY_KEY_SECRET_MIN   1
#define V3XY_KEY_SECRET_WEAK  16      /* shorter: weak */
#define V3XY_KEY_SECRET_MAX   256
#define V3XY_KEY_MAX          (V3XY_KEY_PREFIX_LEN + V3XY_KEY_SECRET_MAX)

#define V3XY_KEY_ID_HEX       12
#define V3XY_KEY_ID_LEN       (V3XY_KEY_PREFIX_LEN + 3 + V3XY_KEY_ID_HEX)


typedef enum {
    V3XY_KEY_OK = 0,
    V3XY_KEY_EMPTY,
    V3XY_KEY_NO_PREFIX,
    V3XY_KEY_TOO_SHORT,
    V3XY_KEY_TOO_LONG,
    V3XY_KEY_BAD_CHAR
} v3xy_key_status_e;


/* Checks that key[0..len) is of the documented form. */
v3xy_key_status_e v3xy_key_check(const unsigned char *key, size_t len);

/* 1 if a key that passes v3xy_key_check() has a secret under 16 chars. */
int v3xy_key_weak(const unsigned char *key, size_t len);

/* A human-readable reason for a status, without any part of the key. */
const char *v3xy_key_status_text(v3xy_key_status_e status);

/*
 * The length of p[0..len) without trailing white space (CR, LF, space,
 * tab), as a key file written by "echo" or an editor ends.
 */
size_t v3xy_key_trim(const unsigned char *p, size_t len);

/*
 * Writes the fingerprint of key[0..len) into out, which must hold
 * V3XY_KEY_ID_LEN bytes (not NUL-terminated).  Returns 0, or -1 if
 * SHA-256 failed.
 */
int v3xy_key_id(const unsigned char *key, size_t len, unsigned char *out);

/* The same from the key's SHA-256 (32 bytes), for callers that have it. */
void v3xy_key_id_from_digest(const unsigned char *digest, unsigned char *out);

#endif /* V3XY_KEY_H */
