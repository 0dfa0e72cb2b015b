/*
 * v3xy_window: exact rolling windows and GCRA; see v3xy_window.h for the
 * semantics every store must share.
 */

#include <string.h>

#include "v3xy_window.h"


/* the exact window's state: header words, then the ring */
#define V3XY_RING_OFF     0
#define V3XY_RING_NEXT    1
#define V3XY_RING_SLOTS   2

#define V3XY_GCRA_NOW_MAX  (UINT64_MAX / 1000 / 2)


static uint64_t v3xy_add(uint64_t a, uint64_t b);
static uint64_t v3xy_ceil_div(uint64_t a, uint64_t b);
static uint64_t v3xy_ring_at(const uint64_t *ring, uint64_t limit,
    uint64_t k);
static uint64_t v3xy_ring_frame(const uint64_t *ring,
    const v3xy_rate_t *rate, uint64_t now_ms, uint64_t *off);
static uint64_t v3xy_ring_first_counting(const uint64_t *ring,
    uint64_t limit, uint64_t lo);
static uint64_t v3xy_gcra_now(uint64_t now_ms);
static void v3xy_gcra_params(const v3xy_rate_t *rate, uint64_t *t,
    uint64_t *bt);
static uint64_t v3xy_gcra_rebase(uint64_t tat, const v3xy_rate_t *rate,
    uint64_t now_us, uint64_t bt);


int
v3xy_rate_parse(const unsigned char *s, size_t len, uint64_t *limit,
    uint64_t *window_ms)
{
    size_t    i;
    uint64_t  n, k, unit;

    n = 0;

    for (i = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        n = n * 10 + (uint64_t) (s[i] - '0');

        if (n > V3XY_RATE_LIMIT_MAX) {
            return -1;
        }
    }

    /* no digits leaves n at 0 */

    if (n == 0 || len - i < 3 || s[i] != 'r' || s[i + 1] != '/') {
        return -1;
    }

    /* k units: "30d"; none is one */

    k = 0;

    for (i += 2; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        k = k * 10 + (uint64_t) (s[i] - '0');

        if (k > V3XY_RATE_WINDOW_MAX / 1000) {
            return -1;
        }
    }

    if (len - i != 1) {
        return -1;
    }

    if (s[i - 1] == '/') {
        k = 1;

    } else if (k == 0) {
        return -1;
    }

    switch (s[i]) {

    case 's':
        unit = 1000;
        break;

    case 'm':
        unit = 60000;
        break;

    case 'h':
        unit = 3600000;
        break;

    case 'd':
        unit = 86400000;
        break;

    default:
        return -1;
    }

    if (k * unit > V3XY_RATE_WINDOW_MAX) {
        return -1;
    }

    *limit = n;
    *window_ms = k * unit;

    return 0;
}


int
v3xy_rate_valid(const v3xy_rate_t *rate)
{
    if (rate->limit < 1 || rate->limit > V3XY_RATE_LIMIT_MAX
        || rate->window_ms < 1 || rate->window_ms > V3XY_RATE_WINDOW_MAX
        || rate->burst > V3XY_RATE_BURST_MAX)
    {
        return 0;
    }

    /* GCRA: B * T + W in us exact in a double (a Lua number) */

    return rate->burst == 0
           || rate->burst * v3xy_ceil_div(rate->window_ms * 1000, rate->limit)
              + rate->window_ms * 1000 < V3XY_RATE_EXACT_MAX;
}


size_t
v3xy_window_state_size(uint64_t limit)
{
    if (limit == 0 || limit > V3XY_RATE_LIMIT_MAX) {
        return 0;
    }

    return (size_t) (limit + V3XY_RING_SLOTS) * sizeof(uint64_t);
}


void
v3xy_window_init(void *state, uint64_t limit)
{
    uint64_t  *ring = state;

    memset(ring, 0, v3xy_window_state_size(limit));

    /* frame times start at 1: 0 is left for "empty", now 0 is valid */
    ring[V3XY_RING_OFF] = 1;
}


