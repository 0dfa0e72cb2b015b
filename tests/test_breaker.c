/*
 * Unit tests of v3xy_breaker: the failover's circuit breaker, step by
 * step on a clock the test moves, and under threads that race for the one
 * opening and the one probe.
 */

#include "v3xy_test.h"

#include <pthread.h>

#include "v3xy_breaker.h"


#define FAILS     3
#define COOLDOWN  1000


static void
test_closed_until_fails(void **state)
{
    v3xy_breaker_t  b;

    (void) state;
    memset(&b, 0, sizeof(b));

    assert_int_equal(v3xy_breaker_route(&b, 10, FAILS, COOLDOWN),
                     V3XY_ROUTE_PRIMARY);
    assert_int_equal(v3xy_breaker_failure(&b, 0, 10, FAILS, COOLDOWN), 0);
    assert_int_equal(v3xy_breaker_failure(&b, 0, 11, FAILS, COOLDOWN), 0);
    assert_int_equal(v3xy_breaker_route(&b, 12, FAILS, COOLDOWN),
                     V3XY_ROUTE_PRIMARY);
    assert_int_equal(v3xy_breaker_failure(&b, 0, 12, FAILS, COOLDOWN), 1);
    assert_int_equal(b.state, V3XY_BREAKER_OPEN);
    assert_int_equal(b.openings, 1);

    /* failures of requests that were under way change nothing */
    assert_int_equal(v3xy_breaker_failure(&b, 0, 13, FAILS, COOLDOWN), 0);
    assert_int_equal(b.openings, 1);
}


static void
test_success_resets_count(void **state)
{
    v3xy_breaker_t  b;

    (void) state;
    memset(&b, 0, sizeof(b));

    v3xy_breaker_failure(&b, 0, 1, FAILS, COOLDOWN);
    v3xy_breaker_failure(&b, 0, 2, FAILS, COOLDOWN);
    assert_int_equal(v3xy_breaker_success(&b, 0), 0);
    assert_int_equal(b.fails, 0);

    /* not consecutive: three more are needed */
    assert_int_equal(v3xy_breaker_failure(&b, 0, 3, FAILS, COOLDOWN), 0);
    assert_int_equal(v3xy_breaker_failure(&b, 0, 4, FAILS, COOLDOWN), 0);
    assert_int_equal(b.state, V3XY_BREAKER_CLOSED);
    assert_int_equal(v3xy_breaker_failure(&b, 0, 5, FAILS, COOLDOWN), 1);
}


static void
open_it(v3xy_breaker_t *b, unsigned long now)
{
    int  i;

    memset(b, 0, sizeof(*b));

    for (i = 0; i < FAILS; i++) {
        v3xy_breaker_failure(b, 0, now, FAILS, COOLDOWN);
    }

    assert_int_equal(b->state, V3XY_BREAKER_OPEN);
}


static void
test_open_then_one_probe(void **state)
{
    v3xy_breaker_t  b;

    (void) state;
    open_it(&b, 100);

    assert_int_equal(v3xy_breaker_route(&b, 100, FAILS, COOLDOWN),
                     V3XY_ROUTE_BACKUP);
    assert_int_equal(v3xy_breaker_route(&b, 1099, FAILS, COOLDOWN),
                     V3XY_ROUTE_BACKUP);

    /* the cooldown is over: one probe, the others to the backup */
    assert_int_equal(v3xy_breaker_route(&b, 1100, FAILS, COOLDOWN),
                     V3XY_ROUTE_PROBE);
    assert_int_equal(b.state, V3XY_BREAKER_HALF_OPEN);
    assert_int_equal(v3xy_breaker_route(&b, 1101, FAILS, COOLDOWN),
                     V3XY_ROUTE_BACKUP);
    assert_int_equal(v3xy_breaker_route(&b, 1500, FAILS, COOLDOWN),
                     V3XY_ROUTE_BACKUP);

    /* a success that is not the probe's does not close it */
    assert_int_equal(v3xy_breaker_success(&b, 0), 0);
    assert_int_equal(b.state, V3XY_BREAKER_HALF_OPEN);

    assert_int_equal(v3xy_breaker_success(&b, 1), 1);
    assert_int_equal(b.state, V3XY_BREAKER_CLOSED);
    assert_int_equal(v3xy_breaker_route(&b, 1502, FAILS, COOLDOWN),
                     V3XY_ROUTE_PRIMARY);
}


static void
test_probe_fails_reopens(void **state)
{
    v3xy_breaker_t  b;

    (void) state;
    open_it(&b, 0);

    assert_int_equal(v3xy_breaker_route(&b, 1000, FAILS, COOLDOWN),
                     V3XY_ROUTE_PROBE);
    assert_int_equal(v3xy_breaker_failure(&b, 1, 1200, FAILS, COOLDOWN), 1);
    assert_int_equal(b.state, V3XY_BREAKER_OPEN);
    assert_int_equal(b.openings, 2);

    /* a new cooldown from the probe's failure */
    assert_int_equal(v3xy_breaker_route(&b, 2199, FAILS, COOLDOWN),
                     V3XY_ROUTE_BACKUP);
    assert_int_equal(v3xy_breaker_route(&b, 2200, FAILS, COOLDOWN),
                     V3XY_ROUTE_PROBE);
}


