/*
 * v3xy_resp: a Redis command in RESP, the protocol's own form of a
 * command ("*3\r\n$3\r\nGET\r\n..."), for hiredis's
 * redisAsyncFormattedCommand(): hiredis 0.14 formats an argv with
 * sdscatfmt(), about 400 instructions an argument, which a limiter's
 * EVALSHA of many keys and numbers pays on every call.
 */

#ifndef V3XY_RESP_H
#define V3XY_RESP_H

#include <stddef.h>


/* The length of the RESP form of argv[0..argc) (lengths in argvlen). */
size_t v3xy_resp_len(size_t argc, const char **argv, const size_t *argvlen);

/*
 * Writes it at out, which has v3xy_resp_len() bytes; returns the end.
 */
unsigned char *v3xy_resp_write(unsigned char *out, size_t argc,
    const char **argv, const size_t *argvlen);


#endif /* V3XY_RESP_H */
