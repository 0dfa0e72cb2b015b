/*
 * Unit tests of v3xy_window: rate parsing, the exact rolling window and
 * GCRA, at their edges.
 *
 * Expected values are worked out from the definitions in the comments
 * next to them, not read from the code: an admission at t occupies
 * [t, t + W) in the exact window; GCRA admits at now iff
 * TAT <= now + (B - 1) * T and then sets TAT = max(TAT, now) + T, with T
 * in microseconds.  Randomized tests compare with a naive model (every
 * admission kept in a list) and check what the verdict's numbers promise
 * by trying: "remaining r" means exactly r more admissions now, "retry t"
 * means refused at now + t - 1 and admitted at now + t.
 */

#include "v3xy_test.h"

#include <stdio.h>
#include <stdlib.h>

#include "v3xy_window.h"


#define parse_lit(s, l, w)                                                   \
    v3xy_rate_parse((const unsigned char *) (s), V3XY_LIT_LEN(s), l, w)

#define assert_verdict(v, adm, rem, reset, retry)                            \
    verdict_is(&(v), adm, rem, reset, retry, __LINE__)


static uint64_t  rng = 0x9e3779b97f4a7c15ULL;


/* xorshift64*: reproducible across runs and platforms */
static uint64_t
rnd(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;

    return rng * 0x2545f4914f6cdd1dULL;
}


static uint64_t
rnd_below(uint64_t n)
{
    return rnd() % n;
}


/*
 * The ring (whatever the limit) or GCRA: this file tests v3xy_window's
 * two algorithms themselves, not which one a store chooses for a rate
 * (v3xy_limiter.c; the slots: test_slots.c).
 */

static size_t
ring_or_gcra_state_size(const v3xy_rate_t *rate)
{
    return rate->burst ? sizeof(uint64_t)
                       : v3xy_window_state_size(rate->limit);
}


static void
ring_or_gcra_init(void *s, const v3xy_rate_t *rate)
{
    if (rate->burst) {
        *(uint64_t *) s = 0;
        return;
    }

    v3xy_window_init(s, rate->limit);
}


static void
ring_or_gcra_check(void *s, const v3xy_rate_t *rate, uint64_t now,
    v3xy_verdict_t *v)
{
    if (rate->burst) {
        v3xy_gcra_check(s, rate, now, v);
        return;
    }

    v3xy_window_check(s, rate, now, v);
}


static int
ring_or_gcra_commit(void *s, const v3xy_rate_t *rate, uint64_t now)
{
    return rate->burst ? v3xy_gcra_commit(s, rate, now)
                       : v3xy_window_commit(s, rate, now);
}


static int
ring_or_gcra_idle(const void *s, const v3xy_rate_t *rate, uint64_t now)
{
    return rate->burst ? v3xy_gcra_idle(*(const uint64_t *) s, rate, now)
                       : v3xy_window_idle(s, rate, now);
}


/* field by field: the struct has padding */
static int
verdict_equal(const v3xy_verdict_t *a, const v3xy_verdict_t *b)
{
    return a->admitted == b->admitted && a->remaining == b->remaining
           && a->reset_ms == b->reset_ms && a->retry_ms == b->retry_ms;
}


static void
verdict_is(const v3xy_verdict_t *v, int admitted, uint64_t remaining,
    uint64_t reset, uint64_t retry, int line)
{
    if (v->admitted == admitted && v->remaining == remaining
        && v->reset_ms == reset && v->retry_ms == retry)
    {
        return;
    }

    print_error("line %d: got  admitted %d remaining %llu reset %llu "
                "retry %llu\n"
                "line %d: want admitted %d remaining %llu reset %llu "
                "retry %llu\n",
                line, v->admitted, (unsigned long long) v->remaining,
                (unsigned long long) v->reset_ms,
                (unsigned long long) v->retry_ms,
                line, admitted, (unsigned long long) remaining,
                (unsigned long long) reset, (unsigned long long) retry);
    fail();
}


static v3xy_rate_t
rate_of(uint64_t limit, uint64_t window_ms, uint64_t burst)
{
    v3xy_rate_t  r;

    r.limit = limit;
    r.window_ms = window_ms;
    r.burst = burst;

    return r;
}


static uint64_t *
state_new(const v3xy_rate_t *rate)
{
    uint64_t  *s;

    s = malloc(ring_or_gcra_state_size(rate));
    assert_non_null(s);

    ring_or_gcra_init(s, rate);

    return s;
}


static uint64_t *
state_copy(const uint64_t *s, const v3xy_rate_t *rate)
{
    uint64_t  *c;

    c = malloc(ring_or_gcra_state_size(rate));
    assert_non_null(c);

    memcpy(c, s, ring_or_gcra_state_size(rate));

    return c;
}


/* what a store does: check, and commit what check admits */
static v3xy_verdict_t
decide(uint64_t *s, const v3xy_rate_t *rate, uint64_t now)
{
    v3xy_verdict_t  v;

    ring_or_gcra_check(s, rate, now, &v);

    if (v.admitted) {
        assert_int_equal(ring_or_gcra_commit(s, rate, now), 0);
    }

    return v;
}


/* how many admissions in a row a copy of s takes at now */
static uint64_t
peek(const uint64_t *s, const v3xy_rate_t *rate, uint64_t now)
{
    uint64_t        n, *c;
    v3xy_verdict_t  v;

    c = state_copy(s, rate);

    for (n = 0; n <= V3XY_RATE_BURST_MAX; n++) {
        v = decide(c, rate, now);

        if (!v.admitted) {
            break;
        }
    }

    free(c);

    return n;
}


/* rate parsing */

static void
parse_accepts_seconds_minutes_hours(void **state)
{
    uint64_t  limit, window;

    (void) state;

    assert_int_equal(parse_lit("10r/s", &limit, &window), 0);
    assert_int_equal(limit, 10);
    assert_int_equal(window, 1000);

    assert_int_equal(parse_lit("60r/m", &limit, &window), 0);
    assert_int_equal(limit, 60);
    assert_int_equal(window, 60000);

    assert_int_equal(parse_lit("10r/h", &limit, &window), 0);
    assert_int_equal(limit, 10);
    assert_int_equal(window, 3600000);

    assert_int_equal(parse_lit("10000r/d", &limit, &window), 0);
    assert_int_equal(limit, 10000);
    assert_int_equal(window, 86400000);
}


/* k units: up to 30 days, a month's quota as a rolling window */
static void
parse_accepts_k_units_up_to_30_days(void **state)
{
    uint64_t  limit, window;

    (void) state;

    assert_int_equal(parse_lit("10000r/30d", &limit, &window), 0);
    assert_int_equal(limit, 10000);
    assert_int_equal(window, 2592000000ULL);

    assert_int_equal(parse_lit("5r/2h", &limit, &window), 0);
    assert_int_equal(limit, 5);
    assert_int_equal(window, 7200000);

    assert_int_equal(parse_lit("10r/15m", &limit, &window), 0);
    assert_int_equal(window, 900000);

    assert_int_equal(parse_lit("1r/1d", &limit, &window), 0);
    assert_int_equal(window, 86400000);

    assert_int_equal(parse_lit("1r/7d", &limit, &window), 0);
    assert_int_equal(window, 604800000);

    /* the same 30 days in any unit */
    assert_int_equal(parse_lit("3r/720h", &limit, &window), 0);
    assert_int_equal(window, 2592000000ULL);
    assert_int_equal(parse_lit("3r/43200m", &limit, &window), 0);
    assert_int_equal(window, 2592000000ULL);
    assert_int_equal(parse_lit("3r/2592000s", &limit, &window), 0);
    assert_int_equal(window, 2592000000ULL);
    assert_int_equal(parse_lit("3r/030d", &limit, &window), 0);
    assert_int_equal(window, 2592000000ULL);
}


