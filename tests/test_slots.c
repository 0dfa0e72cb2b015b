/*
 * test_slots: the bounded exact window (src/v3xy_slots.c) against a
 * brute-force sliding log over random arrival sequences: never more than
 * N in any window, a refusal only with N admissions in the last W + w ms,
 * remaining and Retry-After exact for the limiter's own rule.
 */

#include "v3xy_test.h"

#include <stdlib.h>

#include "v3xy_slots.h"


#define ARRIVALS  4000


typedef struct {
    uint64_t  t[ARRIVALS];
    size_t    n;
} log_t;


/* admissions of the log in [from, to] */
static uint64_t
log_count(const log_t *l, uint64_t from, uint64_t to)
{
    size_t    i;
    uint64_t  c;

    c = 0;

    for (i = 0; i < l->n; i++) {
        if (l->t[i] >= from && l->t[i] <= to) {
            c++;
        }
    }

    return c;
}


static void
run(uint64_t limit, uint64_t window, uint64_t nslots, uint64_t max_gap,
    unsigned seed)
{
    size_t           i, j;
    uint64_t         now, w, s, lo;
    uint64_t         st[1 + V3XY_SLOTS_MAX], probe[1 + V3XY_SLOTS_MAX];
    v3xy_rate_t      rate;
    v3xy_verdict_t   v, pv;
    static log_t     log;

    rate.limit = limit;
    rate.window_ms = window;
    rate.burst = 0;

    w = (window + nslots - 1) / nslots;

    assert_true(v3xy_slots_state_size(nslots) <= sizeof(st));
    v3xy_slots_init(st, nslots);
    log.n = 0;
    srand(seed);
    now = 1000000;

    for (i = 0; i < ARRIVALS; i++) {
        now += (uint64_t) rand() % (max_gap + 1);

        v3xy_slots_check(st, nslots, &rate, now, &v);

        s = now / w;
        lo = (s >= nslots) ? (s - nslots) * w : 0;

        /* the limiter's rule: fewer than N in slots s - B .. s */
        assert_int_equal(v.admitted, log_count(&log, lo, now) < limit);

        if (v.admitted) {
            assert_int_equal(v.remaining,
                             limit - log_count(&log, lo, now) - 1);
            assert_int_equal(v.retry_ms, 0);
            assert_true(v.reset_ms >= 1);
            assert_int_equal(v3xy_slots_commit(st, nslots, &rate, now), 0);
            log.t[log.n++] = now;

            /* never more than N in any window ending now */
            assert_true(log_count(&log, now >= window ? now - window + 1 : 0,
                                  now) <= limit);
            continue;
        }

        /* refused: N admissions in the last B * w + w ms (W + w where B
         * divides W) */
        assert_true(log_count(&log, now - (nslots + 1) * w, now) >= limit);
        assert_int_equal(v.remaining, 0);
        assert_true(v.retry_ms >= 1);
        assert_int_equal(v.retry_ms, v.reset_ms);

        /* Retry-After exact: refused just before, admitted at it */
        for (j = 0; j < 1 + V3XY_SLOTS_MAX; j++) {
            probe[j] = st[j];
        }

        v3xy_slots_check(probe, nslots, &rate, now + v.retry_ms - 1, &pv);
        assert_false(pv.admitted);
        v3xy_slots_check(probe, nslots, &rate, now + v.retry_ms, &pv);
        assert_true(pv.admitted);

        assert_int_equal(v3xy_slots_commit(st, nslots, &rate, now), -1);
    }
}


static void
test_random_against_log(void **state)
{
    (void) state;

    run(10, 1000, 10, 60, 1);
    run(10, 1000, 7, 200, 2);
    run(300, 60000, 60, 300, 3);
    run(1, 500, 5, 300, 4);
    run(5, 1000, 1, 150, 5);
    run(50, 1000, 60, 5, 6);
}


static void
test_state_size_is_bounded(void **state)
{
    (void) state;

    assert_int_equal(v3xy_slots_state_size(60), 8 + 61 * 4);
    assert_int_equal(v3xy_slots_state_size(0), 0);
    assert_int_equal(v3xy_slots_state_size(V3XY_SLOTS_MAX + 1), 0);
}


static void
test_idle_and_clock_steps(void **state)
{
    uint64_t        st[1 + 60], t;
    v3xy_rate_t     rate = { 3, 60000, 0 };
    v3xy_verdict_t  v;

    (void) state;

    t = 200000000;

    v3xy_slots_init(st, 60);
    assert_true(v3xy_slots_idle(st, 60, &rate, t));

    assert_int_equal(v3xy_slots_commit(st, 60, &rate, t), 0);
    assert_false(v3xy_slots_idle(st, 60, &rate, t));
    assert_false(v3xy_slots_idle(st, 60, &rate, t + 60000));
    assert_true(v3xy_slots_idle(st, 60, &rate, t + 62000));

    /* a clock a little behind: judged at the newest slot, still counted */
    assert_int_equal(v3xy_slots_commit(st, 60, &rate, t - 1000), 0);
    assert_int_equal(v3xy_slots_commit(st, 60, &rate, t - 500), 0);
    v3xy_slots_check(st, 60, &rate, t - 1, &v);
    assert_false(v.admitted);

    /* far behind (a day): the counts move with it, still refused */
    v3xy_slots_check(st, 60, &rate, t - 86400000, &v);
    assert_false(v.admitted);
    assert_true(v.retry_ms <= 62000);
    assert_false(v3xy_slots_idle(st, 60, &rate, t - 86400000));
    assert_true(v3xy_slots_idle(st, 60, &rate, t - 86400000 + 62000));
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_against_log),
        cmocka_unit_test(test_state_size_is_bounded),
        cmocka_unit_test(test_idle_and_clock_steps),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
