/*
 * test_slots: the bounded exact window (src/v3xy_slots.c) against a
 * brute-force sliding log over random arrival sequences: never more than
 * N in any window, a refusal only with N admissions in the last W + w ms,
 * remaining and Retry-After exact for the limiter's own rule; across
 * clock steps and reloads that change the rate; and which algorithm
 * v3xy_limiter.c gives a rate.
 */

#include "v3xy_test.h"

#include <stdlib.h>
#include <string.h>

#include "v3xy_limiter.h"


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
run(uint64_t limit, uint64_t window, uint64_t max_gap, unsigned seed)
{
    size_t           i;
    uint64_t         now, w, b, s, lo;
    uint64_t         st[V3XY_SLOTS_STATE_SIZE / 8];
    uint64_t         probe[V3XY_SLOTS_STATE_SIZE / 8];
    v3xy_rate_t      rate;
    v3xy_verdict_t   v, pv;
    static log_t     log;

    rate.limit = limit;
    rate.window_ms = window;
    rate.burst = 0;

    b = v3xy_slots_count(limit);
    w = v3xy_slots_width(&rate);

    assert_int_equal(w, (window + b - 1) / b);

    v3xy_slots_init(st);
    log.n = 0;
    srand(seed);
    now = 1000000;

    for (i = 0; i < ARRIVALS; i++) {
        now += (uint64_t) rand() % (max_gap + 1);

        v3xy_slots_check(st, &rate, now, &v);

        s = now / w;
        lo = (s >= b) ? (s - b) * w : 0;

        /* the limiter's rule: fewer than N in slots s - B .. s */
        assert_int_equal(v.admitted, log_count(&log, lo, now) < limit);

        if (v.admitted) {
            assert_int_equal(v.remaining,
                             limit - log_count(&log, lo, now) - 1);
            assert_int_equal(v.retry_ms, 0);
            assert_true(v.reset_ms >= 1);
            assert_int_equal(v3xy_slots_commit(st, &rate, now), 0);
            log.t[log.n++] = now;

            /* never more than N in any window ending now */
            assert_true(log_count(&log, now >= window ? now - window + 1 : 0,
                                  now) <= limit);
            continue;
        }

        /* refused: N admissions in the last B * w + w ms (W + w where B
         * divides W) */
        assert_true(log_count(&log, now > (b + 1) * w ? now - (b + 1) * w
                                                      : 0,
                              now)
                    >= limit);
        assert_int_equal(v.remaining, 0);
        assert_true(v.retry_ms >= 1);
        assert_int_equal(v.retry_ms, v.reset_ms);

        /* Retry-After exact: refused just before, admitted at it */
        memcpy(probe, st, sizeof(st));
        v3xy_slots_check(probe, &rate, now + v.retry_ms - 1, &pv);
        assert_false(pv.admitted);
        v3xy_slots_check(probe, &rate, now + v.retry_ms, &pv);
        assert_true(pv.admitted);

        assert_int_equal(v3xy_slots_commit(st, &rate, now), -1);
    }
}


static void
test_random_against_log(void **state)
{
    (void) state;

    /* 8-bit counters, B = 55 */
    run(10, 1000, 60, 1);
    run(10, 1000, 200, 2);
    run(1, 500, 300, 4);
    run(5, 1000, 150, 5);
    run(50, 1000, 5, 6);
    run(255, 60000, 10, 7);

    /* 16-bit counters, B = 27: the API's 300 a minute */
    run(300, 60000, 300, 3);
    run(256, 1000, 1, 8);

    /* a day: slots of 53 minutes */
    run(1000, 86400000, 200000, 9);

    /* 30 days: slots of 13 h 5 min, 26 h 40 min, 2 d 7 h 23 min */
    run(200, 2592000000ULL, 3000000, 10);
    run(1000, 2592000000ULL, 6000000, 11);
    run(3000, 2592000000ULL, 1000000, 12);
}