static void
parse_refuses_k_units_past_30_days_or_zero(void **state)
{
    size_t               i;
    uint64_t             limit, window;
    static const char   *bad[] = {
        "1r/31d", "1r/721h", "1r/43201m", "1r/2592001s", "1r/0d", "1r/00m",
        "1r/0s", "1r/30", "1r/d30", "1r/3 0d", "1r/-1d", "1r/+1d", "1r/1.5d",
        "1r/30dd", "1r/30w", "1r/30D", "1r/ 30d",
        /* k past any bound: no wrap to a small window */
        "1r/18446744073709551617s", "1r/99999999999999999999999d"
    };

    (void) state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        limit = 12345;
        window = 12345;

        if (v3xy_rate_parse((const unsigned char *) bad[i], strlen(bad[i]),
                            &limit, &window)
            != -1)
        {
            print_error("accepted \"%s\"\n", bad[i]);
            fail();
        }

        assert_int_equal(limit, 12345);
        assert_int_equal(window, 12345);
    }
}


static void
parse_accepts_1_and_1000000(void **state)
{
    uint64_t  limit, window;

    (void) state;

    assert_int_equal(parse_lit("1r/s", &limit, &window), 0);
    assert_int_equal(limit, 1);

    assert_int_equal(parse_lit("1000000r/h", &limit, &window), 0);
    assert_int_equal(limit, 1000000);
    assert_int_equal(window, 3600000);

    /* leading zeros are digits like any other, as in nginx's ngx_atoi */
    assert_int_equal(parse_lit("007r/m", &limit, &window), 0);
    assert_int_equal(limit, 7);
}


static void
parse_reads_only_len_bytes(void **state)
{
    uint64_t              limit, window;
    static const char     buf[] = "300r/mjunk";

    (void) state;

    assert_int_equal(v3xy_rate_parse((const unsigned char *) buf, 6,
                                     &limit, &window), 0);
    assert_int_equal(limit, 300);
    assert_int_equal(window, 60000);

    /* one byte short: "300r/" */
    assert_int_equal(v3xy_rate_parse((const unsigned char *) buf, 5,
                                     &limit, &window), -1);
}


static void
parse_refuses_zero_and_over_1000000(void **state)
{
    uint64_t  limit, window;

    (void) state;

    assert_int_equal(parse_lit("0r/s", &limit, &window), -1);
    assert_int_equal(parse_lit("000r/s", &limit, &window), -1);
    assert_int_equal(parse_lit("1000001r/s", &limit, &window), -1);
    assert_int_equal(parse_lit("10000000r/s", &limit, &window), -1);

    /* 2^64 + 1 would wrap to 1 without the bound */
    assert_int_equal(parse_lit("18446744073709551617r/s", &limit, &window),
                     -1);
}


static void
parse_refuses_malformed(void **state)
{
    size_t               i;
    uint64_t             limit, window;
    static const char   *bad[] = {
        "", "r/s", "60", "60r", "60r/", "60r/w", "60r/D", "60r/S", "60R/s",
        "60 r/s", " 60r/s", "60r/s ", "60r/ss", "60r/sm", "-1r/s", "+1r/s",
        "1.5r/s", "60/s", "60rs", "60r\\s", "6O r/s", "0x10r/s", "60r/m;"
    };

    (void) state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        limit = 12345;
        window = 12345;

        if (v3xy_rate_parse((const unsigned char *) bad[i], strlen(bad[i]),
                            &limit, &window)
            != -1)
        {
            print_error("accepted \"%s\"\n", bad[i]);
            fail();
        }

        /* nothing written on failure */
        assert_int_equal(limit, 12345);
        assert_int_equal(window, 12345);
    }

    /* a NUL inside */
    assert_int_equal(parse_lit("60r/m\0", &limit, &window), -1);
    assert_int_equal(parse_lit("6\0r/m", &limit, &window), -1);
}


static void
rate_valid_checks_every_bound(void **state)
{
    v3xy_rate_t  r;

    (void) state;

    r = rate_of(1, 1, 0);
    assert_true(v3xy_rate_valid(&r));
    r = rate_of(1000000, 3600000, 1000000);
    assert_true(v3xy_rate_valid(&r));
    r = rate_of(1000000, 86400000, 1000000);
    assert_true(v3xy_rate_valid(&r));

    r = rate_of(0, 1000, 0);
    assert_false(v3xy_rate_valid(&r));
    r = rate_of(1000001, 1000, 0);
    assert_false(v3xy_rate_valid(&r));
    r = rate_of(1, 0, 0);
    assert_false(v3xy_rate_valid(&r));
    r = rate_of(1, 86400000, 0);
    assert_true(v3xy_rate_valid(&r));
    r = rate_of(1, 2592000000ULL, 0);
    assert_true(v3xy_rate_valid(&r));
    r = rate_of(1, 2592000001ULL, 0);
    assert_false(v3xy_rate_valid(&r));
    r = rate_of(1000000, 2592000000ULL, 0);
    assert_true(v3xy_rate_valid(&r));

    /* GCRA: B * T + W must stay below 2^53 us */
    r = rate_of(1, 86400000, 1000);
    assert_true(v3xy_rate_valid(&r));
    r = rate_of(1, 86400000, 1000000);
    assert_false(v3xy_rate_valid(&r));
    r = rate_of(1, 1000, 1000001);
    assert_false(v3xy_rate_valid(&r));

    /* 30 days: B * T + W is 2.6e12 us at B = N; 2^53 is 9.0e15 */
    r = rate_of(1000000, 2592000000ULL, 1000000);
    assert_true(v3xy_rate_valid(&r));
    r = rate_of(1, 2592000000ULL, 3000);
    assert_true(v3xy_rate_valid(&r));
    r = rate_of(1, 2592000000ULL, 4000);
    assert_false(v3xy_rate_valid(&r));
}


/* 30 days, exact: a month's quota waits for its oldest admission */
static void
window_30_days_is_exact_to_the_millisecond(void **state)
{
    uint64_t        *s, t0, w;
    v3xy_rate_t      r;
    v3xy_verdict_t   v;

    (void) state;

    w = 2592000000ULL;
    r = rate_of(3, w, 0);
    s = state_new(&r);

    /* now in ms of a real clock: December 2026 */
    t0 = 1796515200000ULL;

    v = decide(s, &r, t0);
    assert_verdict(v, 1, 2, w, 0);
    v = decide(s, &r, t0 + 86400000);
    assert_verdict(v, 1, 1, w - 86400000, 0);
    v = decide(s, &r, t0 + 2 * 86400000);
    assert_verdict(v, 1, 0, w - 2 * 86400000, 0);

    /* day 29: still refused, until the first admission is 30 days old */
    v = decide(s, &r, t0 + 29 * 86400000ULL);
    assert_verdict(v, 0, 0, 86400000, 86400000);
    v = decide(s, &r, t0 + w - 1);
    assert_verdict(v, 0, 0, 1, 1);
    v = decide(s, &r, t0 + w);
    assert_verdict(v, 1, 0, 86400000, 0);

    free(s);

    /* GCRA over 30 days: one per 10 days with a burst of 1 */
    r = rate_of(3, w, 1);
    s = state_new(&r);

    v = decide(s, &r, t0);
    assert_true(v.admitted);
    v = decide(s, &r, t0 + 1);
    assert_false(v.admitted);
    assert_int_equal(v.retry_ms, w / 3 - 1);
    v = decide(s, &r, t0 + w / 3);
    assert_true(v.admitted);

    free(s);
}


