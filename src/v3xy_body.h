/*
 * v3xy_body: fields of a request's JSON body that limits are keyed on.
 *
 * The recipient of POST /developer/verify/send-code is the "email" field
 * of its JSON body; the per-recipient limit counts it lower-cased and
 * trimmed, so that " User@Example.com" and "user@example.com" are one
 * recipient.  Parsing untrusted JSON is left to jansson.
 *
 * nginx-free: C99 and jansson only.
 */

#ifndef V3XY_BODY_H
#define V3XY_BODY_H

#include <stddef.h>


#define V3XY_EMAIL_MAX  254     /* RFC 5321's limit for a path */


typedef enum {
    V3XY_BODY_OK = 0,
    V3XY_BODY_NOT_JSON,         /* not JSON, or not a JSON object */
    V3XY_BODY_NO_EMAIL,         /* no "email" member */
    V3XY_BODY_EMAIL_NOT_STRING,
    V3XY_BODY_EMAIL_EMPTY,      /* empty once trimmed */
    V3XY_BODY_EMAIL_TOO_LONG,
    V3XY_BODY_EMAIL_BAD         /* control characters, no "@" */
} v3xy_body_status_e;


/*
 * Finds the "email" member of the JSON object body[0..len) and writes it,
 * trimmed of white space and lower-cased (ASCII), into out, which holds
 * V3XY_EMAIL_MAX bytes; *out_len is its length.
 */
v3xy_body_status_e v3xy_body_email(const unsigned char *body, size_t len,
    unsigned char *out, size_t *out_len);

/* A message for a status, fit for a client. */
const char *v3xy_body_status_text(v3xy_body_status_e status);

#endif /* V3XY_BODY_H */
