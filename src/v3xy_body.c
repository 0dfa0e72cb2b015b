/*
 * v3xy_body: fields of a request's JSON body that limits are keyed on.
 */

#include <jansson.h>

#include "v3xy_body.h"


v3xy_body_status_e
v3xy_body_email(const unsigned char *body, size_t len, unsigned flags,
    unsigned char *out, size_t *out_len, v3xy_email_status_e *why)
{
    json_t              *root, *email;
    json_error_t         err;
    v3xy_body_status_e   rc;

    *why = V3XY_EMAIL_OK;

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

    *why = v3xy_email_canonical(
               (const unsigned char *) json_string_value(email),
               json_string_length(email), flags, out, out_len);

    rc = (*why == V3XY_EMAIL_OK) ? V3XY_BODY_OK : V3XY_BODY_EMAIL_BAD;

done:

    json_decref(root);

    return rc;
}


const char *
v3xy_body_status_text(v3xy_body_status_e status, v3xy_email_status_e why)
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

    case V3XY_BODY_EMAIL_BAD:
        return v3xy_email_status_text(why);
    }

    return "The request body is invalid.";
}
