/*
 * v3xy_hold: the hold that a 429's Retry-After asks for (see v3xy_hold.h).
 */

#include "v3xy_hold.h"


#define V3XY_RA_SEC_MAX  4294967296ULL


int
v3xy_retry_after_delta(const unsigned char *s, size_t len, uint64_t *sec)
{
    size_t    i, digits;
    uint64_t  n;

    i = 0;

    while (i < len && (s[i] == ' ' || s[i] == '\t')) {
        i++;
    }

    n = 0;
    digits = 0;

    while (i < len && s[i] >= '0' && s[i] <= '9') {
        if (n < V3XY_RA_SEC_MAX) {
            n = n * 10 + (s[i] - '0');
        }

        digits++;
        i++;
    }

    while (i < len && (s[i] == ' ' || s[i] == '\t')) {
        i++;
    }

    if (digits == 0 || i != len) {
        return -1;
    }

    *sec = (n < V3XY_RA_SEC_MAX) ? n : V3XY_RA_SEC_MAX;

    return 0;
}


uint64_t
v3xy_hold_ms(v3xy_ra_form_e form, uint64_t value, uint64_t now_ms,
    uint64_t max_ms, uint64_t dflt_ms)
{
    uint64_t  ms;

    switch (form) {

    case V3XY_RA_DELTA:
        /* value <= 2^32: no overflow */
        ms = value * 1000;
        break;

    case V3XY_RA_DATE:
        ms = (value > now_ms) ? value - now_ms : 0;
        break;

    default:
        ms = dflt_ms;
        break;
    }

    return (ms < max_ms) ? ms : max_ms;
}
