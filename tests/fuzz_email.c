/*
 * libFuzzer target for src/v3xy_email.c: the canonical address.
 *
 * Input: the address, as the "email" string of a JSON body would give it.
 * Besides the sanitizers' findings, it aborts when a promise of
 * v3xy_email.h is broken:
 *   - an accepted address gives 1 to V3XY_EMAIL_MAX bytes with one "@",
 *     neither first nor last, and no ASCII upper case, white space,
 *     control, quote, parenthesis or angle bracket;
 *   - the canonical form is a fixed point: given again, it is accepted
 *     and comes back unchanged (in both modes), so that a key is never
 *     split by folding it twice;
 *   - fold and keep differ only by the "+tag": the key kept, folded, is
 *     the folded key; a mode refuses what the other accepts only as too
 *     long.
 *
 * Built and run by "make fuzz" (FUZZ_SECONDS=60), on a copy of the seed
 * corpus tests/fuzz/email/ in build/fuzz/email.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "v3xy_email.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static void
check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_email: broken: %s\n", what);
        abort();
    }
}


static void
check_form(const unsigned char *s, size_t n)
{
    size_t         i, at;
    unsigned char  c;

    check(n > 0 && n <= V3XY_EMAIL_MAX, "length");

    at = 0;

    for (i = 0; i < n; i++) {
        c = s[i];

        if (c == '@') {
            at++;
            check(i > 0 && i < n - 1, "an empty side");
        }

        check(!(c >= 'A' && c <= 'Z'), "ASCII upper case");
        check(c > 0x20 && c != 0x7f, "ASCII white space or control");
        check(strchr("\"()<>[]\\,;:", c) == NULL,
              "a quote, parenthesis or bracket");
    }

    check(at == 1, "not one @");
}


static void
check_fixed(const unsigned char *s, size_t n, unsigned flags)
{
    size_t               len;
    unsigned char        out[V3XY_EMAIL_MAX];
    v3xy_email_status_e  rc;

    rc = v3xy_email_canonical(s, n, flags, out, &len);

    check(rc == V3XY_EMAIL_OK, "the canonical form is refused");
    check(len == n && memcmp(out, s, n) == 0,
          "the canonical form is not a fixed point");
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t               flen, klen, len;
    unsigned char        fold[V3XY_EMAIL_MAX], keep[V3XY_EMAIL_MAX];
    unsigned char        again[V3XY_EMAIL_MAX];
    v3xy_email_status_e  frc, krc, rc;

    frc = v3xy_email_canonical(data, size, 0, fold, &flen);
    krc = v3xy_email_canonical(data, size, V3XY_EMAIL_KEEP_SUBADDRESS, keep,
                               &klen);

    check(frc <= V3XY_EMAIL_DOMAIN_BAD && krc <= V3XY_EMAIL_DOMAIN_BAD,
          "status out of range");
    check(frc == krc || frc == V3XY_EMAIL_TOO_LONG
          || krc == V3XY_EMAIL_TOO_LONG, "the modes disagree");

    if (frc == V3XY_EMAIL_OK) {
        check_form(fold, flen);
        check(memchr(fold, '+', flen) == NULL
              || memchr(fold, '+', flen) > memchr(fold, '@', flen),
              "a + left in a folded local part");
        check_fixed(fold, flen, 0);
    }

    if (krc == V3XY_EMAIL_OK) {
        check_form(keep, klen);
        check_fixed(keep, klen, V3XY_EMAIL_KEEP_SUBADDRESS);

        rc = v3xy_email_canonical(keep, klen, 0, again, &len);

        if (frc == V3XY_EMAIL_OK) {
            check(rc == V3XY_EMAIL_OK && len == flen
                  && memcmp(again, fold, len) == 0,
                  "the kept key, folded, is not the folded key");
        }
    }

    return 0;
}
