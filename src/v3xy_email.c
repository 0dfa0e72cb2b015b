/*
 * v3xy_email: the canonical form of an email address, the key of the
 * per-recipient limit.  Unicode is utf8proc's and libidn2's business: no
 * table of our own.
 */

#include <stdint.h>
#include <string.h>

#include <idn2.h>
#include <utf8proc.h>

#include "v3xy_email.h"


/*
 * Code points of a local part once decomposed: 254 bytes decompose into
 * far fewer than this for any real address; more is refused as too long.
 */
#define V3XY_EMAIL_CP_MAX  1024

/* NFKC with full case folding, as utf8proc_NFKC_Casefold() but without
 * stripping default-ignorable code points: those are refused before */
#define V3XY_EMAIL_NFKC_CF  (UTF8PROC_STABLE | UTF8PROC_COMPOSE              \
                             | UTF8PROC_COMPAT | UTF8PROC_CASEFOLD           \
                             | UTF8PROC_REJECTNA)


static v3xy_email_status_e v3xy_email_chars(const unsigned char *s,
    size_t n);
static int v3xy_email_refused(utf8proc_int32_t c);
static int v3xy_email_atext(unsigned char c);
static v3xy_email_status_e v3xy_email_local(const unsigned char *s,
    size_t n, unsigned flags, unsigned char *out, size_t *out_len);
static v3xy_email_status_e v3xy_email_domain(const unsigned char *s,
    size_t n, unsigned char *out, size_t *out_len);
static int v3xy_email_host(const unsigned char *s, size_t n);


v3xy_email_status_e
v3xy_email_canonical(const unsigned char *in, size_t len, unsigned flags,
    unsigned char *out, size_t *out_len)
{
    size_t                local_len, domain_len;
    unsigned char         domain[V3XY_EMAIL_MAX];
    const unsigned char  *at;
    v3xy_email_status_e   rc;

    /* what forms and JSON encoders leave around a value, not a spelling */

    while (len > 0 && (in[0] == ' ' || in[0] == '\t' || in[0] == '\r'
                       || in[0] == '\n'))
    {
        in++;
        len--;
    }

    while (len > 0 && (in[len - 1] == ' ' || in[len - 1] == '\t'
                       || in[len - 1] == '\r' || in[len - 1] == '\n'))
    {
        len--;
    }

    if (len == 0) {
        return V3XY_EMAIL_EMPTY;
    }

    if (len > V3XY_EMAIL_MAX) {
        return V3XY_EMAIL_TOO_LONG;
    }

    rc = v3xy_email_chars(in, len);

    if (rc != V3XY_EMAIL_OK) {
        return rc;
    }

    /* no byte of a multi-byte UTF-8 sequence is an "@" */

    at = memchr(in, '@', len);

    if (at == NULL || at == in || at == in + len - 1
        || memchr(at + 1, '@', len - (size_t) (at + 1 - in)) != NULL)
    {
        return V3XY_EMAIL_NOT_ONE_AT;
    }

    rc = v3xy_email_local(in, (size_t) (at - in), flags, out, &local_len);

    if (rc != V3XY_EMAIL_OK) {
        return rc;
    }

    rc = v3xy_email_domain(at + 1, len - (size_t) (at + 1 - in), domain,
                           &domain_len);

    if (rc != V3XY_EMAIL_OK) {
        return rc;
    }

    if (local_len + 1 + domain_len > V3XY_EMAIL_MAX) {
        return V3XY_EMAIL_TOO_LONG;
    }

    out[local_len] = '@';
    memcpy(out + local_len + 1, domain, domain_len);
    *out_len = local_len + 1 + domain_len;

    return V3XY_EMAIL_OK;
}


/* UTF-8, without a code point that one cannot see or that is no letter */

static v3xy_email_status_e
v3xy_email_chars(const unsigned char *s, size_t n)
{
    utf8proc_int32_t  c;
    utf8proc_ssize_t  k;

    while (n > 0) {
        /* refuses overlong forms, surrogates and what is over U+10FFFF */
        k = utf8proc_iterate(s, (utf8proc_ssize_t) n, &c);

        if (k <= 0) {
            return V3XY_EMAIL_NOT_UTF8;
        }

        if (v3xy_email_refused(c)) {
            return V3XY_EMAIL_INVISIBLE;
        }

        s += k;
        n -= (size_t) k;
    }

    return V3XY_EMAIL_OK;
}


