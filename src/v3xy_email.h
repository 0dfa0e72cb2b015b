/*
 * v3xy_email: the canonical form of an email address, the key of the
 * per-recipient limit.
 *
 * One mailbox must be one key, however a client spells it; otherwise a
 * sender gets a fresh bucket per spelling.  An address that is not a plain
 * local@domain (a display name, a comment, a quoted local part, not one
 * "@", white space, control, format or other invisible characters,
 * invalid UTF-8) is refused rather than guessed at.  What one mailbox
 * commonly receives as one is folded:
 *
 *   - the local part: Unicode compatibility forms and case (NFKC and full
 *     case folding, utf8proc), so "K" and U+212A KELVIN SIGN are one "k";
 *   - a "+tag" subaddress, unless the caller keeps it;
 *   - the domain: its IDNA2008 (UTS #46, non-transitional) lookup form,
 *     libidn2, in ASCII ("xn--" labels), without a trailing dot.
 *
 * Dots in the local part are not folded (only some providers ignore
 * them), nor are look-alike letters of other scripts (they are other
 * mailboxes).
 *
 * nginx-free: C99, utf8proc and libidn2.
 */

#ifndef V3XY_EMAIL_H
#define V3XY_EMAIL_H

#include <stddef.h>


#define V3XY_EMAIL_MAX  254     /* RFC 5321's limit for a path */

/* flags of v3xy_email_canonical() */
#define V3XY_EMAIL_KEEP_SUBADDRESS  0x01


typedef enum {
    V3XY_EMAIL_OK = 0,
    V3XY_EMAIL_EMPTY,           /* empty once trimmed */
    V3XY_EMAIL_TOO_LONG,        /* the input or its canonical form */
    V3XY_EMAIL_NOT_UTF8,
    V3XY_EMAIL_INVISIBLE,       /* white space, control, format, bidi,
                                   default-ignorable, private use,
                                   unassigned */
    V3XY_EMAIL_NOT_ONE_AT,      /* not one "@", or nothing on one side */
    V3XY_EMAIL_LOCAL_BAD,       /* not a dot-atom: quotes, comments,
                                   angle brackets, stray dots */
    V3XY_EMAIL_TAG_ONLY,        /* no mailbox before its "+" */
    V3XY_EMAIL_DOMAIN_BAD       /* not a host name */
} v3xy_email_status_e;


/*
 * The canonical form of the address in[0..len), trimmed of ASCII white
 * space at both ends, into out, which holds V3XY_EMAIL_MAX bytes;
 * *out_len is its length.  flags: V3XY_EMAIL_KEEP_SUBADDRESS or 0.
 */
v3xy_email_status_e v3xy_email_canonical(const unsigned char *in, size_t len,
    unsigned flags, unsigned char *out, size_t *out_len);

/* A message for a status, fit for a client: it does not quote the input. */
const char *v3xy_email_status_text(v3xy_email_status_e status);

#endif /* V3XY_EMAIL_H */