/* exact window */

static void
window_state_size_is_header_and_8_bytes_per_admission(void **state)
{
    v3xy_rate_t  r;

    (void) state;

    /* two header words (offset, index) and one slot per admission */
    assert_int_equal(v3xy_window_state_size(1), 24);
    assert_int_equal(v3xy_window_state_size(60), 496);
    assert_int_equal(v3xy_window_state_size(1000000), 8000016);

    assert_int_equal(v3xy_window_state_size(0), 0);
    assert_int_equal(v3xy_window_state_size(1000001), 0);

    r = rate_of(60, 60000, 0);
    assert_int_equal(ring_or_gcra_state_size(&r), 496);

    /* GCRA: the TAT alone, whatever the limit */
    r = rate_of(1000000, 1000, 5);
    assert_int_equal(ring_or_gcra_state_size(&r), 8);
}


static void
window_admits_limit_at_one_instant_then_refuses(void **state)
{
    uint64_t        *s;
    v3xy_rate_t      r;
    v3xy_verdict_t   v;

    (void) state;

    r = rate_of(3, 1000, 0);
    s = state_new(&r);

    /*
     * three admissions at 1000 occupy [1000, 2000): each leaves one fewer;
     * the oldest that counts is one of them, leaving at 2000: reset 1000
     */

    v = decide(s, &r, 1000);
    assert_verdict(v, 1, 2, 1000, 0);
    v = decide(s, &r, 1000);
    assert_verdict(v, 1, 1, 1000, 0);
    v = decide(s, &r, 1000);
    assert_verdict(v, 1, 0, 1000, 0);

    /* the fourth waits until 2000 */
    v = decide(s, &r, 1000);
    assert_verdict(v, 0, 0, 1000, 1000);
    v = decide(s, &r, 1999);
    assert_verdict(v, 0, 0, 1, 1);

    /* at 2000 none counts: this one leaves 2 */
    v = decide(s, &r, 2000);
    assert_verdict(v, 1, 2, 1000, 0);

    free(s);
}


static void
window_admission_exactly_w_ago_no_longer_counts(void **state)
{
    uint64_t        *s;
    v3xy_rate_t      r;
    v3xy_verdict_t   v;

    (void) state;

    r = rate_of(1, 1000, 0);
    s = state_new(&r);

    v = decide(s, &r, 5000);
    assert_verdict(v, 1, 0, 1000, 0);

    /* [5000, 6000): still there at 5999, gone at 6000 */
    v = decide(s, &r, 5999);
    assert_verdict(v, 0, 0, 1, 1);
    v = decide(s, &r, 6000);
    assert_verdict(v, 1, 0, 1000, 0);

    free(s);
}


static void
window_time_zero_is_an_admission_not_an_empty_slot(void **state)
{
    uint64_t        *s;
    v3xy_rate_t      r;
    v3xy_verdict_t   v;

    (void) state;

    r = rate_of(2, 1000, 0);
    s = state_new(&r);

    /* a fresh ring at now 0: its empty slots are not admissions at 0 */
    v = decide(s, &r, 0);
    assert_verdict(v, 1, 1, 1000, 0);
    v = decide(s, &r, 0);
    assert_verdict(v, 1, 0, 1000, 0);

    /* but these two at 0 are, until 1000 */
    v = decide(s, &r, 0);
    assert_verdict(v, 0, 0, 1000, 1000);
    v = decide(s, &r, 1);
    assert_verdict(v, 0, 0, 999, 999);
    v = decide(s, &r, 999);
    assert_verdict(v, 0, 0, 1, 1);

    v = decide(s, &r, 1000);
    assert_verdict(v, 1, 1, 1000, 0);

    free(s);
}


static void
window_rolls_one_admission_at_a_time(void **state)
{
    uint64_t        *s;
    v3xy_rate_t      r;
    v3xy_verdict_t   v;

    (void) state;

    r = rate_of(2, 1000, 0);
    s = state_new(&r);

    v = decide(s, &r, 0);
    assert_verdict(v, 1, 1, 1000, 0);

    /* 0 and 400 count; 0 leaves first, at 1000: reset 600 */
    v = decide(s, &r, 400);
    assert_verdict(v, 1, 0, 600, 0);

    v = decide(s, &r, 999);
    assert_verdict(v, 0, 0, 1, 1);

    /* 0 has left; 400 and 1000 count, 400 leaves at 1400 */
    v = decide(s, &r, 1000);
    assert_verdict(v, 1, 0, 400, 0);

    v = decide(s, &r, 1399);
    assert_verdict(v, 0, 0, 1, 1);

    /* 1000 and 1400 count, 1000 leaves at 2000 */
    v = decide(s, &r, 1400);
    assert_verdict(v, 1, 0, 600, 0);

    free(s);
}


static void
window_remaining_counts_only_admissions_inside_window(void **state)
{
    uint64_t         t, *s;
    v3xy_rate_t      r;
    v3xy_verdict_t   v;

    (void) state;

    r = rate_of(100, 1000, 0);
    s = state_new(&r);

    /* one admission per ms, 0 .. 99: each leaves 99 - t */

    for (t = 0; t < 100; t++) {
        v = decide(s, &r, t);
        assert_verdict(v, 1, 99 - t, 1000 - t, 0);
    }

    /*
     * at 1050 the admissions 0 .. 50 have left ([50, 1050) ended), 51 .. 99
     * count: 49, and this one: 50; 100 - 50 = 50 remain; 51 leaves at 1051
     */

    v = decide(s, &r, 1050);
    assert_verdict(v, 1, 50, 1, 0);

    /* at 1051: 52 .. 99 (48), 1050 and this one: 50 count, 50 remain */
    v = decide(s, &r, 1051);
    assert_verdict(v, 1, 50, 1, 0);

    /* at 1100: 1050, 1051 and this one count: 97 remain; 1050 -> 2050 */
    v = decide(s, &r, 1100);
    assert_verdict(v, 1, 97, 950, 0);

    free(s);
}


static void
window_limit_1_is_one_per_window(void **state)
{
    uint64_t         t, *s;
    v3xy_rate_t      r;
    v3xy_verdict_t   v;

    (void) state;

    r = rate_of(1, 60000, 0);
    s = state_new(&r);

    v = decide(s, &r, 0);
    assert_verdict(v, 1, 0, 60000, 0);

    for (t = 1; t < 60000; t++) {
        v = decide(s, &r, t);
        assert_verdict(v, 0, 0, 60000 - t, 60000 - t);
    }

    v = decide(s, &r, 60000);
    assert_verdict(v, 1, 0, 60000, 0);

    free(s);
}


static void
window_limit_1000000_fills_and_empties(void **state)
{
    uint64_t        *s, i;
    v3xy_rate_t      r;
    v3xy_verdict_t   v;

    (void) state;

    r = rate_of(1000000, 1000, 0);
    assert_true(v3xy_rate_valid(&r));

    s = state_new(&r);

    for (i = 0; i < 1000000; i++) {
        v = decide(s, &r, 7);

        if (v.admitted != 1 || v.remaining != 999999 - i
            || v.reset_ms != 1000)
        {
            assert_verdict(v, 1, 999999 - i, 1000, 0);
        }
    }

    v = decide(s, &r, 7);
    assert_verdict(v, 0, 0, 1000, 1000);
    v = decide(s, &r, 1006);
    assert_verdict(v, 0, 0, 1, 1);

    /* all 1e6 left at 1007 */
    v = decide(s, &r, 1007);
    assert_verdict(v, 1, 999999, 1000, 0);

    /* half the ring in order: 500,000 at 1500, binary search over both */
    for (i = 0; i < 499999; i++) {
        v = decide(s, &r, 1500);
    }

    assert_verdict(v, 1, 500000, 507, 0);

    /*
     * at 2007 the one at 1007 left: 499,999 at 1500 and this one count,
     * 500,000 remain; those at 1500 leave at 2500
     */
    v = decide(s, &r, 2007);
    assert_verdict(v, 1, 500000, 493, 0);

    free(s);
}


