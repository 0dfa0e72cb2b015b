/*
 * v3xy_json: the JSON of the API's error contract.
 */

#include <string.h>

#include "v3xy_json.h"


#define V3XY_JSON_HEAD   "{\"success\":false,\"error\":\""
#define V3XY_JSON_MID    "\",\"code\":\""
#define V3XY_JSON_TAIL   "\"}"


static const char  v3xy_hex[] = "0123456789abcdef";


size_t
v3xy_json_escaped_len(const unsigned char *s, size_t len)
{
    size_t  i, n;

    n = len;

    for (i = 0; i < len; i++) {
        if (s[i] == '"' || s[i] == '\\' || s[i] == '\n' || s[i] == '\r'
            || s[i] == '\t')
        {
            n += 1;

        } else if (s[i] < 0x20 || s[i] == 0x7f) {
            n += 5;
        }
    }

    return n;
}


unsigned char *
v3xy_json_escape(unsigned char *p, const unsigned char *s, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        switch (s[i]) {

        case '"':
        case '\\':
            *p++ = '\\';
            *p++ = s[i];
            break;

        case '\n':
            *p++ = '\\';
            *p++ = 'n';
            break;

        case '\r':
            *p++ = '\\';
            *p++ = 'r';
            break;

        case '\t':
            *p++ = '\\';
            *p++ = 't';
            break;

        default:
            if (s[i] < 0x20 || s[i] == 0x7f) {
                *p++ = '\\';
                *p++ = 'u';
                *p++ = '0';
                *p++ = '0';
                *p++ = v3xy_hex[s[i] >> 4];
                *p++ = v3xy_hex[s[i] & 0x0f];

            } else {
                *p++ = s[i];
            }
        }
    }

    return p;
}


size_t
v3xy_json_error_len(const unsigned char *msg, size_t msg_len,
    const unsigned char *code, size_t code_len)
{
    return sizeof(V3XY_JSON_HEAD) - 1 + v3xy_json_escaped_len(msg, msg_len)
           + sizeof(V3XY_JSON_MID) - 1 + v3xy_json_escaped_len(code, code_len)
           + sizeof(V3XY_JSON_TAIL) - 1;
}


unsigned char *
v3xy_json_error(unsigned char *p, const unsigned char *msg, size_t msg_len,
    const unsigned char *code, size_t code_len)
{
    memcpy(p, V3XY_JSON_HEAD, sizeof(V3XY_JSON_HEAD) - 1);
    p += sizeof(V3XY_JSON_HEAD) - 1;

    p = v3xy_json_escape(p, msg, msg_len);

    memcpy(p, V3XY_JSON_MID, sizeof(V3XY_JSON_MID) - 1);
    p += sizeof(V3XY_JSON_MID) - 1;

    p = v3xy_json_escape(p, code, code_len);

    memcpy(p, V3XY_JSON_TAIL, sizeof(V3XY_JSON_TAIL) - 1);
    p += sizeof(V3XY_JSON_TAIL) - 1;

    return p;
}
