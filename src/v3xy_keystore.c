/*
 * v3xy_keystore: the lines of a key store file, the fields of a key's hash
 * in the Redis store, and the scopes of a key.
 */

#include <string.h>

#include "v3xy_keystore.h"


static size_t v3xy_ks_field(const unsigned char *p, size_t len, size_t *pos,
    v3xy_ks_str_t *f);
static int v3xy_ks_hex(unsigned char c);
static int v3xy_ks_account_valid(const unsigned char *s, size_t len);
static int v3xy_ks_is_space(unsigned char c);
static v3xy_ks_status_e v3xy_ks_parse_status(const v3xy_ks_str_t *account,
    const v3xy_ks_str_t *status, v3xy_ks_entry_t *e);


v3xy_ks_status_e
v3xy_ks_parse_line(const unsigned char *line, size_t len, v3xy_ks_entry_t *e)
{
    int            hi, lo;
    size_t         pos, i, n, start;
    v3xy_ks_str_t  f[6], s;

    memset(e, 0, sizeof(v3xy_ks_entry_t));

    pos = 0;
    n = 0;

    while (n < 6 && v3xy_ks_field(line, len, &pos, &f[n])) {
        if (n == 0 && f[0].data[0] == '#') {
            return V3XY_KS_SKIP;
        }

        n++;
    }

    if (n == 0) {
        return V3XY_KS_SKIP;
    }

    if (n == 6) {
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

    if (n < 2 || !v3xy_ks_account_valid(f[1].data, f[1].len)) {
        return V3XY_KS_BAD_ACCOUNT;
    }

    e->account = f[1];

    /* the scopes, comma separated ("revoked", tier=: they are missing) */

    if (n < 3
        || (f[2].len == sizeof("revoked") - 1
            && memcmp(f[2].data, "revoked", f[2].len) == 0)
        || (f[2].len >= sizeof("tier=") - 1
            && memcmp(f[2].data, "tier=", sizeof("tier=") - 1) == 0))
    {
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

    /* the status and the tier, in either order */

    for (i = 3; i < n; i++) {
        if (f[i].len == sizeof("revoked") - 1
            && memcmp(f[i].data, "revoked", f[i].len) == 0)
        {
            if (e->revoked) {
                return V3XY_KS_TWICE;
            }

            e->revoked = 1;
            continue;
        }

        if (f[i].len < sizeof("tier=") - 1
            || memcmp(f[i].data, "tier=", sizeof("tier=") - 1) != 0)
        {
            return V3XY_KS_BAD_STATUS;
        }

        if (e->tier.len) {
            return V3XY_KS_TWICE;
        }

        s.data = f[i].data + sizeof("tier=") - 1;
        s.len = f[i].len - (sizeof("tier=") - 1);

        if (!v3xy_ks_tier_valid(s.data, s.len)) {
            return V3XY_KS_BAD_TIER;
        }

        e->tier = s;
    }

    return V3XY_KS_OK;
}


/*
 * A hash of the Redis store.  The status decides first: "revoked" is
 * enough to refuse a key, whatever else the hash holds (or lacks), so
 * that revoking is one HSET.  An active key needs an account and scopes
 * of the file's rules, the scopes separated by runs of spaces or tabs,
 * and a tier of the file's rules if it has one: an empty "tier" is none,
 * so that HSET ... tier "" takes a key back to the default rates.
 */

v3xy_ks_status_e
v3xy_ks_parse_hash(const v3xy_ks_str_t *account, const v3xy_ks_str_t *scopes,
    const v3xy_ks_str_t *status, const v3xy_ks_str_t *tier,
    v3xy_ks_entry_t *e)
{
    size_t            i, start;
    v3xy_ks_str_t     s;
    v3xy_ks_status_e  rc;

    memset(e, 0, sizeof(v3xy_ks_entry_t));

    if (account->data == NULL && scopes->data == NULL
        && status->data == NULL && tier->data == NULL)
    {
        return V3XY_KS_UNKNOWN;
    }

    rc = v3xy_ks_parse_status(account, status, e);

    if (rc != V3XY_KS_OK || e->revoked) {
        return rc;
    }

    if (scopes->data == NULL) {
        return V3XY_KS_NO_SCOPES;
    }

    i = 0;

    for ( ;; ) {
        while (i < scopes->len && v3xy_ks_is_space(scopes->data[i])) {
            i++;
        }

        if (i == scopes->len) {
            break;
        }

        start = i;

        while (i < scopes->len && !v3xy_ks_is_space(scopes->data[i])) {
            i++;
        }

        s.data = scopes->data + start;
        s.len = i - start;

        if (!v3xy_ks_scope_valid(s.data, s.len)) {
            return V3XY_KS_BAD_SCOPE;
        }

        if (e->nscopes == V3XY_KS_SCOPES_MAX) {
            return V3XY_KS_TOO_MANY_SCOPES;
        }

        e->scopes[e->nscopes++] = s;
    }

    if (e->nscopes == 0) {
        return V3XY_KS_NO_SCOPES;
    }

    if (tier->data != NULL && tier->len) {
        if (!v3xy_ks_tier_valid(tier->data, tier->len)) {
            return V3XY_KS_BAD_TIER;
        }

        e->tier = *tier;
    }

    return V3XY_KS_OK;
}


size_t
v3xy_ks_scopes_join(const v3xy_ks_entry_t *e, unsigned char *out)
{
    size_t          i;
    unsigned char  *p;

    p = out;

    for (i = 0; i < e->nscopes; i++) {
        if (i) {
            *p++ = ' ';
        }

        memcpy(p, e->scopes[i].data, e->scopes[i].len);
        p += e->scopes[i].len;
    }

    return (size_t) (p - out);
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
        return "no scopes: the third field lists them, comma-separated "
               "(\"payments:read,verify:send\"), before \"revoked\" and "
               "tier=NAME";

    case V3XY_KS_BAD_SCOPE:
        return "a scope that is not 1 to 32 characters of a-z 0-9 _ : . -";

    case V3XY_KS_TOO_MANY_SCOPES:
        return "more than 16 scopes";

    case V3XY_KS_BAD_STATUS:
        return "a field after the scopes other than \"revoked\" or "
               "tier=NAME";

    case V3XY_KS_TRAILING:
        return "more than five fields";

    case V3XY_KS_UNKNOWN:
        return "no such key";

    case V3XY_KS_NO_STATUS:
        return "no status";

    case V3XY_KS_BAD_HASH_STATUS:
        return "a status other than \"active\" or \"revoked\"";

    case V3XY_KS_BAD_TIER:
        return "a tier that is not 1 to 32 characters of a-z 0-9 _ -";

    case V3XY_KS_TWICE:
        return "\"revoked\" or tier= given twice";
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


int
v3xy_ks_tier_valid(const unsigned char *s, size_t len)
{
    size_t  i;

    if (len == 0 || len > V3XY_KS_TIER_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')
              || s[i] == '_' || s[i] == '-'))
        {
            return 0;
        }
    }

    return 1;
}


static int
v3xy_ks_account_valid(const unsigned char *s, size_t len)
{
    size_t  i;

    if (len == 0 || len > V3XY_KS_ACCOUNT_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')
              || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '.'
              || s[i] == ':' || s[i] == '-'))
        {
            return 0;
        }
    }

    return 1;
}