/* the naive model: every admission, in order */

typedef struct {
    uint64_t  *t;
    size_t     n;
} model_t;


static v3xy_verdict_t
model_decide(model_t *m, const v3xy_rate_t *rate, uint64_t now)
{
    size_t          i, count;
    uint64_t        oldest;
    v3xy_verdict_t  v;

    count = 0;
    oldest = now;

    /* admissions with t + W > now, i.e. in (now - W, now] */

    for (i = m->n; i > 0 && m->t[i - 1] + rate->window_ms > now; i--) {
        count++;
        oldest = m->t[i - 1];
    }

    assert_true(count <= rate->limit);

    if (count == rate->limit) {
        v.admitted = 0;
        v.remaining = 0;
        v.reset_ms = oldest + rate->window_ms - now;
        v.retry_ms = v.reset_ms;
        return v;
    }

    m->t[m->n++] = now;

    v.admitted = 1;
    v.remaining = rate->limit - count - 1;
    v.reset_ms = oldest + rate->window_ms - now;
    v.retry_ms = 0;

    return v;
}


static void
window_matches_the_naive_model(void **state)
{
    int              round, i;
    model_t          m;
    uint64_t         now, w, *s;
    v3xy_rate_t      r;
    v3xy_verdict_t   v, want;
    static const uint64_t  windows[] = { 1, 2, 10, 1000 };

    (void) state;

    m.t = malloc(20000 * sizeof(uint64_t));
    assert_non_null(m.t);

    for (round = 0; round < 40; round++) {
        r = rate_of(1 + rnd_below(8), windows[round % 4], 0);
        w = r.window_ms;

        s = state_new(&r);
        m.n = 0;
        now = rnd_below(3);

        for (i = 0; i < 20000; i++) {

            switch (rnd_below(8)) {
            case 0:
            case 1:
            case 2:
                break;
            case 3:
                now += 1;
                break;
            case 4:
                now += w - 1;
                break;
            case 5:
                now += w;
                break;
            case 6:
                now += w + 1;
                break;
            default:
                now += rnd_below(3 * w + 1);
            }

            v = decide(s, &r, now);
            want = model_decide(&m, &r, now);

            if (!verdict_equal(&v, &want)) {
                print_error("limit %llu window %llu now %llu step %d\n",
                            (unsigned long long) r.limit,
                            (unsigned long long) w,
                            (unsigned long long) now, i);
                assert_verdict(v, want.admitted, want.remaining,
                               want.reset_ms, want.retry_ms);
            }
        }

        free(s);
    }

    free(m.t);
}


/*
 * What a verdict promises, checked by trying on copies: remaining r after
 * an admission is exactly r more at now; reset t means r at now + t - 1
 * and more at now + t; a refusal's retry t means refused at now + t - 1
 * and admitted at now + t; uncounted, the verdict of check is the state
 * before the admission.
 */
static void
promises_hold(const v3xy_rate_t *r, int rounds)
{
    int              i, round;
    uint64_t         now, full, w, *s, *before;
    v3xy_verdict_t   v, u;

    full = r->burst ? r->burst : r->limit;
    w = r->window_ms;

    for (round = 0; round < rounds; round++) {
        s = state_new(r);
        now = 1000 + rnd_below(5);

        for (i = 0; i < 300; i++) {
            now += (rnd_below(3) == 0) ? rnd_below(w / 2 + 2) : 0;

            before = state_copy(s, r);

            ring_or_gcra_check(s, r, now, &v);

            if (!v.admitted) {
                assert_true(v.retry_ms >= 1);
                assert_int_equal(v.reset_ms, v.retry_ms);
                assert_int_equal(v.remaining, 0);
                assert_int_equal(peek(s, r, now + v.retry_ms - 1), 0);
                assert_true(peek(s, r, now + v.retry_ms) >= 1);
                free(before);
                continue;
            }

            assert_int_equal(v.retry_ms, 0);
            assert_true(v.reset_ms >= 1);

            u = v;
            v3xy_verdict_uncount(&u, r);

            assert_int_equal(ring_or_gcra_commit(s, r, now), 0);

            assert_int_equal(peek(s, r, now), v.remaining);
            assert_int_equal(peek(s, r, now + v.reset_ms - 1), v.remaining);
            assert_true(peek(s, r, now + v.reset_ms) > v.remaining);

            assert_int_equal(peek(before, r, now), u.remaining);

            if (u.remaining == full) {
                assert_int_equal(u.reset_ms, 0);

            } else {
                assert_int_equal(peek(before, r, now + u.reset_ms - 1),
                                 u.remaining);
                assert_true(peek(before, r, now + u.reset_ms)
                            > u.remaining);
            }

            free(before);
        }

        free(s);
    }
}


static void
window_verdicts_mean_what_they_say(void **state)
{
    v3xy_rate_t  r;

    (void) state;

    r = rate_of(1, 100, 0);
    promises_hold(&r, 10);
    r = rate_of(3, 100, 0);
    promises_hold(&r, 10);
    r = rate_of(8, 1000, 0);
    promises_hold(&r, 10);
}


static void
window_small_step_back_counts_at_the_newest_admission(void **state)
{
    uint64_t        *s;
    v3xy_rate_t      r;
    v3xy_verdict_t   v;

    (void) state;

    r = rate_of(2, 1000, 0);
    s = state_new(&r);

    v = decide(s, &r, 10000);
    assert_verdict(v, 1, 1, 1000, 0);

    /*
     * The clock steps back 500 ms (no more than W).  now is taken as
     * 10000: this admission is recorded at 10000, not 9500, and both
     * leave at 11000.
     */

    v = decide(s, &r, 9500);
    assert_verdict(v, 1, 0, 1000, 0);

    /* time stands at 10000 until the clock passes it */
    v = decide(s, &r, 9600);
    assert_verdict(v, 0, 0, 1000, 1000);
    v = decide(s, &r, 10000);
    assert_verdict(v, 0, 0, 1000, 1000);

    /* 9500 + W: an admission recorded at 9500 would have left */
    v = decide(s, &r, 10500);
    assert_verdict(v, 0, 0, 500, 500);

    v = decide(s, &r, 10999);
    assert_verdict(v, 0, 0, 1, 1);
    v = decide(s, &r, 11000);
    assert_verdict(v, 1, 1, 1000, 0);

    free(s);
}


static void
window_step_back_of_exactly_w_is_waited_out(void **state)
{
    uint64_t        *s;
    v3xy_rate_t      r;
    v3xy_verdict_t   v;

    (void) state;

    r = rate_of(1, 1000, 0);
    s = state_new(&r);

    v = decide(s, &r, 5000);
    assert_verdict(v, 1, 0, 1000, 0);

    /* 1000 ms back: not more than W, so no rebase: wait for 5000 + W */
    v = decide(s, &r, 4000);
    assert_verdict(v, 0, 0, 1000, 1000);
    v = decide(s, &r, 4999);
    assert_verdict(v, 0, 0, 1000, 1000);
    v = decide(s, &r, 5999);
    assert_verdict(v, 0, 0, 1, 1);
    v = decide(s, &r, 6000);
    assert_verdict(v, 1, 0, 1000, 0);

    free(s);
}