void
v3xy_window_check(void *state, const v3xy_rate_t *rate, uint64_t now_ms,
    v3xy_verdict_t *v)
{
    uint64_t   f, k, lo, off, oldest;
    uint64_t  *ring = state;

    f = v3xy_ring_frame(ring, rate, now_ms, &off);
    ring[V3XY_RING_OFF] = off;

    lo = (f > rate->window_ms) ? f - rate->window_ms : 0;

    /* k: the oldest admission that counts; limit - k of them count */
    k = v3xy_ring_first_counting(ring, rate->limit, lo);

    if (k == 0) {

        /* all limit admissions count: wait for the oldest to leave */

        oldest = v3xy_ring_at(ring, rate->limit, 0);

        v->admitted = 0;
        v->remaining = 0;
        v->reset_ms = rate->window_ms - (f - oldest);
        v->retry_ms = v->reset_ms;
        return;
    }

    /* this admission at f overwrites slot 0, which does not count */

    oldest = (k < rate->limit) ? v3xy_ring_at(ring, rate->limit, k) : f;

    v->admitted = 1;
    v->remaining = k - 1;
    v->reset_ms = rate->window_ms - (f - oldest);
    v->retry_ms = 0;
}


int
v3xy_window_commit(void *state, const v3xy_rate_t *rate, uint64_t now_ms)
{
    uint64_t   f, lo, off, next;
    uint64_t  *ring = state;

    f = v3xy_ring_frame(ring, rate, now_ms, &off);
    ring[V3XY_RING_OFF] = off;

    lo = (f > rate->window_ms) ? f - rate->window_ms : 0;

    next = ring[V3XY_RING_NEXT];

    if (ring[V3XY_RING_SLOTS + next] > lo) {
        return -1;
    }

    ring[V3XY_RING_SLOTS + next] = f;
    ring[V3XY_RING_NEXT] = (next + 1 == rate->limit) ? 0 : next + 1;

    return 0;
}


int
v3xy_window_idle(const void *state, const v3xy_rate_t *rate,
    uint64_t now_ms)
{
    uint64_t         f, lo, off;
    const uint64_t  *ring = state;

    f = v3xy_ring_frame(ring, rate, now_ms, &off);

    lo = (f > rate->window_ms) ? f - rate->window_ms : 0;

    return v3xy_ring_at(ring, rate->limit, rate->limit - 1) <= lo;
}


void
v3xy_window_convert(void *dst, uint64_t dst_limit, const void *src,
    uint64_t src_limit)
{
    uint64_t         k, m;
    uint64_t        *d = dst;
    const uint64_t  *s = src;

    v3xy_window_init(d, dst_limit);

    d[V3XY_RING_OFF] = s[V3XY_RING_OFF];

    m = (dst_limit < src_limit) ? dst_limit : src_limit;

    /* the newest m admissions, oldest first, into slots 0 .. m - 1 */

    for (k = 0; k < m; k++) {
        d[V3XY_RING_SLOTS + k] = v3xy_ring_at(s, src_limit,
                                              src_limit - m + k);
    }

    d[V3XY_RING_NEXT] = (m == dst_limit) ? 0 : m;
}


void
v3xy_gcra_check(uint64_t *tat, const v3xy_rate_t *rate, uint64_t now_ms,
    v3xy_verdict_t *v)
{
    uint64_t  t, bt, now, next, x, r;

    v3xy_gcra_params(rate, &t, &bt);

    now = v3xy_gcra_now(now_ms);

    *tat = v3xy_gcra_rebase(*tat, rate, now, bt);

    if (*tat > v3xy_add(now, bt - t)) {

        /* TAT - tau > now: wait until now reaches it */

        v->admitted = 0;
        v->remaining = 0;
        v->reset_ms = v3xy_ceil_div(*tat - (bt - t) - now, 1000);
        v->retry_ms = v->reset_ms;
        return;
    }

    next = v3xy_add((*tat > now) ? *tat : now, t);

    /*
     * x = now + B * T - TAT', in [0, (B - 1) * T]: floor(x / T) more fit
     * at now; one more fits once x reaches (r + 1) * T
     */

    x = v3xy_add(now, bt);
    x = (x > next) ? x - next : 0;
    r = x / t;

    v->admitted = 1;
    v->remaining = r;
    v->reset_ms = v3xy_ceil_div((r + 1) * t - x, 1000);
    v->retry_ms = 0;
}


int
v3xy_gcra_commit(uint64_t *tat, const v3xy_rate_t *rate, uint64_t now_ms)
{
    uint64_t  t, bt, now;

    v3xy_gcra_params(rate, &t, &bt);

    now = v3xy_gcra_now(now_ms);

    *tat = v3xy_gcra_rebase(*tat, rate, now, bt);

    if (*tat > v3xy_add(now, bt - t)) {
        return -1;
    }

    *tat = v3xy_add((*tat > now) ? *tat : now, t);

    return 0;
}


