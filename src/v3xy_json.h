/*
 * v3xy_json: the JSON of the API's error contract,
 *
 *     {"success":false,"error":"<message>","code":"<code>"}
 *
 * rendered with every string escaped, so that a message that quotes
 * client input can never break out of its string.
 *
 * nginx-free: C99 only.
 */

#ifndef V3XY_JSON_H
#define V3XY_JSON_H

#include <stddef.h>


/* The length of s[0..len) once escaped as the inside of a JSON string. */
size_t v3xy_json_escaped_len(const unsigned char *s, size_t len);

/* Escapes s[0..len) into p; returns the end of what was written. */
unsigned char *v3xy_json_escape(unsigned char *p, const unsigned char *s,
    size_t len);

/* The length of the error body for this message and code. */
size_t v3xy_json_error_len(const unsigned char *msg, size_t msg_len,
    const unsigned char *code, size_t code_len);

/*
 * Writes the error body into p, which holds v3xy_json_error_len() bytes;
 * returns the end of what was written.
 */
unsigned char *v3xy_json_error(unsigned char *p, const unsigned char *msg,
    size_t msg_len, const unsigned char *code, size_t code_len);

#endif /* V3XY_JSON_H */