static void
window_step_back_of_more_than_w_rebases(void **state)
{
    uint64_t        *s;
    v3xy_rate_t      r;
    v3xy_verdict_t   v;

    (void) state;

    r = rate_of(1, 1000, 0);

    /*
     * 1001 ms back: the ring is rebased so that its admission is at 3999
     * (now), and leaves at 4999, not at 6000
     */

    s = state_new(&r);
    v = decide(s, &r, 5000);
    assert_verdict(v, 1, 0, 1000, 0);
    v = decide(s, &r, 3999);
    assert_verdict(v, 0, 0, 1000, 1000);
    v = decide(s, &r, 4998);
    assert_verdict(v, 0, 0, 1, 1);
    v = decide(s, &r, 4999);
    assert_verdict(v, 1, 0, 1000, 0);
    free(s);

    /*
     * A day back, refused first: the rebase is kept by check alone, so
     * the key is free again one window later, not a day later.
     */

    s = state_new(&r);
    v = decide(s, &r, 86400000 + 5000);
    assert_verdict(v, 1, 0, 1000, 0);
    v = decide(s, &r, 5000);
    assert_verdict(v, 0, 0, 1000, 1000);
    v = decide(s, &r, 5999);
    assert_verdict(v, 0, 0, 1, 1);
    v = decide(s, &r, 6000);
    assert_verdict(v, 1, 0, 1000, 0);

    /* and the clock goes on from there */
    v = decide(s, &r, 7000);
    assert_verdict(v, 1, 0, 1000, 0);
    free(s);
}


/*
 * Real time goes forward; the clock the limiter reads is real time minus
 * a skew that steps up (the clock steps back) now and then, by up to 3 W.
 * In real time, no interval of W may hold more than max admissions.
 */
static void
never_more_than_in_real_time(const v3xy_rate_t *r, uint64_t max, int steps)
{
    int              i;
    size_t           n, j, count;
    uint64_t         real, skew, w, *s, *adm;
    v3xy_verdict_t   v;

    w = r->window_ms;
    s = state_new(r);
    adm = malloc(steps * sizeof(uint64_t));
    assert_non_null(adm);

    n = 0;
    real = 1000000000;
    skew = 0;

    for (i = 0; i < steps; i++) {
        real += (rnd_below(4) == 0) ? rnd_below(w / 3 + 2) : 0;

        if (rnd_below(200) == 0) {
            skew += rnd_below(3 * w + 2);
        }

        v = decide(s, r, real - skew);

        if (!v.admitted) {
            continue;
        }

        adm[n++] = real;

        count = 0;

        for (j = n; j > 0 && adm[j - 1] + w > real; j--) {
            count++;
        }

        if (count > max) {
            print_error("%u admissions in %llu ms of real time\n",
                        (unsigned) count, (unsigned long long) w);
            fail();
        }
    }

    free(adm);
    free(s);
}


static void
window_never_exceeds_limit_across_steps_back(void **state)
{
    uint64_t     limit;
    v3xy_rate_t  r;

    (void) state;

    for (limit = 1; limit <= 7; limit += 2) {
        r = rate_of(limit, 1000, 0);
        never_more_than_in_real_time(&r, limit, 30000);
        r = rate_of(limit, 10, 0);
        never_more_than_in_real_time(&r, limit, 30000);
    }
}


static void
window_commit_refuses_what_check_refuses(void **state)
{
    uint64_t        *s, *c;
    v3xy_rate_t      r;

    (void) state;

    r = rate_of(1, 1000, 0);
    s = state_new(&r);

    assert_int_equal(v3xy_window_commit(s, &r, 100), 0);

    c = state_copy(s, &r);
    assert_int_equal(v3xy_window_commit(s, &r, 100), -1);
    assert_int_equal(v3xy_window_commit(s, &r, 1099), -1);
    assert_memory_equal(s, c, v3xy_window_state_size(1));

    assert_int_equal(v3xy_window_commit(s, &r, 1100), 0);

    free(c);
    free(s);
}


static void
window_check_records_nothing(void **state)
{
    int              i;
    uint64_t        *s, *c;
    v3xy_rate_t      r;
    v3xy_verdict_t   v;

    (void) state;

    r = rate_of(3, 1000, 0);
    s = state_new(&r);
    v = decide(s, &r, 500);
    assert_verdict(v, 1, 2, 1000, 0);

    c = state_copy(s, &r);

    for (i = 0; i < 10; i++) {
        v3xy_window_check(s, &r, 600, &v);
        assert_verdict(v, 1, 1, 900, 0);
    }

    assert_memory_equal(s, c, v3xy_window_state_size(3));

    free(c);
    free(s);
}


static void
window_idle_once_nothing_counts(void **state)
{
    uint64_t        *s;
    v3xy_rate_t      r;

    (void) state;

    r = rate_of(2, 1000, 0);
    s = state_new(&r);

    /* fresh, even at 0 */
    assert_true(v3xy_window_idle(s, &r, 0));

    decide(s, &r, 100);
    decide(s, &r, 200);

    /* the newest, at 200, counts until 1200 */
    assert_false(v3xy_window_idle(s, &r, 100));
    assert_false(v3xy_window_idle(s, &r, 1199));
    assert_true(v3xy_window_idle(s, &r, 1200));

    /* a clock behind the newest admission is not idle */
    assert_false(v3xy_window_idle(s, &r, 50));
    assert_false(v3xy_window_idle(s, &r, 0));

    free(s);
}


static void
window_convert_keeps_the_newest_admissions(void **state)
{
    model_t          m;
    uint64_t         t, i, *s2, *s3, *s5, hist[5];
    v3xy_rate_t      r2, r3, r5;
    v3xy_verdict_t   v, want;

    (void) state;

    r2 = rate_of(2, 1000, 0);
    r3 = rate_of(3, 1000, 0);
    r5 = rate_of(5, 1000, 0);

    /* 3 -> 5: admissions at 0, 100, 200 all kept */

    s3 = state_new(&r3);
    decide(s3, &r3, 0);
    decide(s3, &r3, 100);
    decide(s3, &r3, 200);

    s5 = state_new(&r5);
    v3xy_window_convert(s5, 5, s3, 3);

    /* at 300: 3 count, this one makes 4: one remains; 0 leaves at 1000 */
    v3xy_window_check(s5, &r5, 300, &v);
    assert_verdict(v, 1, 1, 700, 0);

    /* the same as a 5-per-second limiter that saw them */

    m.t = hist;

    for (t = 300; t < 2500; t += 50) {
        m.t[0] = 0;
        m.t[1] = 100;
        m.t[2] = 200;
        m.n = 3;
        want = model_decide(&m, &r5, t);
        v3xy_window_check(s5, &r5, t, &v);
        assert_verdict(v, want.admitted, want.remaining, want.reset_ms,
                       want.retry_ms);
    }

    /* 5 -> 2: of 0, 100, 200, 300, 400 only 300 and 400 are kept */

    for (i = 0; i < 2; i++) {
        decide(s5, &r5, 300 + 100 * i);
    }

    s2 = state_new(&r2);
    v3xy_window_convert(s2, 2, s5, 5);

    /* 300 leaves at 1300 */
    v3xy_window_check(s2, &r2, 500, &v);
    assert_verdict(v, 0, 0, 800, 800);

    for (t = 500; t < 2500; t += 50) {
        m.t[0] = 300;
        m.t[1] = 400;
        m.n = 2;
        want = model_decide(&m, &r2, t);
        v3xy_window_check(s2, &r2, t, &v);
        assert_verdict(v, want.admitted, want.remaining, want.reset_ms,
                       want.retry_ms);
    }

    /* 2 -> 2 is a copy */
    v3xy_window_convert(s3, 2, s2, 2);
    assert_memory_equal(s3, s2, v3xy_window_state_size(2));

    free(s2);
    free(s3);
    free(s5);
}