/*
 * White space (U+00A0 and the other Z* as well as ASCII's), controls,
 * format characters (the zero-width ones, soft hyphen, and every bidi
 * control: LRM, RLM, ALM, the embeddings, overrides and isolates are all
 * Cf), surrogates, private use, unassigned code points (their folding may
 * change with Unicode's next version) and whatever else Unicode calls
 * default-ignorable (variation selectors, the combining grapheme joiner,
 * Hangul fillers): each lets one address be spelled again unseen.
 */

static int
v3xy_email_refused(utf8proc_int32_t c)
{
    const utf8proc_property_t  *p;

    p = utf8proc_get_property(c);

    switch (p->category) {

    case UTF8PROC_CATEGORY_CN:
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_ZS:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
        return 1;

    default:
        break;
    }

    return p->ignorable;
}


/* RFC 5322's atext, the characters of an unquoted local part but "." */

static int
v3xy_email_atext(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
        || (c >= '0' && c <= '9'))
    {
        return 1;
    }

    return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}


/*
 * The local part, NFKC and case-folded, a dot-atom (RFC 5322, with
 * RFC 6531's non-ASCII), its "+tag" cut unless kept.
 */

static v3xy_email_status_e
v3xy_email_local(const unsigned char *s, size_t n, unsigned flags,
    unsigned char *out, size_t *out_len)
{
    size_t               i, mailbox;
    unsigned char       *p, *tag;
    utf8proc_ssize_t     m;
    utf8proc_int32_t     buf[V3XY_EMAIL_CP_MAX];
    v3xy_email_status_e  rc;

    m = utf8proc_decompose(s, (utf8proc_ssize_t) n, buf,
                           V3XY_EMAIL_CP_MAX - 1, V3XY_EMAIL_NFKC_CF);

    if (m == UTF8PROC_ERROR_NOTASSIGNED) {
        return V3XY_EMAIL_INVISIBLE;
    }

    if (m < 0) {
        return V3XY_EMAIL_NOT_UTF8;
    }

    if (m > V3XY_EMAIL_CP_MAX - 1) {
        return V3XY_EMAIL_TOO_LONG;
    }

    /* composes, then writes UTF-8 over buf: it needs m + 1 bytes of it */

    m = utf8proc_reencode(buf, m, UTF8PROC_STABLE | UTF8PROC_COMPOSE);

    if (m < 0) {
        return V3XY_EMAIL_NOT_UTF8;
    }

    p = (unsigned char *) buf;
    n = (size_t) m;

    /*
     * Compatibility forms may bring what was not there: U+00A8 DIAERESIS
     * is a space and a mark, U+FF20 a "@", U+2474 "(1)", U+2025 "..".
     */

    rc = v3xy_email_chars(p, n);

    if (rc != V3XY_EMAIL_OK) {
        return rc;
    }

    for (i = 0; i < n; i++) {
        if (p[i] >= 0x80 || p[i] == '.' || v3xy_email_atext(p[i])) {
            continue;
        }

        return p[i] == '@' ? V3XY_EMAIL_NOT_ONE_AT : V3XY_EMAIL_LOCAL_BAD;
    }

    if (n == 0 || p[0] == '.' || p[n - 1] == '.') {
        return V3XY_EMAIL_LOCAL_BAD;
    }

    for (i = 1; i < n; i++) {
        if (p[i] == '.' && p[i - 1] == '.') {
            return V3XY_EMAIL_LOCAL_BAD;
        }
    }

    /*
     * The mailbox is what comes before the first "+" ("a+b+c" is "a"'s);
     * it must be one of its own, in either mode, so that no key is made
     * of a tag alone.
     */

    tag = memchr(p, '+', n);
    mailbox = (tag == NULL) ? n : (size_t) (tag - p);

    if (mailbox == 0) {
        return V3XY_EMAIL_TAG_ONLY;
    }

    if (p[mailbox - 1] == '.') {
        return V3XY_EMAIL_LOCAL_BAD;
    }

    if (!(flags & V3XY_EMAIL_KEEP_SUBADDRESS)) {
        n = mailbox;
    }

    if (n > V3XY_EMAIL_MAX) {
        return V3XY_EMAIL_TOO_LONG;
    }

    memcpy(out, p, n);
    *out_len = n;

    return V3XY_EMAIL_OK;
}


