/*
 * v3xy_key: the developer key's form and its non-secret fingerprint.
 */

#include <string.h>

#include <openssl/sha.h>

#include "v3xy_key.h"


static const char  v3xy_hex[] = "0123456789abcdef";


v3xy_key_status_e
v3xy_key_check(const unsigned char *key, size_t len)
{
    size_t                i;
    const unsigned char  *secret;

    if (len == 0) {
        return V3XY_KEY_EMPTY;
    }

    if (len < V3XY_KEY_PREFIX_LEN
        || memcmp(key, V3XY_KEY_PREFIX, V3XY_KEY_PREFIX_LEN) != 0)
    {
        return V3XY_KEY_NO_PREFIX;
    }

    secret = key + V3XY_KEY_PREFIX_LEN;
    len -= V3XY_KEY_PREFIX_LEN;

    /* the alphabet first: a key with a newline inside is not "too long" */

    for (i = 0; i < len; i++) {
        if (secret[i] >= 0x21 && secret[i] <= 0x7e) {
            continue;
        }

        return V3XY_KEY_BAD_CHAR;
    }

    if (len < V3XY_KEY_SECRET_MIN) {
        return V3XY_KEY_TOO_SHORT;
    }

    if (len > V3XY_KEY_SECRET_MAX) {
        return V3XY_KEY_TOO_LONG;
    }

    return V3XY_KEY_OK;
}


int
v3xy_key_weak(const unsigned char *key, size_t len)
{
    (void) key;

    return len < V3XY_KEY_PREFIX_LEN + V3XY_KEY_SECRET_WEAK;
}


const char *
v3xy_key_status_text(v3xy_key_status_e status)
{
    switch (status) {

    case V3XY_KEY_OK:
        return "a developer key";

    case V3XY_KEY_EMPTY:
        return "empty";

    case V3XY_KEY_NO_PREFIX:
        return "does not start with \"" V3XY_KEY_PREFIX "\"";

    case V3XY_KEY_TOO_SHORT:
        return "no secret after the prefix";

    case V3XY_KEY_TOO_LONG:
        return "secret longer than 256 characters";

    case V3XY_KEY_BAD_CHAR:
        return "secret has a space, a control character or a byte that is "
               "not ASCII";
    }

    return "unknown";
}


size_t
v3xy_key_trim(const unsigned char *p, size_t len)
{
    while (len > 0) {
        switch (p[len - 1]) {
        case '\n':
        case '\r':
        case ' ':
        case '\t':
            len--;
            continue;
        }

        break;
    }

    return len;
}


int
v3xy_key_id(const unsigned char *key, size_t len, unsigned char *out)
{
    unsigned char  md[SHA256_DIGEST_LENGTH];

    if (SHA256(key, len, md) == NULL) {
        return -1;
    }

    v3xy_key_id_from_digest(md, out);

    return 0;
}


void
v3xy_key_id_from_digest(const unsigned char *md, unsigned char *out)
{
    size_t  i;

    memcpy(out, V3XY_KEY_PREFIX "...", V3XY_KEY_PREFIX_LEN + 3);
    out += V3XY_KEY_PREFIX_LEN + 3;

    for (i = 0; i < V3XY_KEY_ID_HEX / 2; i++) {
        *out++ = v3xy_hex[md[i] >> 4];
        *out++ = v3xy_hex[md[i] & 0x0f];
    }
}