static void
window_convert_keeps_a_rebased_clock(void **state)
{
    uint64_t        *s1, *s2;
    v3xy_rate_t      r1, r2;
    v3xy_verdict_t   v;

    (void) state;

    r1 = rate_of(1, 1000, 0);
    r2 = rate_of(2, 1000, 0);

    /* admitted at 5000; the clock steps back to 3000: rebased there */

    s1 = state_new(&r1);
    decide(s1, &r1, 5000);
    v = decide(s1, &r1, 3000);
    assert_verdict(v, 0, 0, 1000, 1000);

    /*
     * converted at 3500, the admission is still 500 ms old and leaves at
     * 4000; a converted ring that lost the offset would rebase again and
     * hold it until 4500
     */

    s2 = state_new(&r2);
    v3xy_window_convert(s2, 2, s1, 1);

    v = decide(s2, &r2, 3500);
    assert_verdict(v, 1, 0, 500, 0);

    free(s1);
    free(s2);
}


static void
window_keeps_counting_at_the_top_of_the_clock(void **state)
{
    uint64_t        *s;
    v3xy_rate_t      r;
    v3xy_verdict_t   v;

    (void) state;

    r = rate_of(2, 1000, 0);
    s = state_new(&r);

    /* time saturates instead of wrapping to 0: it only refuses more */

    v = decide(s, &r, UINT64_MAX - 1);
    assert_verdict(v, 1, 1, 1000, 0);
    v = decide(s, &r, UINT64_MAX);
    assert_verdict(v, 1, 0, 1000, 0);
    v = decide(s, &r, UINT64_MAX);
    assert_verdict(v, 0, 0, 1000, 1000);
    v = decide(s, &r, 0);
    assert_verdict(v, 0, 0, 1000, 1000);

    free(s);
}


/* GCRA */

static void
gcra_burst_1_is_strictly_one_per_interval(void **state)
{
    uint64_t         t, n, *s;
    v3xy_rate_t      r;
    v3xy_verdict_t   v;

    (void) state;

    /* 10 r/s: T = 100 ms, tau = 0 */

    r = rate_of(10, 1000, 1);
    s = state_new(&r);

    v = decide(s, &r, 0);
    assert_verdict(v, 1, 0, 100, 0);

    /* TAT 100: refused until 100 */
    v = decide(s, &r, 1);
    assert_verdict(v, 0, 0, 99, 99);
    v = decide(s, &r, 99);
    assert_verdict(v, 0, 0, 1, 1);
    v = decide(s, &r, 100);
    assert_verdict(v, 1, 0, 100, 0);

    /* trying every ms for 10 s: admitted at 200, 300, ... 10000 exactly */

    n = 0;

    for (t = 101; t <= 10000; t++) {
        v = decide(s, &r, t);

        if (v.admitted) {
            assert_int_equal(t % 100, 0);
            n++;
        }
    }

    assert_int_equal(n, 99);

    free(s);
}


static void
gcra_fresh_key_takes_the_burst_back_to_back(void **state)
{
    uint64_t        *s;
    v3xy_rate_t      r;
    v3xy_verdict_t   v;

    (void) state;

    /*
     * 10 r/s, B 5: T = 100 ms, tau = 400 ms.  At 0 the TATs before each
     * admission are 0, 100, .. 400 (all <= 0 + tau); the remaining count
     * floor((now + B T - TAT') / T) goes 4 .. 0, and grows again when
     * TAT' - now drops by one T: after 100 ms.
     */

    r = rate_of(10, 1000, 5);
    s = state_new(&r);

    v = decide(s, &r, 0);
    assert_verdict(v, 1, 4, 100, 0);
    v = decide(s, &r, 0);
    assert_verdict(v, 1, 3, 100, 0);
    v = decide(s, &r, 0);
    assert_verdict(v, 1, 2, 100, 0);
    v = decide(s, &r, 0);
    assert_verdict(v, 1, 1, 100, 0);
    v = decide(s, &r, 0);
    assert_verdict(v, 1, 0, 100, 0);

    /* TAT 500 > 0 + 400 until now = 100 */
    v = decide(s, &r, 0);
    assert_verdict(v, 0, 0, 100, 100);
    v = decide(s, &r, 100);
    assert_verdict(v, 1, 0, 100, 0);

    /* idle for a second: TAT 600 <= 1600, full burst again */
    v = decide(s, &r, 1600);
    assert_verdict(v, 1, 4, 100, 0);

    free(s);
}


/* the largest number of admissions in any [t, t + w) */
static uint64_t
max_in_window(const uint64_t *adm, size_t n, uint64_t w)
{
    size_t    i, j;
    uint64_t  max;

    max = 0;

    for (i = 0, j = 0; j < n; j++) {
        while (adm[i] + w <= adm[j]) {
            i++;
        }

        if (j - i + 1 > max) {
            max = j - i + 1;
        }
    }

    return max;
}


/* tries as often as it is admitted, every ms from 0 to until - 1 */
static size_t
greedy(const v3xy_rate_t *r, uint64_t until, uint64_t *adm, size_t size)
{
    size_t           n;
    uint64_t         t, *s;
    v3xy_verdict_t   v;

    s = state_new(r);
    n = 0;

    for (t = 0; t < until; t++) {
        do {
            v = decide(s, r, t);

            if (v.admitted) {
                assert_true(n < size);
                adm[n++] = t;
            }

        } while (v.admitted);
    }

    free(s);

    return n;
}


static void
gcra_burst_n_admits_up_to_2n_minus_1_per_window(void **state)
{
    size_t       n;
    uint64_t     adm[200];
    v3xy_rate_t  r;

    (void) state;

    /*
     * 10 r/s, B 10 (T 100 ms, tau 900 ms), greedy: 10 at 0, then one per
     * T at 100, 200, ...: [0, 1000) holds 10 + 9 = 19 = 2N - 1
     */

    r = rate_of(10, 1000, 10);
    n = greedy(&r, 5000, adm, 200);

    assert_int_equal(n, 10 + 49);
    assert_int_equal(max_in_window(adm, n, 1000), 19);

    /* the exact window on the same greedy client: 10, never more */
    r = rate_of(10, 1000, 0);
    n = greedy(&r, 5000, adm, 200);

    assert_int_equal(n, 50);
    assert_int_equal(max_in_window(adm, n, 1000), 10);
}


static void
gcra_never_exceeds_burst_plus_limit_minus_1(void **state)
{
    int          i;
    uint64_t     limit, burst;
    v3xy_rate_t  r;

    (void) state;

    /*
     * In [t, t + W): k admissions need (k - B) T <= a_k - a_1 < W, so
     * k < B + W / T <= B + N (T is rounded up): k <= B + N - 1, also
     * across steps back
     */

    for (i = 0; i < 12; i++) {
        limit = 1 + rnd_below(9);
        burst = 1 + rnd_below(2 * limit);
        r = rate_of(limit, (i % 2) ? 1000 : 70, burst);
        never_more_than_in_real_time(&r, burst + limit - 1, 20000);
    }
}


