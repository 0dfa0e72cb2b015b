/*
 * v3xy_slots: an exact rolling-window limit in state of bounded size.
 * See v3xy_slots.h for the rule and its proof.
 */

#include <string.h>

#include "v3xy_slots.h"


static uint64_t v3xy_slots_width(const v3xy_rate_t *rate, uint64_t nslots);
static uint64_t v3xy_slots_settle(uint64_t *st, uint64_t nslots,
    uint64_t slot);


size_t
v3xy_slots_state_size(uint64_t nslots)
{
    if (nslots == 0 || nslots > V3XY_SLOTS_MAX) {
        return 0;
    }

    return sizeof(uint64_t) + (nslots + 1) * sizeof(uint32_t);
}


void
v3xy_slots_init(void *state, uint64_t nslots)
{
    memset(state, 0, v3xy_slots_state_size(nslots));
}


/* w = ceil(W / B): B slots cover at least the window */

static uint64_t
v3xy_slots_width(const v3xy_rate_t *rate, uint64_t nslots)
{
    uint64_t  w;

    w = (rate->window_ms + nslots - 1) / nslots;

    return w ? w : 1;
}


/*
 * The slot a request at slot is judged in: itself, or the newest slot
 * touched if the clock is behind it by at most B slots (clamp); behind by
 * more, the counts move so that the newest is slot (rebase).
 */

static uint64_t
v3xy_slots_settle(uint64_t *st, uint64_t nslots, uint64_t slot)
{
    uint32_t   tmp[V3XY_SLOTS_MAX + 1], *ring;
    uint64_t   newest, n, i, shift;

    if (st[0] == 0) {
        return slot;
    }

    newest = st[0] - 1;

    if (slot >= newest) {
        return slot;
    }

    if (newest - slot <= nslots) {
        return newest;
    }

    n = nslots + 1;
    ring = (uint32_t *) (st + 1);
    shift = (newest - slot) % n;

    /* slot j's count goes to slot j - (newest - slot) */

    for (i = 0; i < n; i++) {
        tmp[(i + n - shift) % n] = ring[i];
    }

    memcpy(ring, tmp, n * sizeof(uint32_t));
    st[0] = slot + 1;

    return slot;
}


void
v3xy_slots_check(void *state, uint64_t nslots, const v3xy_rate_t *rate,
    uint64_t now_ms, v3xy_verdict_t *v)
{
    uint32_t  *ring;
    uint64_t  *st, w, s, newest, lo, hi, j, k, d, sum, acc, c, n;

    st = state;
    ring = (uint32_t *) (st + 1);
    n = nslots + 1;
    w = v3xy_slots_width(rate, nslots);

    s = v3xy_slots_settle(st, nslots, now_ms / w);

    /* the counted slots: s - B .. s, of those the state holds */

    sum = 0;
    lo = (s >= nslots) ? s - nslots : 0;
    hi = 0;

    if (st[0] != 0) {
        newest = st[0] - 1;

        if (newest >= nslots && newest - nslots > lo) {
            lo = newest - nslots;
        }

        hi = newest;

        for (j = lo; j <= hi; j++) {
            sum += ring[j % n];
        }

    } else {
        lo = 1;     /* nothing held: lo > hi */
    }

    v->admitted = (sum < rate->limit);
    v->remaining = v->admitted ? rate->limit - sum - 1 : 0;

    /*
     * The next boundaries: at (s + k) * w the slots up to s - B + k - 1
     * leave.  reset: the first at which a counted admission leaves (this
     * one included); retry: the first at which fewer than N stay.
     */

    v->reset_ms = 0;
    v->retry_ms = 0;
    acc = 0;

    for (k = 1; k <= nslots + 1; k++) {
        if (s + k < nslots + 1) {
            continue;       /* slots before 0 */
        }

        d = s + k - nslots - 1;

        c = (d >= lo && d <= hi) ? ring[d % n] : 0;

        if (d == s && v->admitted) {
            c++;
        }

        acc += c;

        if (v->admitted ? acc > 0 : sum - acc < rate->limit) {
            v->reset_ms = (s + k) * w - now_ms;
            break;
        }
    }

    if (!v->admitted) {
        v->retry_ms = v->reset_ms;
    }
}


int
v3xy_slots_commit(void *state, uint64_t nslots, const v3xy_rate_t *rate,
    uint64_t now_ms)
{
    uint32_t        *ring;
    uint64_t        *st, s, j, newest, n;
    v3xy_verdict_t   v;

    v3xy_slots_check(state, nslots, rate, now_ms, &v);

    if (!v.admitted) {
        return -1;
    }

    st = state;
    ring = (uint32_t *) (st + 1);
    n = nslots + 1;

    s = v3xy_slots_settle(st, nslots, now_ms / v3xy_slots_width(rate, nslots));

    if (st[0] == 0 || s - (st[0] - 1) >= n) {
        memset(ring, 0, n * sizeof(uint32_t));

    } else {
        newest = st[0] - 1;

        for (j = newest + 1; j <= s; j++) {
            ring[j % n] = 0;
        }
    }

    if (st[0] == 0 || s + 1 > st[0]) {
        st[0] = s + 1;
    }

    ring[s % n]++;

    return 0;
}


int
v3xy_slots_idle(const void *state, uint64_t nslots, const v3xy_rate_t *rate,
    uint64_t now_ms)
{
    const uint32_t  *ring;
    const uint64_t  *st;
    uint64_t         s, newest, lo, j, n;

    st = state;

    if (st[0] == 0) {
        return 1;
    }

    ring = (const uint32_t *) (st + 1);
    n = nslots + 1;
    newest = st[0] - 1;
    s = now_ms / v3xy_slots_width(rate, nslots);

    /* a clock behind the newest slot keeps every count (clamp, rebase) */

    if (s > newest && s - newest > nslots) {
        return 1;
    }

    if (s < newest) {
        s = newest;
    }

    lo = (s >= nslots) ? s - nslots : 0;

    for (j = lo; j <= newest; j++) {
        if (ring[j % n] != 0) {
            return 0;
        }
    }

    return 1;
}