int
v3xy_gcra_idle(uint64_t tat, const v3xy_rate_t *rate, uint64_t now_ms)
{
    (void) rate;

    return tat <= v3xy_gcra_now(now_ms);
}


void
v3xy_verdict_uncount(v3xy_verdict_t *v, const v3xy_rate_t *rate)
{
    uint64_t  full;

    if (!v->admitted) {
        return;
    }

    full = rate->burst ? rate->burst : rate->limit;

    /*
     * Without the admission, one more fits; the oldest that counts is the
     * same unless nothing else counted, and then nothing is pending.
     */

    v->remaining++;

    if (v->remaining >= full) {
        v->remaining = full;
        v->reset_ms = 0;
    }
}


static uint64_t
v3xy_add(uint64_t a, uint64_t b)
{
    return (a > UINT64_MAX - b) ? UINT64_MAX : a + b;
}


static uint64_t
v3xy_ceil_div(uint64_t a, uint64_t b)
{
    return a / b + (a % b != 0);
}


/* the k-th oldest slot (k = 0: the one the next admission overwrites) */

static uint64_t
v3xy_ring_at(const uint64_t *ring, uint64_t limit, uint64_t k)
{
    uint64_t  i;

    i = ring[V3XY_RING_NEXT] + k;

    if (i >= limit) {
        i -= limit;
    }

    return ring[V3XY_RING_SLOTS + i];
}


/*
 * now in the ring's frame, never before its newest admission, so that the
 * ring stays in order; *off is the offset to keep: raised when the clock
 * stepped back by more than one window.
 */

static uint64_t
v3xy_ring_frame(const uint64_t *ring, const v3xy_rate_t *rate,
    uint64_t now_ms, uint64_t *off)
{
    uint64_t  f, newest;

    *off = ring[V3XY_RING_OFF];

    f = v3xy_add(now_ms, *off);
    newest = v3xy_ring_at(ring, rate->limit, rate->limit - 1);

    if (newest <= f) {
        return f;
    }

    if (newest - f > rate->window_ms) {
        *off = v3xy_add(*off, newest - f);
    }

    return newest;
}


/*
 * The smallest k whose slot is > lo (counts at lo + W), or limit: slots
 * are in admission order, empty ones (0) first.
 */

static uint64_t
v3xy_ring_first_counting(const uint64_t *ring, uint64_t limit, uint64_t lo)
{
    uint64_t  l, h, m;

    l = 0;
    h = limit;

    while (l < h) {
        m = l + (h - l) / 2;

        if (v3xy_ring_at(ring, limit, m) > lo) {
            h = m;

        } else {
            l = m + 1;
        }
    }

    return l;
}


/*
 * now in us.  Time stops at V3XY_GCRA_NOW_MAX ms (year 292,000), so that
 * now + B * T + W never saturates: a stopped clock refuses once the burst
 * is used, a saturated one would admit everything.
 */

static uint64_t
v3xy_gcra_now(uint64_t now_ms)
{
    if (now_ms > V3XY_GCRA_NOW_MAX) {
        now_ms = V3XY_GCRA_NOW_MAX;
    }

    return now_ms * 1000;
}


static void
v3xy_gcra_params(const v3xy_rate_t *rate, uint64_t *t, uint64_t *bt)
{
    /*
     * limit <= 1e6, W <= 3.6e6 ms, burst <= 1e6: B * T <= 3.6e15; a
     * burst of 0 (the exact window's) is taken as 1
     */

    *t = v3xy_ceil_div(rate->window_ms * 1000, rate->limit);
    *bt = (rate->burst ? rate->burst : 1) * *t;
}


/*
 * After an admission at t, TAT <= t + B * T.  A TAT beyond now + B * T + W
 * means the clock stepped back by more than one window: rebase to
 * now + B * T, as if the whole burst had been used at now.
 */

static uint64_t
v3xy_gcra_rebase(uint64_t tat, const v3xy_rate_t *rate, uint64_t now_us,
    uint64_t bt)
{
    if (tat > v3xy_add(v3xy_add(now_us, bt), rate->window_ms * 1000)) {
        return v3xy_add(now_us, bt);
    }

    return tat;
}
