/*
 * v3xy_body: fields of a request's JSON body that limits are keyed on.
 */

#include <string.h>

#include <jansson.h>

#include "v3xy_body.h"


v3xy_body_status_e
v3xy_body_email(const unsigned char *body, size_t len, unsigned char *out,
    size_t *out_len)
{
    size_t               i, n;
    json_t              *root, *email;
    const char          *s;
    json_error_t         err;
    unsigned char        c;
    v3xy_body_status_e   rc;

    root = json_loadb((const char *) body, len, JSON_REJECT_DUPLICATES,
                      &err);

    if (root == NULL) {
        return V3XY_BODY_NOT_JSON;
    }

    if (!json_is_object(root)) {
        json_decref(root);
        return V3XY_BODY_NOT_JSON;
    }

    email = json_object_get(root, "email");

    if (email == NULL) {
        rc = V3XY_BODY_NO_EMAIL;
        goto done;
    }

    if (!json_is_string(email)) {
        rc = V3XY_BODY_EMAIL_NOT_STRING;
        goto done;
    }

    s = json_string_value(email);
    n = json_string_length(email);

    while (n > 0 && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')) {
        s++;
        n--;
    }

    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'
                     || s[n - 1] == '\r' || s[n - 1] == '\n'))
    {
        n--;
    }

    if (n == 0) {
        rc = V3XY_BODY_EMAIL_EMPTY;
        goto done;
    }

    if (n > V3XY_EMAIL_MAX) {
        rc = V3XY_BODY_EMAIL_TOO_LONG;
        goto done;
    }

    if (memchr(s, '@', n) == NULL) {
        rc = V3XY_BODY_EMAIL_BAD;
        goto done;
    }

    for (i = 0; i < n; i++) {
        c = (unsigned char) s[i];

        if (c < 0x20 || c == 0x7f) {
            rc = V3XY_BODY_EMAIL_BAD;
            goto done;
        }

        out[i] = (c >= 'A' && c <= 'Z') ? (unsigned char) (c | 0x20) : c;
    }

    *out_len = n;
    rc = V3XY_BODY_OK;

done:

    json_decref(root);

    return rc;
}


const char *
v3xy_body_status_text(v3xy_body_status_e status)
{
    switch (status) {

    case V3XY_BODY_OK:
        return "ok";

    case V3XY_BODY_NOT_JSON:
        return "The request body must be a JSON object.";

    case V3XY_BODY_NO_EMAIL:
        return "The request body has no \"email\" field.";

    case V3XY_BODY_EMAIL_NOT_STRING:
        return "The \"email\" field must be a string.";

    case V3XY_BODY_EMAIL_EMPTY:
        return "The \"email\" field is empty.";

    case V3XY_BODY_EMAIL_TOO_LONG:
        return "The \"email\" field is longer than 254 characters.";

    case V3XY_BODY_EMAIL_BAD:
        return "The \"email\" field is not an email address.";
    }

    return "The request body is invalid.";
}