static void
gcra_interval_below_1_ms_still_gives_the_rate(void **state)
{
    size_t       n, i;
    uint64_t    *adm;
    v3xy_rate_t  r;

    (void) state;

    adm = malloc(20000 * sizeof(uint64_t));
    assert_non_null(adm);

    /*
     * 5000 r/s, B 5: T = 200 us, tau = 800 us.  At t ms the TAT is
     * t * 1000 us and t * 1000 + 800 is the last that fits: 5 per ms,
     * 5000 in [0, 1000)
     */

    r = rate_of(5000, 1000, 5);
    n = greedy(&r, 1000, adm, 20000);
    assert_int_equal(n, 5000);

    for (i = 0; i < n; i++) {
        assert_int_equal(adm[i], i / 5);
    }

    /*
     * with B 1 the ms clock allows one per ms: 1000 r/s, not 5000 (the
     * documented limit: choose B >= rate / 1000 per second)
     */

    r = rate_of(5000, 1000, 1);
    n = greedy(&r, 1000, adm, 20000);
    assert_int_equal(n, 1000);

    free(adm);
}


static void
gcra_rounds_the_interval_and_the_wait_up(void **state)
{
    size_t           n;
    uint64_t         tat, *s, adm[20];
    v3xy_rate_t      r;
    v3xy_verdict_t   v;

    (void) state;

    /* 3 r/s: T = ceil(1e6 / 3) = 333334 us, not 333333 (faster) */

    r = rate_of(3, 1000, 1);
    s = state_new(&r);

    tat = 0;
    assert_int_equal(v3xy_gcra_commit(&tat, &r, 0), 0);
    assert_int_equal(tat, 333334);

    /* 7 r/h: 3.6e9 / 7 = 514285714.29 us, so T = 514285715 */
    r = rate_of(7, 3600000, 1);
    tat = 0;
    assert_int_equal(v3xy_gcra_commit(&tat, &r, 0), 0);
    assert_int_equal(tat, 514285715);

    r = rate_of(3, 1000, 1);

    v = decide(s, &r, 0);
    assert_verdict(v, 1, 0, 334, 0);

    /* TAT 333334 us: at 333 ms 334 us to go, a whole ms */
    v = decide(s, &r, 0);
    assert_verdict(v, 0, 0, 334, 334);
    v = decide(s, &r, 333);
    assert_verdict(v, 0, 0, 1, 1);
    v = decide(s, &r, 334);
    assert_verdict(v, 1, 0, 334, 0);

    free(s);

    /*
     * greedy: 0 (TAT 333334 us), 334 (TAT 334000 + 333334 = 667334), 668
     * (TAT 1001334), 1002: never 4 in a second
     */
    n = greedy(&r, 1200, adm, 20);
    assert_int_equal(n, 4);
    assert_int_equal(adm[1], 334);
    assert_int_equal(adm[2], 668);
    assert_int_equal(adm[3], 1002);
    assert_int_equal(max_in_window(adm, n, 1000), 3);
}


static void
gcra_remaining_counts_whole_intervals_only(void **state)
{
    uint64_t        *s, i;
    v3xy_rate_t      r;
    v3xy_verdict_t   v;

    (void) state;

    /*
     * 7 r/m: T = ceil(6e10 / 7) = 8571429 us; B 671.  669 admissions at 0
     * leave TAT = 669 T = 5734286001 us, 1 us after 5734286 ms.  An
     * admission then makes TAT' = 670 T and x = now + B T - TAT' =
     * 670 T - 1 us: 669 whole intervals fit, not 670, and the 670th fits
     * 1 us later, which is 1 ms on a ms clock.
     */

    r = rate_of(7, 60000, 671);
    s = state_new(&r);

    for (i = 0; i < 669; i++) {
        decide(s, &r, 0);
    }

    assert_int_equal(*s, 5734286001ULL);

    v = decide(s, &r, 5734286);
    assert_verdict(v, 1, 669, 1, 0);

    assert_int_equal(peek(s, &r, 5734286), 669);
    assert_int_equal(peek(s, &r, 5734287), 670);

    free(s);
}


static void
gcra_verdicts_mean_what_they_say(void **state)
{
    v3xy_rate_t  r;

    (void) state;

    r = rate_of(10, 1000, 1);
    promises_hold(&r, 10);
    r = rate_of(10, 1000, 4);
    promises_hold(&r, 10);
    r = rate_of(3, 1000, 7);
    promises_hold(&r, 10);
    r = rate_of(5000, 1000, 16);
    promises_hold(&r, 5);
}


static void
gcra_step_back_waits_or_rebases(void **state)
{
    uint64_t        *s;
    v3xy_rate_t      r;
    v3xy_verdict_t   v;

    (void) state;

    /* 1 r/s, B 1: T = B T = W = 1 s */

    r = rate_of(1, 1000, 1);
    s = state_new(&r);

    /* admitted at 10000: TAT 11000 ms */
    v = decide(s, &r, 10000);
    assert_verdict(v, 1, 0, 1000, 0);

    /* back to 9000: TAT = now + B T + W, not beyond: wait until 11000 */
    v = decide(s, &r, 9000);
    assert_verdict(v, 0, 0, 2000, 2000);

    /* back to 8999: TAT beyond now + B T + W: rebased to 8999 + 1000 */
    v = decide(s, &r, 8999);
    assert_verdict(v, 0, 0, 1000, 1000);
    v = decide(s, &r, 9998);
    assert_verdict(v, 0, 0, 1, 1);
    v = decide(s, &r, 9999);
    assert_verdict(v, 1, 0, 1000, 0);

    free(s);

    /* a day back */
    s = state_new(&r);
    v = decide(s, &r, 86400000);
    assert_verdict(v, 1, 0, 1000, 0);
    v = decide(s, &r, 0);
    assert_verdict(v, 0, 0, 1000, 1000);
    v = decide(s, &r, 1000);
    assert_verdict(v, 1, 0, 1000, 0);
    free(s);
}


static void
gcra_commit_refuses_what_check_refuses(void **state)
{
    uint64_t     tat;
    v3xy_rate_t  r;

    (void) state;

    r = rate_of(10, 1000, 2);
    tat = 0;

    /* T = 100 ms, tau = 100 ms: two at 0, TAT 200 ms */
    assert_int_equal(v3xy_gcra_commit(&tat, &r, 0), 0);
    assert_int_equal(v3xy_gcra_commit(&tat, &r, 0), 0);
    assert_int_equal(tat, 200000);

    assert_int_equal(v3xy_gcra_commit(&tat, &r, 0), -1);
    assert_int_equal(v3xy_gcra_commit(&tat, &r, 99), -1);
    assert_int_equal(tat, 200000);

    assert_int_equal(v3xy_gcra_commit(&tat, &r, 100), 0);
    assert_int_equal(tat, 300000);
}


static void
gcra_idle_once_tat_has_passed(void **state)
{
    uint64_t     tat;
    v3xy_rate_t  r;

    (void) state;

    r = rate_of(10, 1000, 3);
    tat = 0;

    assert_true(v3xy_gcra_idle(tat, &r, 0));

    assert_int_equal(v3xy_gcra_commit(&tat, &r, 50), 0);

    /* TAT 150 ms */
    assert_false(v3xy_gcra_idle(tat, &r, 50));
    assert_false(v3xy_gcra_idle(tat, &r, 149));
    assert_true(v3xy_gcra_idle(tat, &r, 150));
}


static void
gcra_keeps_counting_at_the_top_of_the_clock(void **state)
{
    uint64_t        *s;
    v3xy_rate_t      r;
    v3xy_verdict_t   v;

    (void) state;

    /* 10 r/s, B 2: the clock stops at the top, so the burst runs out */

    r = rate_of(10, 1000, 2);
    s = state_new(&r);

    v = decide(s, &r, UINT64_MAX);
    assert_verdict(v, 1, 1, 100, 0);
    v = decide(s, &r, UINT64_MAX);
    assert_verdict(v, 1, 0, 100, 0);
    v = decide(s, &r, UINT64_MAX);
    assert_verdict(v, 0, 0, 100, 100);
    v = decide(s, &r, UINT64_MAX - 1);
    assert_verdict(v, 0, 0, 100, 100);

    free(s);
}


