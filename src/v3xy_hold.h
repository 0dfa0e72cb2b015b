/*
 * v3xy_hold: how long the API's own 429 holds a key, from its Retry-After
 * (RFC 9110, 10.2.3): delta-seconds or an HTTP-date.
 *
 * The header's value is read by the caller: delta-seconds here
 * (v3xy_retry_after_delta), an HTTP-date by nginx's own parser; then
 * v3xy_hold_ms turns the value into the hold:
 *
 *   delta-seconds  that many seconds; 0 is no hold;
 *   HTTP-date      until then by the caller's clock; a date that is not
 *                  later than now is no hold;
 *   none           no Retry-After, or one that is neither: dflt_ms (0,
 *                  the default: no hold).
 *
 * Every hold is capped at max_ms, so that a broken upstream (or a date
 * years ahead) cannot lock a key out for longer.
 *
 * nginx-free: C99 only.
 */

#ifndef V3XY_HOLD_H
#define V3XY_HOLD_H


#include <stddef.h>
#include <stdint.h>


typedef enum {
    V3XY_RA_NONE = 0,       /* absent, or neither form */
    V3XY_RA_DELTA,          /* value: seconds */
    V3XY_RA_DATE            /* value: the date, Unix ms */
} v3xy_ra_form_e;


/*
 * 0 and *sec if s[0..len) is delta-seconds (1*DIGIT, with optional
 * spaces or tabs around it; more than 2^32 seconds reads as 2^32), else
 * -1.
 */
int v3xy_retry_after_delta(const unsigned char *s, size_t len,
    uint64_t *sec);

/* The hold in ms (0: none) of a Retry-After of this form and value. */
uint64_t v3xy_hold_ms(v3xy_ra_form_e form, uint64_t value, uint64_t now_ms,
    uint64_t max_ms, uint64_t dflt_ms);


#endif /* V3XY_HOLD_H */
