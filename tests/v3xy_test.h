/*
 * v3xy_test: what every cmocka unit test of the nginx-free core includes.
 */

#ifndef V3XY_TEST_H
#define V3XY_TEST_H

/* cmocka.h uses these without including them: they go first, in order */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>

#include <cmocka.h>

#include <string.h>


/* The length of a string literal, which may hold NUL bytes. */
#define V3XY_LIT_LEN(s)  (sizeof(s) - 1)

/* Asserts that buf[0..len) is exactly the C string s, showing both if not. */
#define v3xy_assert_buf_str(buf, len, s)                                     \
    do {                                                                      \
        if ((size_t) (len) != strlen(s)                                       \
            || memcmp((buf), (s), strlen(s)) != 0)                            \
        {                                                                     \
            print_error("got  (%u) \"%.*s\"\nwant (%u) \"%s\"\n",             \
                        (unsigned) (len), (int) (len),                        \
                        (const char *) (buf), (unsigned) strlen(s), (s));     \
            fail();                                                           \
        }                                                                     \
    } while (0)

#endif /* V3XY_TEST_H */