static void
gcra_burst_0_is_taken_as_1(void **state)
{
    uint64_t        tat;
    v3xy_rate_t     r;
    v3xy_verdict_t  v;

    (void) state;

    r = rate_of(10, 1000, 0);
    tat = 0;

    v3xy_gcra_check(&tat, &r, 0, &v);
    assert_verdict(v, 1, 0, 100, 0);
    assert_int_equal(v3xy_gcra_commit(&tat, &r, 0), 0);

    v3xy_gcra_check(&tat, &r, 0, &v);
    assert_verdict(v, 0, 0, 100, 100);
}


static void
limit_chooses_the_algorithm_by_burst(void **state)
{
    uint64_t        *s;
    v3xy_rate_t      r;
    v3xy_verdict_t   v;

    (void) state;

    /* exact: 2 at 0, refused until 1000 */
    r = rate_of(2, 1000, 0);
    s = state_new(&r);
    decide(s, &r, 0);
    decide(s, &r, 0);
    v = decide(s, &r, 500);
    assert_verdict(v, 0, 0, 500, 500);
    assert_false(ring_or_gcra_idle(s, &r, 999));
    assert_true(ring_or_gcra_idle(s, &r, 1000));
    free(s);

    /* GCRA with B 2: 2 at 0, then one per 500 ms */
    r = rate_of(2, 1000, 2);
    s = state_new(&r);
    assert_int_equal(*s, 0);
    decide(s, &r, 0);
    decide(s, &r, 0);
    v = decide(s, &r, 500);
    assert_verdict(v, 1, 0, 500, 0);
    assert_int_equal(*s, 1500000);
    assert_false(ring_or_gcra_idle(s, &r, 1499));
    assert_true(ring_or_gcra_idle(s, &r, 1500));
    free(s);
}


static void
uncount_gives_the_verdict_without_the_admission(void **state)
{
    uint64_t        *s;
    v3xy_rate_t      r;
    v3xy_verdict_t   v;

    (void) state;

    /* exact, 3 per s: fresh, nothing counts: 3 remain, nothing pending */
    r = rate_of(3, 1000, 0);
    s = state_new(&r);
    ring_or_gcra_check(s, &r, 0, &v);
    assert_verdict(v, 1, 2, 1000, 0);
    v3xy_verdict_uncount(&v, &r);
    assert_verdict(v, 1, 3, 0, 0);

    /* one at 0 counts: 2 remain, 3 again at 1000 */
    decide(s, &r, 0);
    ring_or_gcra_check(s, &r, 0, &v);
    assert_verdict(v, 1, 1, 1000, 0);
    v3xy_verdict_uncount(&v, &r);
    assert_verdict(v, 1, 2, 1000, 0);

    /* a refusal is left as it is */
    decide(s, &r, 0);
    decide(s, &r, 0);
    ring_or_gcra_check(s, &r, 0, &v);
    assert_verdict(v, 0, 0, 1000, 1000);
    v3xy_verdict_uncount(&v, &r);
    assert_verdict(v, 0, 0, 1000, 1000);
    free(s);

    /* GCRA, 10 r/s, B 5: full is the burst */
    r = rate_of(10, 1000, 5);
    s = state_new(&r);
    ring_or_gcra_check(s, &r, 0, &v);
    assert_verdict(v, 1, 4, 100, 0);
    v3xy_verdict_uncount(&v, &r);
    assert_verdict(v, 1, 5, 0, 0);

    /* one at 0: TAT 100, 4 remain, 5 again at 100 */
    decide(s, &r, 0);
    ring_or_gcra_check(s, &r, 0, &v);
    assert_verdict(v, 1, 3, 100, 0);
    v3xy_verdict_uncount(&v, &r);
    assert_verdict(v, 1, 4, 100, 0);
    free(s);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(parse_accepts_seconds_minutes_hours),
        cmocka_unit_test(parse_accepts_k_units_up_to_30_days),
        cmocka_unit_test(parse_refuses_k_units_past_30_days_or_zero),
        cmocka_unit_test(parse_accepts_1_and_1000000),
        cmocka_unit_test(parse_reads_only_len_bytes),
        cmocka_unit_test(parse_refuses_zero_and_over_1000000),
        cmocka_unit_test(parse_refuses_malformed),
        cmocka_unit_test(rate_valid_checks_every_bound),
        cmocka_unit_test(window_30_days_is_exact_to_the_millisecond),
        cmocka_unit_test(
            window_state_size_is_header_and_8_bytes_per_admission),
        cmocka_unit_test(window_admits_limit_at_one_instant_then_refuses),
        cmocka_unit_test(window_admission_exactly_w_ago_no_longer_counts),
        cmocka_unit_test(window_time_zero_is_an_admission_not_an_empty_slot),
        cmocka_unit_test(window_rolls_one_admission_at_a_time),
        cmocka_unit_test(
            window_remaining_counts_only_admissions_inside_window),
        cmocka_unit_test(window_limit_1_is_one_per_window),
        cmocka_unit_test(window_limit_1000000_fills_and_empties),
        cmocka_unit_test(window_matches_the_naive_model),
        cmocka_unit_test(window_verdicts_mean_what_they_say),
        cmocka_unit_test(
            window_small_step_back_counts_at_the_newest_admission),
        cmocka_unit_test(window_step_back_of_exactly_w_is_waited_out),
        cmocka_unit_test(window_step_back_of_more_than_w_rebases),
        cmocka_unit_test(window_never_exceeds_limit_across_steps_back),
        cmocka_unit_test(window_commit_refuses_what_check_refuses),
        cmocka_unit_test(window_check_records_nothing),
        cmocka_unit_test(window_idle_once_nothing_counts),
        cmocka_unit_test(window_convert_keeps_the_newest_admissions),
        cmocka_unit_test(window_convert_keeps_a_rebased_clock),
        cmocka_unit_test(window_keeps_counting_at_the_top_of_the_clock),
        cmocka_unit_test(gcra_burst_1_is_strictly_one_per_interval),
        cmocka_unit_test(gcra_fresh_key_takes_the_burst_back_to_back),
        cmocka_unit_test(gcra_burst_n_admits_up_to_2n_minus_1_per_window),
        cmocka_unit_test(gcra_never_exceeds_burst_plus_limit_minus_1),
        cmocka_unit_test(gcra_interval_below_1_ms_still_gives_the_rate),
        cmocka_unit_test(gcra_rounds_the_interval_and_the_wait_up),
        cmocka_unit_test(gcra_remaining_counts_whole_intervals_only),
        cmocka_unit_test(gcra_verdicts_mean_what_they_say),
        cmocka_unit_test(gcra_step_back_waits_or_rebases),
        cmocka_unit_test(gcra_commit_refuses_what_check_refuses),
        cmocka_unit_test(gcra_idle_once_tat_has_passed),
        cmocka_unit_test(gcra_keeps_counting_at_the_top_of_the_clock),
        cmocka_unit_test(gcra_burst_0_is_taken_as_1),
        cmocka_unit_test(limit_chooses_the_algorithm_by_burst),
        cmocka_unit_test(uncount_gives_the_verdict_without_the_admission)
    };

    return cmocka_run_group_tests_name("v3xy_window", tests, NULL, NULL);
}
