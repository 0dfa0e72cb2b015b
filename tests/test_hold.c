/*
 * Unit tests of v3xy_hold: Retry-After's delta-seconds read, and the hold
 * it gives in each form, capped.
 */

#include "v3xy_test.h"

#include "v3xy_hold.h"


#define NOW  1700000000000ULL
#define MAX  600000ULL


static int
delta(const char *s, uint64_t *sec)
{
    return v3xy_retry_after_delta((const unsigned char *) s, strlen(s), sec);
}


static void
test_delta_forms(void **state)
{
    uint64_t  sec;

    (void) state;

    assert_int_equal(delta("3", &sec), 0);
    assert_int_equal(sec, 3);
    assert_int_equal(delta("0", &sec), 0);
    assert_int_equal(sec, 0);
    assert_int_equal(delta(" 120\t", &sec), 0);
    assert_int_equal(sec, 120);
    assert_int_equal(delta("007", &sec), 0);
    assert_int_equal(sec, 7);

    /* absurd: saturates, never wraps */
    assert_int_equal(delta("99999999999999999999999999", &sec), 0);
    assert_int_equal(sec, 4294967296ULL);
}


static void
test_delta_refused(void **state)
{
    uint64_t  sec;

    (void) state;

    sec = 77;

    assert_int_equal(delta("", &sec), -1);
    assert_int_equal(delta("  ", &sec), -1);
    assert_int_equal(delta("-1", &sec), -1);
    assert_int_equal(delta("+5", &sec), -1);
    assert_int_equal(delta("1.5", &sec), -1);
    assert_int_equal(delta("5s", &sec), -1);
    assert_int_equal(delta("1 2", &sec), -1);
    assert_int_equal(delta("Wed, 21 Oct 2015 07:28:00 GMT", &sec), -1);

    /* untouched when refused */
    assert_int_equal(sec, 77);
}


static void
test_hold_delta(void **state)
{
    (void) state;

    assert_int_equal(v3xy_hold_ms(V3XY_RA_DELTA, 3, NOW, MAX, 0), 3000);
    assert_int_equal(v3xy_hold_ms(V3XY_RA_DELTA, 0, NOW, MAX, 5000), 0);
    assert_int_equal(v3xy_hold_ms(V3XY_RA_DELTA, 600, NOW, MAX, 0), MAX);
    assert_int_equal(v3xy_hold_ms(V3XY_RA_DELTA, 601, NOW, MAX, 0), MAX);
    assert_int_equal(v3xy_hold_ms(V3XY_RA_DELTA, 4294967296ULL, NOW, MAX,
                                  0), MAX);
}


static void
test_hold_date(void **state)
{
    (void) state;

    assert_int_equal(v3xy_hold_ms(V3XY_RA_DATE, NOW + 4000, NOW, MAX, 0),
                     4000);

    /* now or past: no hold, whatever the default */
    assert_int_equal(v3xy_hold_ms(V3XY_RA_DATE, NOW, NOW, MAX, 1000), 0);
    assert_int_equal(v3xy_hold_ms(V3XY_RA_DATE, NOW - 1, NOW, MAX, 1000), 0);
    assert_int_equal(v3xy_hold_ms(V3XY_RA_DATE, 0, NOW, MAX, 1000), 0);

    /* years ahead: capped */
    assert_int_equal(v3xy_hold_ms(V3XY_RA_DATE, NOW + 86400000ULL * 3650,
                                  NOW, MAX, 0), MAX);
}


static void
test_hold_none(void **state)
{
    (void) state;

    assert_int_equal(v3xy_hold_ms(V3XY_RA_NONE, 0, NOW, MAX, 0), 0);
    assert_int_equal(v3xy_hold_ms(V3XY_RA_NONE, 99, NOW, MAX, 2000), 2000);
    assert_int_equal(v3xy_hold_ms(V3XY_RA_NONE, 0, NOW, 1000, 2000), 1000);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_delta_forms),
        cmocka_unit_test(test_delta_refused),
        cmocka_unit_test(test_hold_delta),
        cmocka_unit_test(test_hold_date),
        cmocka_unit_test(test_hold_none),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