static void
test_geometry(void **state)
{
    v3xy_rate_t  rate = { 300, 60000, 0 };

    (void) state;

    assert_int_equal(v3xy_slots_count(1), 55);
    assert_int_equal(v3xy_slots_count(255), 55);
    assert_int_equal(v3xy_slots_count(256), 27);
    assert_int_equal(v3xy_slots_count(65535), 27);
    assert_int_equal(v3xy_slots_count(65536), 13);
    assert_int_equal(v3xy_slots_count(1000000), 13);

    /* 300r/m: 27 slots of 2,223 ms */
    assert_int_equal(v3xy_slots_width(&rate), 2223);

    rate.window_ms = 10;
    rate.limit = 10;
    assert_int_equal(v3xy_slots_width(&rate), 1);

    /* 30 days: each width below 2^32 ms, as Redis's state keeps it (I4) */
    rate.window_ms = 2592000000ULL;
    rate.limit = 200;
    assert_int_equal(v3xy_slots_width(&rate), 47127273);
    rate.limit = 1000;
    assert_int_equal(v3xy_slots_width(&rate), 96000000);
    rate.limit = 1000000;
    assert_int_equal(v3xy_slots_width(&rate), 199384616);
}


/* the 32-bit counters: a million admissions in one slot, then none */
static void
test_large_limit(void **state)
{
    uint64_t        st[V3XY_SLOTS_STATE_SIZE / 8], i, t;
    v3xy_rate_t     rate = { 1000000, 3600000, 0 };
    v3xy_verdict_t  v;

    (void) state;

    t = 5000000000ULL;
    v3xy_slots_init(st);

    for (i = 0; i < 1000000; i++) {
        assert_int_equal(v3xy_slots_commit(st, &rate, t), 0);
    }

    v3xy_slots_check(st, &rate, t, &v);
    assert_false(v.admitted);

    /* they leave together, one slot's width after the window's end */
    v3xy_slots_check(st, &rate, t + v.retry_ms, &v);
    assert_true(v.admitted);
    assert_int_equal(v.remaining, 999999);
    assert_true(v.reset_ms > 0);
}


static void
test_idle_and_clock_steps(void **state)
{
    uint64_t        st[V3XY_SLOTS_STATE_SIZE / 8], t;
    v3xy_rate_t     rate = { 3, 60000, 0 };
    v3xy_verdict_t  v;

    (void) state;

    /* B = 55: slots of 1,091 ms */
    t = 200000000;

    v3xy_slots_init(st);
    assert_true(v3xy_slots_idle(st, &rate, t));

    assert_int_equal(v3xy_slots_commit(st, &rate, t), 0);
    assert_false(v3xy_slots_idle(st, &rate, t));
    assert_false(v3xy_slots_idle(st, &rate, t + 60000));
    assert_true(v3xy_slots_idle(st, &rate, t + 62000));

    /* a clock a little behind: judged at the newest slot, still counted */
    assert_int_equal(v3xy_slots_commit(st, &rate, t - 1000), 0);
    assert_int_equal(v3xy_slots_commit(st, &rate, t - 500), 0);
    v3xy_slots_check(st, &rate, t - 1, &v);
    assert_false(v.admitted);

    /* far behind (a day): the counts move with it, still refused */
    v3xy_slots_check(st, &rate, t - 86400000, &v);
    assert_false(v.admitted);
    assert_true(v.retry_ms <= 62000);
    assert_false(v3xy_slots_idle(st, &rate, t - 86400000));
    assert_true(v3xy_slots_idle(st, &rate, t - 86400000 + 62000));
}


/*
 * A reload that changes the rate: the same slots keep their counts for
 * any limit of the same counter width; another width or window moves
 * each count to the new slot of its old slot's last ms, so the new
 * limiter never admits more than its N in any window counting the old
 * admissions that the old state held (checked against a log of them at
 * their new times).  A longer window cannot count admissions that the
 * old one had already let go.
 */
static void
convert_and_check(uint64_t l1, uint64_t w1, uint64_t l2, uint64_t w2,
    unsigned seed)
{
    size_t          i, j, n1;
    uint64_t        a[V3XY_SLOTS_STATE_SIZE / 8];
    uint64_t        b[V3XY_SLOTS_STATE_SIZE / 8];
    uint64_t        now, sw, from, b1;
    v3xy_rate_t     r1 = { l1, w1, 0 }, r2 = { l2, w2, 0 };
    v3xy_verdict_t  v;
    static log_t    log;

    v3xy_slots_init(a);
    srand(seed);
    log.n = 0;
    now = 3000000;

    for (i = 0; i < 300; i++) {
        now += (uint64_t) rand() % 200;

        if (v3xy_slots_commit(a, &r1, now) == 0) {
            /* where the conversion will put it: its slot's last ms */
            sw = v3xy_slots_width(&r1);
            log.t[log.n++] = (now / sw + 1) * sw - 1;
        }
    }

    /* what the old state still holds: its newest slot and B before */

    sw = v3xy_slots_width(&r1);
    b1 = v3xy_slots_count(l1);

    for (i = 0, j = 0; i < log.n; i++) {
        if (log.t[i] / sw + b1 >= a[0] - 1) {
            log.t[j++] = log.t[i];
        }
    }

    log.n = j;
    n1 = log.n;

    v3xy_slots_convert(b, &r2, a, &r1);

    for (i = 0; i < 2000; i++) {
        now += (uint64_t) rand() % 100;

        v3xy_slots_check(b, &r2, now, &v);

        if (v.admitted) {
            assert_int_equal(v3xy_slots_commit(b, &r2, now), 0);
            log.t[log.n++] = now;

            from = now >= w2 ? now - w2 + 1 : 0;
            assert_true(log_count(&log, from, now) <= l2);
        }
    }

    assert_true(log.n > n1);
}


