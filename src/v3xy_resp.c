/*
 * v3xy_resp: "*<argc>\r\n", then "$<len>\r\n<bytes>\r\n" an argument
 * (the Redis protocol's request form: an array of bulk strings).
 */

#include <string.h>

#include "v3xy_resp.h"


static size_t v3xy_resp_digits(size_t n);
static unsigned char *v3xy_resp_number(unsigned char *p, size_t n);


size_t
v3xy_resp_len(size_t argc, const char **argv, const size_t *argvlen)
{
    size_t  i, len;

    (void) argv;

    len = 1 + v3xy_resp_digits(argc) + 2;

    for (i = 0; i < argc; i++) {
        len += 1 + v3xy_resp_digits(argvlen[i]) + 2 + argvlen[i] + 2;
    }

    return len;
}


unsigned char *
v3xy_resp_write(unsigned char *out, size_t argc, const char **argv,
    const size_t *argvlen)
{
    size_t          i;
    unsigned char  *p;

    p = out;

    *p++ = '*';
    p = v3xy_resp_number(p, argc);
    *p++ = '\r';
    *p++ = '\n';

    for (i = 0; i < argc; i++) {
        *p++ = '$';
        p = v3xy_resp_number(p, argvlen[i]);
        *p++ = '\r';
        *p++ = '\n';

        if (argvlen[i]) {
            memcpy(p, argv[i], argvlen[i]);
            p += argvlen[i];
        }

        *p++ = '\r';
        *p++ = '\n';
    }

    return p;
}


static size_t
v3xy_resp_digits(size_t n)
{
    size_t  d;

    for (d = 1; n >= 10; d++) {
        n /= 10;
    }

    return d;
}


static unsigned char *
v3xy_resp_number(unsigned char *p, size_t n)
{
    size_t  d, i;

    d = v3xy_resp_digits(n);

    for (i = d; i > 0; i--) {
        p[i - 1] = (unsigned char) ('0' + n % 10);
        n /= 10;
    }

    return p + d;
}