v3xy_ks_status_e
v3xy_ks_parse_session(const v3xy_ks_str_t *account,
    const v3xy_ks_str_t *status, v3xy_ks_entry_t *e)
{
    memset(e, 0, sizeof(v3xy_ks_entry_t));

    if (account->data == NULL && status->data == NULL) {
        return V3XY_KS_UNKNOWN;
    }

    return v3xy_ks_parse_status(account, status, e);
}


v3xy_ks_bearer_e
v3xy_ks_bearer(const unsigned char *value, size_t len, v3xy_ks_str_t *token)
{
    size_t               i, start;
    unsigned char        c;
    static const char    scheme[] = "bearer";

    if (len < sizeof(scheme) - 1) {
        return V3XY_KS_BEARER_NONE;
    }

    for (i = 0; i < sizeof(scheme) - 1; i++) {
        c = value[i];

        if (c >= 'A' && c <= 'Z') {
            c = (unsigned char) (c - 'A' + 'a');
        }

        if (c != (unsigned char) scheme[i]) {
            return V3XY_KS_BEARER_NONE;
        }
    }

    /* "Bearerx ...": another scheme */

    if (i < len && value[i] != ' ') {
        return V3XY_KS_BEARER_NONE;
    }

    while (i < len && value[i] == ' ') {
        i++;
    }

    start = i;

    while (i < len) {
        c = value[i];

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
            || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'
            || c == '~' || c == '+' || c == '/')
        {
            i++;
            continue;
        }

        break;
    }

    if (i == start) {
        return V3XY_KS_BEARER_MALFORMED;
    }

    while (i < len && value[i] == '=') {
        i++;
    }

    if (i != len || i - start > V3XY_KS_TOKEN_MAX) {
        return V3XY_KS_BEARER_MALFORMED;
    }

    token->data = value + start;
    token->len = len - start;

    return V3XY_KS_BEARER_OK;
}


void
v3xy_ks_session_id(const unsigned char *digest, unsigned char *out)
{
    size_t               i;
    static const char    hex[] = "0123456789abcdef";

    memcpy(out, V3XY_KS_SESSION_ID_PREFIX,
           sizeof(V3XY_KS_SESSION_ID_PREFIX) - 1);
    out += sizeof(V3XY_KS_SESSION_ID_PREFIX) - 1;

    for (i = 0; i < 6; i++) {
        *out++ = (unsigned char) hex[digest[i] >> 4];
        *out++ = (unsigned char) hex[digest[i] & 0x0f];
    }
}


static int
v3xy_ks_is_space(unsigned char c)
{
    return c == ' ' || c == '\t';
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


/*
 * What a key's hash and a session's share: the status decides first
 * ("revoked" is enough, whatever else the hash holds), then an active one
 * needs a valid account.  V3XY_KS_OK with e->revoked, or with e->account.
 */

static v3xy_ks_status_e
v3xy_ks_parse_status(const v3xy_ks_str_t *account,
    const v3xy_ks_str_t *status, v3xy_ks_entry_t *e)
{
    if (status->data == NULL) {
        return V3XY_KS_NO_STATUS;
    }

    if (status->len == sizeof("revoked") - 1
        && memcmp(status->data, "revoked", status->len) == 0)
    {
        e->revoked = 1;
        return V3XY_KS_OK;
    }

    if (status->len != sizeof("active") - 1
        || memcmp(status->data, "active", status->len) != 0)
    {
        return V3XY_KS_BAD_HASH_STATUS;
    }

    if (account->data == NULL
        || !v3xy_ks_account_valid(account->data, account->len))
    {
        return V3XY_KS_BAD_ACCOUNT;
    }

    e->account = *account;

    return V3XY_KS_OK;
}
