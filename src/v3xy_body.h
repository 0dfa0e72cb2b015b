/*
 * v3xy_body: fields of a request's JSON body that limits are keyed on.
 *
 * The recipient of POST /developer/verify/send-code is the "email" field
 * of its JSON body; the per-recipient limit counts it in its canonical
 * form (v3xy_email.h), so that " User@Example.com", "user+1@example.com"
 * and "user@example.com." are one recipient.  Parsing untrusted JSON is
 * left to jansson.
 *
 * nginx-free: C99, jansson and v3xy_email.
 */

#ifndef V3XY_BODY_H
#define V3XY_BODY_H

#include <stddef.h>

#include "v3xy_email.h"


typedef enum {
    V3XY_BODY_OK = 0,
    V3XY_BODY_NOT_JSON,         /* not JSON, or not a JSON object */
    V3XY_BODY_NO_EMAIL,         /* no "email" member */
    V3XY_BODY_EMAIL_NOT_STRING,
    V3XY_BODY_EMAIL_BAD         /* not an address: *why says how */
} v3xy_body_status_e;


/*
 * Finds the "email" member of the JSON object body[0..len) and writes its
 * canonical form (v3xy_email_canonical() with flags) into out, which
 * holds V3XY_EMAIL_MAX bytes; *out_len is its length.  If it is not an
 * address: V3XY_BODY_EMAIL_BAD, and *why says what is wrong.
 */
v3xy_body_status_e v3xy_body_email(const unsigned char *body, size_t len,
    unsigned flags, unsigned char *out, size_t *out_len,
    v3xy_email_status_e *why);

/* A message for a status (and why, for V3XY_BODY_EMAIL_BAD), fit for a
 * client: it never quotes the address. */
const char *v3xy_body_status_text(v3xy_body_status_e status,
    v3xy_email_status_e why);

#endif /* V3XY_BODY_H */