/*
 * The domain as DNS looks it up: UTS #46 mapping (case, width, NFC,
 * U+3002 as a dot) and IDNA2008 checks, then ASCII with "xn--" labels, so
 * that a U-label and its A-label are one domain; one trailing dot off.
 */

static v3xy_email_status_e
v3xy_email_domain(const unsigned char *s, size_t n, unsigned char *out,
    size_t *out_len)
{
    int                   rc;
    char                  name[V3XY_EMAIL_MAX + 1];
    size_t                i, m;
    uint8_t              *ascii;
    unsigned char         c;
    v3xy_email_status_e   status;

    /*
     * ASCII other than letters, digits, "-" and "." is refused here, and
     * what UTS #46 maps into such ASCII (U+FF20 FULLWIDTH COMMERCIAL AT)
     * is refused after it: libidn2's STD3 rules would drop them silently.
     */

    for (i = 0; i < n; i++) {
        c = s[i];

        if (c < 0x80 && !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                          || (c >= '0' && c <= '9') || c == '-' || c == '.'))
        {
            return V3XY_EMAIL_DOMAIN_BAD;
        }
    }

    memcpy(name, s, n);
    name[n] = '\0';

    rc = idn2_lookup_u8((const uint8_t *) name, &ascii,
                        IDN2_NONTRANSITIONAL);

    if (rc != IDN2_OK) {
        return V3XY_EMAIL_DOMAIN_BAD;
    }

    m = strlen((const char *) ascii);

    if (m > 0 && ascii[m - 1] == '.') {
        m--;
    }

    status = V3XY_EMAIL_DOMAIN_BAD;

    if (m > 0 && m <= V3XY_EMAIL_MAX && v3xy_email_host(ascii, m)) {
        memcpy(out, ascii, m);
        *out_len = m;
        status = V3XY_EMAIL_OK;
    }

    idn2_free(ascii);

    return status;
}


/* lower-case LDH labels, none empty */

static int
v3xy_email_host(const unsigned char *s, size_t n)
{
    size_t         i;
    unsigned char  c;

    if (s[0] == '.' || s[n - 1] == '.') {
        return 0;
    }

    for (i = 0; i < n; i++) {
        c = s[i];

        if (c == '.') {
            if (s[i - 1] == '.') {
                return 0;
            }

            continue;
        }

        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
            return 0;
        }
    }

    return 1;
}


const char *
v3xy_email_status_text(v3xy_email_status_e status)
{
    switch (status) {

    case V3XY_EMAIL_OK:
        return "ok";

    case V3XY_EMAIL_EMPTY:
        return "The \"email\" field is empty.";

    case V3XY_EMAIL_TOO_LONG:
        return "The \"email\" field is longer than 254 characters.";

    case V3XY_EMAIL_NOT_UTF8:
        return "The \"email\" field is not valid UTF-8.";

    case V3XY_EMAIL_INVISIBLE:
        return "The \"email\" field holds white space, control or "
               "invisible characters.";

    case V3XY_EMAIL_NOT_ONE_AT:
        return "The \"email\" field is not an email address.";

    case V3XY_EMAIL_LOCAL_BAD:
        return "The \"email\" field must be a plain address (local@domain), "
               "without display name, comment or quotes.";

    case V3XY_EMAIL_TAG_ONLY:
        return "The \"email\" field has no mailbox before its \"+\".";

    case V3XY_EMAIL_DOMAIN_BAD:
        return "The domain of the \"email\" field is not a host name.";
    }

    return "The \"email\" field is not an email address.";
}
