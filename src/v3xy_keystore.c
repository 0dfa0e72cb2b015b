/*
 * v3xy_keystore: the lines of a key store file and the scopes of a key.
 */

#include <string.h>

#include "v3xy_keystore.h"


static size_t v3xy_ks_field(const unsigned char *p, size_t len, size_t *pos,
    v3xy_ks_str_t *f);
static int v3xy_ks_hex(unsigned char c);


v3xy_ks_status_e
v3xy_ks_parse_line(const unsigned char *line, size_t len, v3xy_ks_entry_t *e)
{
    int            hi, lo;
    size_t         pos, i, n, start;
    v3xy_ks_str_t  f[5], s;

    memset(e, 0, sizeof(v3xy_ks_entry_t));

    pos = 0;
    n = 0;

    while (n < 5 && v3xy_ks_field(line, len, &pos, &f[n])) {
        if (n == 0 && f[0].data[0] == '#') {
            return V3XY_KS_SKIP;
        }

        n++;
    }

    if (n == 0) {
        return V3XY_KS_SKIP;
    }

    if (n == 5) {
        return V3XY_KS_TRAILING;
    }

    /* the digest */

    if (f[0].len != 64) {
        return V3XY_KS_BAD_DIGEST;
    }

    for (i = 0; i < 32; i++) {
        hi = v3xy_ks_hex(f[0].data[2 * i]);
        lo = v3xy_ks_hex(f[0].data[2 * i + 1]);

        if (hi < 0 || lo < 0) {
            return V3XY_KS_BAD_DIGEST;
        }

        e->digest[i] = (unsigned char) (hi << 4 | lo);
    }

    /* the account */

    if (n < 2 || f[1].len > V3XY_KS_ACCOUNT_MAX) {
        return V3XY_KS_BAD_ACCOUNT;
    }

    for (i = 0; i < f[1].len; i++) {
        unsigned char  c = f[1].data[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '_' || c == '.'
              || c == ':' || c == '-'))
        {
            return V3XY_KS_BAD_ACCOUNT;
        }
    }

    e->account = f[1];

    /* the scopes, comma separated */

    if (n < 3) {
        return V3XY_KS_NO_SCOPES;
    }

    start = 0;

    for (i = 0; i <= f[2].len; i++) {
        if (i < f[2].len && f[2].data[i] != ',') {
            continue;
        }

        s.data = f[2].data + start;
        s.len = i - start;
        start = i + 1;

        if (!v3xy_ks_scope_valid(s.data, s.len)) {
            return V3XY_KS_BAD_SCOPE;
        }

        if (e->nscopes == V3XY_KS_SCOPES_MAX) {
            return V3XY_KS_TOO_MANY_SCOPES;
        }

        e->scopes[e->nscopes++] = s;
    }

    /* the status */

    if (n == 4) {
        if (f[3].len != sizeof("revoked") - 1
            || memcmp(f[3].data, "revoked", f[3].len) != 0)
        {
            return V3XY_KS_BAD_STATUS;
        }

        e->revoked = 1;
    }

    return V3XY_KS_OK;
}


const char *
v3xy_ks_status_text(v3xy_ks_status_e status)
{
    switch (status) {

    case V3XY_KS_OK:
        return "ok";

    case V3XY_KS_SKIP:
        return "a blank or comment line";

    case V3XY_KS_BAD_DIGEST:
        return "the first field is not 64 hex digits (SHA-256 of the key)";

    case V3XY_KS_BAD_ACCOUNT:
        return "no account id, or one that is not 1 to 64 characters of "
               "A-Z a-z 0-9 _ . : -";

    case V3XY_KS_NO_SCOPES:
        return "no scopes";

    case V3XY_KS_BAD_SCOPE:
        return "a scope that is not 1 to 32 characters of a-z 0-9 _ : . -";

    case V3XY_KS_TOO_MANY_SCOPES:
        return "more than 16 scopes";

    case V3XY_KS_BAD_STATUS:
        return "a fourth field other than \"revoked\"";

    case V3XY_KS_TRAILING:
        return "more than four fields";
    }

    return "malformed";
}


int
v3xy_ks_has_scopes(const v3xy_ks_entry_t *e, const v3xy_ks_str_t *want,
    size_t n)
{
    size_t  i, j;

    for (i = 0; i < n; i++) {
        for (j = 0; j < e->nscopes; j++) {
            if (e->scopes[j].len == want[i].len
                && memcmp(e->scopes[j].data, want[i].data, want[i].len) == 0)
            {
                break;
            }
        }

        if (j == e->nscopes) {
            return 0;
        }
    }

    return 1;
}


int
v3xy_ks_scope_valid(const unsigned char *s, size_t len)
{
    size_t  i;

    if (len == 0 || len > V3XY_KS_SCOPE_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')
              || s[i] == '_' || s[i] == ':' || s[i] == '.' || s[i] == '-'))
        {
            return 0;
        }
    }

    return 1;
}


/* the next field separated by spaces or tabs; 0 at the end of the line */

static size_t
v3xy_ks_field(const unsigned char *p, size_t len, size_t *pos,
    v3xy_ks_str_t *f)
{
    size_t  i;

    i = *pos;

    while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r')) {
        i++;
    }

    if (i == len) {
        *pos = i;
        return 0;
    }

    f->data = p + i;

    while (i < len && p[i] != ' ' && p[i] != '\t' && p[i] != '\r') {
        i++;
    }

    f->len = (size_t) (p + i - f->data);
    *pos = i;

    return 1;
}


static int
v3xy_ks_hex(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }

    return -1;
}
