/*
 * Unit tests of v3xy_resp: written-out RESP for small commands, then
 * hiredis's own formatter (redisFormatCommandArgv, the one this replaces)
 * as the reference for random commands: empty, binary and long arguments,
 * lengths across every number of digits.
 */

#include "v3xy_test.h"

#include <stdlib.h>

#include <hiredis/hiredis.h>

#include "v3xy_resp.h"


static unsigned long  rng = 0x13198a2e03707344UL;


static unsigned long
rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;

    return rng;
}


static void
check(size_t argc, const char **argv, const size_t *argvlen, const char *want,
    size_t wantlen)
{
    size_t          len;
    unsigned char  *buf, *end;

    len = v3xy_resp_len(argc, argv, argvlen);
    assert_int_equal(len, wantlen);

    /* one byte more, to see that nothing is written past the length */
    buf = malloc(len + 1);
    assert_non_null(buf);
    buf[len] = 0xa5;

    end = v3xy_resp_write(buf, argc, argv, argvlen);

    assert_ptr_equal(end, buf + len);
    assert_memory_equal(buf, want, len);
    assert_int_equal(buf[len], 0xa5);

    free(buf);
}


static void
test_written_out(void **state)
{
    const char  *argv[3] = { "GET", "v3xy:{k}", "" };
    size_t       argvlen[3] = { 3, 8, 0 };

    static const char  get[] = "*2\r\n$3\r\nGET\r\n$8\r\nv3xy:{k}\r\n";
    static const char  empty[] =
        "*3\r\n$3\r\nGET\r\n$8\r\nv3xy:{k}\r\n$0\r\n\r\n";
    static const char  none[] = "*0\r\n";

    (void) state;

    check(2, argv, argvlen, get, V3XY_LIT_LEN(get));
    check(3, argv, argvlen, empty, V3XY_LIT_LEN(empty));
    check(0, argv, argvlen, none, V3XY_LIT_LEN(none));
}


/* "\r\n" and NUL inside an argument are bytes like any other */
static void
test_binary(void **state)
{
    const char  *argv[2] = { "SET", "a\r\n\0b" };
    size_t       argvlen[2] = { 3, 5 };

    static const char  want[] = "*2\r\n$3\r\nSET\r\n$5\r\na\r\n\0b\r\n";

    (void) state;

    check(2, argv, argvlen, want, V3XY_LIT_LEN(want));
}


static void
test_random_against_hiredis(void **state)
{
    int          i, len;
    char        *want, *pool, *p;
    size_t       j, argc, argvlen[40];
    const char  *argv[40];

    static const size_t  sizes[] = { 0, 1, 9, 10, 11, 99, 100, 101, 999,
                                     1000, 1001, 9999, 10000, 65536 };

    (void) state;

    pool = malloc(40 * 65536);
    assert_non_null(pool);

    for (j = 0; j < 40 * 65536; j++) {
        pool[j] = (char) rnd();
    }

    for (i = 0; i < 500; i++) {
        argc = 1 + rnd() % 40;
        p = pool;

        for (j = 0; j < argc; j++) {
            argvlen[j] = (rnd() % 4) ? rnd() % 64
                                     : sizes[rnd() % (sizeof(sizes)
                                                      / sizeof(sizes[0]))];
            argv[j] = p;
            p += argvlen[j];
        }

        len = redisFormatCommandArgv(&want, (int) argc, argv, argvlen);
        assert_true(len > 0);

        check(argc, argv, argvlen, want, (size_t) len);

        free(want);
    }

    free(pool);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_written_out),
        cmocka_unit_test(test_binary),
        cmocka_unit_test(test_random_against_hiredis),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