static void
test_convert(void **state)
{
    uint64_t        a[V3XY_SLOTS_STATE_SIZE / 8];
    uint64_t        b[V3XY_SLOTS_STATE_SIZE / 8];
    v3xy_rate_t     r10 = { 10, 60000, 0 }, r20 = { 20, 60000, 0 };
    v3xy_rate_t     r300 = { 300, 60000, 0 };
    v3xy_verdict_t  v;

    (void) state;

    /* same width and window: a copy, whatever the limit */
    v3xy_slots_init(a);
    assert_int_equal(v3xy_slots_commit(a, &r10, 7000000), 0);
    v3xy_slots_convert(b, &r20, a, &r10);
    assert_memory_equal(a, b, V3XY_SLOTS_STATE_SIZE);

    /* 8-bit to 16-bit counters: the admission still counts */
    v3xy_slots_convert(b, &r300, a, &r10);
    v3xy_slots_check(b, &r300, 7000000, &v);
    assert_true(v.admitted);
    assert_int_equal(v.remaining, 298);

    /* a fresh state stays fresh */
    v3xy_slots_init(a);
    v3xy_slots_convert(b, &r300, a, &r10);
    assert_true(v3xy_slots_idle(b, &r300, 7000000));

    convert_and_check(10, 60000, 300, 60000, 11);
    convert_and_check(300, 60000, 10, 60000, 12);
    convert_and_check(20, 60000, 20, 30000, 13);
    convert_and_check(20, 30000, 40, 120000, 14);
    convert_and_check(1000, 60000, 50, 1000, 15);
}


static void
test_limiter_chooses(void **state)
{
    uint64_t     st[V3XY_LIMITER_STATE_MAX / 8];
    v3xy_rate_t  r;

    (void) state;

    r.window_ms = 60000;
    r.burst = 0;

    for (r.limit = 1; r.limit <= 1000000; r.limit = r.limit * 3 + 1) {
        assert_int_equal(v3xy_limiter_kind(&r),
                         r.limit <= 6 ? V3XY_LIMITER_RING
                                      : V3XY_LIMITER_SLOTS);
        assert_true(v3xy_limit_state_size(&r) <= V3XY_LIMITER_STATE_MAX);
    }

    r.limit = 6;
    assert_int_equal(v3xy_limit_state_size(&r), 64);
    r.limit = 7;
    assert_int_equal(v3xy_limit_state_size(&r), 64);

    r.burst = 10;
    assert_int_equal(v3xy_limiter_kind(&r), V3XY_LIMITER_GCRA);
    assert_int_equal(v3xy_limit_state_size(&r), 8);

    /* a change of algorithm starts afresh */
    r.burst = 0;
    r.limit = 3;
    v3xy_limit_init(st, &r);
    assert_int_equal(v3xy_limit_commit(st, &r, 100), 0);

    {
        uint64_t     d[V3XY_LIMITER_STATE_MAX / 8];
        v3xy_rate_t  r2 = { 30, 60000, 0 };

        v3xy_limit_convert(d, &r2, st, &r);
        assert_true(v3xy_limit_idle(d, &r2, 100));

        /* ring to ring keeps the admission */
        r2.limit = 5;
        v3xy_limit_convert(d, &r2, st, &r);
        assert_false(v3xy_limit_idle(d, &r2, 100));
    }
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_against_log),
        cmocka_unit_test(test_geometry),
        cmocka_unit_test(test_large_limit),
        cmocka_unit_test(test_idle_and_clock_steps),
        cmocka_unit_test(test_convert),
        cmocka_unit_test(test_limiter_chooses),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