static void
test_silent_probe_given_up(void **state)
{
    v3xy_breaker_t  b;

    (void) state;
    open_it(&b, 0);

    assert_int_equal(v3xy_breaker_route(&b, 1000, FAILS, COOLDOWN),
                     V3XY_ROUTE_PROBE);

    /* the probe's client left: no report; a cooldown later, a new probe */
    assert_int_equal(v3xy_breaker_route(&b, 1999, FAILS, COOLDOWN),
                     V3XY_ROUTE_BACKUP);
    assert_int_equal(v3xy_breaker_route(&b, 2000, FAILS, COOLDOWN),
                     V3XY_ROUTE_PROBE);
}


static void
test_unprobe(void **state)
{
    v3xy_breaker_t  b;

    (void) state;
    open_it(&b, 0);

    assert_int_equal(v3xy_breaker_route(&b, 1000, FAILS, COOLDOWN),
                     V3XY_ROUTE_PROBE);
    assert_int_equal(v3xy_breaker_route(&b, 1001, FAILS, COOLDOWN),
                     V3XY_ROUTE_BACKUP);

    /* the probe was answered from a cache: the next request probes */
    v3xy_breaker_unprobe(&b, 1002);
    assert_int_equal(v3xy_breaker_route(&b, 1003, FAILS, COOLDOWN),
                     V3XY_ROUTE_PROBE);
    assert_int_equal(v3xy_breaker_route(&b, 1004, FAILS, COOLDOWN),
                     V3XY_ROUTE_BACKUP);

    /* closed or open: nothing to give back */
    assert_int_equal(v3xy_breaker_success(&b, 1), 1);
    v3xy_breaker_unprobe(&b, 1005);
    assert_int_equal(b.state, V3XY_BREAKER_CLOSED);
}


static void
test_disabled(void **state)
{
    int             i;
    v3xy_breaker_t  b;

    (void) state;
    memset(&b, 0, sizeof(b));

    for (i = 0; i < 100; i++) {
        assert_int_equal(v3xy_breaker_failure(&b, 0, i, 0, COOLDOWN), 0);
        assert_int_equal(v3xy_breaker_route(&b, i, 0, COOLDOWN),
                         V3XY_ROUTE_PRIMARY);
    }
}


static void
test_clock_wraps(void **state)
{
    unsigned long   now;
    v3xy_breaker_t  b;

    (void) state;
    now = (unsigned long) -500;
    open_it(&b, now);

    assert_int_equal(v3xy_breaker_route(&b, now + 999, FAILS, COOLDOWN),
                     V3XY_ROUTE_BACKUP);
    assert_int_equal(v3xy_breaker_route(&b, now + 1000, FAILS, COOLDOWN),
                     V3XY_ROUTE_PROBE);
}


/* threads race: one opening, one probe */

#define THREADS  8
#define ROUNDS   2000

static v3xy_breaker_t  shared;
static volatile int    opened, probes;


static void *
race_fail(void *arg)
{
    int  i;

    (void) arg;

    for (i = 0; i < ROUNDS; i++) {
        if (v3xy_breaker_failure(&shared, 0, 5, 100000, COOLDOWN)) {
            __sync_add_and_fetch(&opened, 1);
        }
    }

    return NULL;
}


static void *
race_route(void *arg)
{
    int  i;

    (void) arg;

    for (i = 0; i < ROUNDS; i++) {
        if (v3xy_breaker_route(&shared, 5000, 100000, COOLDOWN)
            == V3XY_ROUTE_PROBE)
        {
            __sync_add_and_fetch(&probes, 1);
        }
    }

    return NULL;
}


static void
test_races(void **state)
{
    int        i;
    pthread_t  t[THREADS];

    (void) state;
    memset(&shared, 0, sizeof(shared));

    /* 16,000 failures for a threshold of 100,000: it must not open */
    for (i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_create(&t[i], NULL, race_fail, NULL), 0);
    }

    for (i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
    }

    assert_int_equal(opened, 0);
    assert_int_equal(shared.fails, THREADS * ROUNDS);

    /* threshold reached by exactly one of many concurrent failures */
    shared.fails = 100000 - 1000;

    for (i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_create(&t[i], NULL, race_fail, NULL), 0);
    }

    for (i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
    }

    assert_int_equal(opened, 1);
    assert_int_equal(shared.state, V3XY_BREAKER_OPEN);
    assert_int_equal(shared.openings, 1);

    /* the cooldown is over for everyone at once: exactly one probe */
    for (i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_create(&t[i], NULL, race_route, NULL), 0);
    }

    for (i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
    }

    assert_int_equal(probes, 1);
    assert_int_equal(shared.state, V3XY_BREAKER_HALF_OPEN);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_closed_until_fails),
        cmocka_unit_test(test_success_resets_count),
        cmocka_unit_test(test_open_then_one_probe),
        cmocka_unit_test(test_probe_fails_reopens),
        cmocka_unit_test(test_silent_probe_given_up),
        cmocka_unit_test(test_unprobe),
        cmocka_unit_test(test_disabled),
        cmocka_unit_test(test_clock_wraps),
        cmocka_unit_test(test_races),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
