/*
 * v3xy_slots: an exact rolling-window limit in 64 bytes.
 * See v3xy_slots.h for the rule, its proof and the state.
 */

#include <string.h>

#include "v3xy_slots.h"


/* the shape of a rate's state */
typedef struct {
    uint64_t        nb;       /* bytes of a counter: 1, 2 or 4 */
    uint64_t        b;        /* B, the slots of a window */
    uint64_t        n;        /* B + 1, the counters */
    uint64_t        w;        /* the width of a slot, ms */
    uint64_t        max;      /* the largest count a counter holds */
} v3xy_slots_geom_t;


static void v3xy_slots_geom(const v3xy_rate_t *rate, v3xy_slots_geom_t *g);
static uint64_t v3xy_slots_get(const uint64_t *st,
    const v3xy_slots_geom_t *g, uint64_t slot);
static void v3xy_slots_set(uint64_t *st, const v3xy_slots_geom_t *g,
    uint64_t slot, uint64_t count);
static uint64_t v3xy_slots_settle(uint64_t *st, const v3xy_slots_geom_t *g,
    uint64_t slot);
static void v3xy_slots_add(uint64_t *st, const v3xy_slots_geom_t *g,
    uint64_t slot, uint64_t count);


uint64_t
v3xy_slots_count(uint64_t limit)
{
    if (limit <= 0xff) {
        return V3XY_SLOTS_COUNTERS - 1;
    }

    if (limit <= 0xffff) {
        return V3XY_SLOTS_COUNTERS / 2 - 1;
    }

    return V3XY_SLOTS_COUNTERS / 4 - 1;
}


/* w = ceil(W / B): B slots cover at least the window */

uint64_t
v3xy_slots_width(const v3xy_rate_t *rate)
{
    uint64_t  b, w;

    b = v3xy_slots_count(rate->limit);
    w = (rate->window_ms + b - 1) / b;

    return w ? w : 1;
}


void
v3xy_slots_init(void *state)
{
    memset(state, 0, V3XY_SLOTS_STATE_SIZE);
}


static void
v3xy_slots_geom(const v3xy_rate_t *rate, v3xy_slots_geom_t *g)
{
    g->b = v3xy_slots_count(rate->limit);
    g->n = g->b + 1;
    g->nb = V3XY_SLOTS_COUNTERS / g->n;
    g->w = v3xy_slots_width(rate);
    g->max = (g->nb == 4) ? UINT32_MAX : ((uint64_t) 1 << (8 * g->nb)) - 1;
}


/* the counter of a slot (its place in the ring: slot % (B + 1)) */

static uint64_t
v3xy_slots_get(const uint64_t *st, const v3xy_slots_geom_t *g,
    uint64_t slot)
{
    uint16_t             c16;
    uint32_t             c32;
    const unsigned char  *p;

    p = (const unsigned char *) (st + 1) + (slot % g->n) * g->nb;

    switch (g->nb) {

    case 1:
        return *p;

    case 2:
        memcpy(&c16, p, sizeof(uint16_t));
        return c16;

    default:
        memcpy(&c32, p, sizeof(uint32_t));
        return c32;
    }
}


static void
v3xy_slots_set(uint64_t *st, const v3xy_slots_geom_t *g, uint64_t slot,
    uint64_t count)
{
    uint16_t        c16;
    uint32_t        c32;
    unsigned char  *p;

    p = (unsigned char *) (st + 1) + (slot % g->n) * g->nb;

    switch (g->nb) {

    case 1:
        *p = (unsigned char) count;
        break;

    case 2:
        c16 = (uint16_t) count;
        memcpy(p, &c16, sizeof(uint16_t));
        break;

    default:
        c32 = (uint32_t) count;
        memcpy(p, &c32, sizeof(uint32_t));
        break;
    }
}


/*
 * The slot a request at slot is judged in: itself, or the newest slot
 * touched if the clock is behind it by at most B slots (clamp); behind by
 * more, the counts move so that the newest is slot (rebase).
 */

static uint64_t
v3xy_slots_settle(uint64_t *st, const v3xy_slots_geom_t *g, uint64_t slot)
{
    uint64_t       newest, i, shift;
    unsigned char  tmp[V3XY_SLOTS_COUNTERS], *ring;

    if (st[0] == 0) {
        return slot;
    }

    newest = st[0] - 1;

    if (slot >= newest) {
        return slot;
    }

    if (newest - slot <= g->b) {
        return newest;
    }

    ring = (unsigned char *) (st + 1);
    shift = (newest - slot) % g->n;

    /* slot j's count goes to slot j - (newest - slot) */

    for (i = 0; i < g->n; i++) {
        memcpy(tmp + ((i + g->n - shift) % g->n) * g->nb, ring + i * g->nb,
               g->nb);
    }

    memcpy(ring, tmp, V3XY_SLOTS_COUNTERS);
    st[0] = slot + 1;

    return slot;
}


/*
 * Adds count to slot (saturating), the newest slot then at least slot;
 * slots that the ring no longer holds are emptied on the way.  A slot
 * older than the ring holds is dropped: it never counts again.
 */

static void
v3xy_slots_add(uint64_t *st, const v3xy_slots_geom_t *g, uint64_t slot,
    uint64_t count)
{
    uint64_t  newest, j, c;

    if (st[0] == 0 || (slot > st[0] - 1 && slot - (st[0] - 1) >= g->n)) {
        memset(st + 1, 0, V3XY_SLOTS_COUNTERS);
        st[0] = slot + 1;

    } else {
        newest = st[0] - 1;

        if (slot < newest && newest - slot > g->b) {
            return;
        }

        for (j = newest + 1; j <= slot; j++) {
            v3xy_slots_set(st, g, j, 0);
        }

        if (slot > newest) {
            st[0] = slot + 1;
        }
    }

    c = v3xy_slots_get(st, g, slot) + count;

    v3xy_slots_set(st, g, slot, (c > g->max) ? g->max : c);
}


void
v3xy_slots_check(void *state, const v3xy_rate_t *rate, uint64_t now_ms,
    v3xy_verdict_t *v)
{
    uint64_t           *st, s, lo, hi, j, k, d, sum, acc, c;
    v3xy_slots_geom_t   g;

    st = state;
    v3xy_slots_geom(rate, &g);

    s = v3xy_slots_settle(st, &g, now_ms / g.w);

    /* the counted slots: s - B .. s, of those the state holds */

    sum = 0;
    lo = (s >= g.b) ? s - g.b : 0;
    hi = 0;

    if (st[0] != 0) {
        hi = st[0] - 1;

        for (j = lo; j <= hi; j++) {
            sum += v3xy_slots_get(st, &g, j);
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

    for (k = 1; k <= g.n; k++) {
        if (s + k < g.n) {
            continue;       /* slots before 0 */
        }

        d = s + k - g.n;

        c = (d >= lo && d <= hi) ? v3xy_slots_get(st, &g, d) : 0;

        if (d == s && v->admitted) {
            c++;
        }

        acc += c;

        if (v->admitted ? acc > 0 : sum - acc < rate->limit) {
            v->reset_ms = (s + k) * g.w - now_ms;
            break;
        }
    }

    if (!v->admitted) {
        v->retry_ms = v->reset_ms;
    }
}


int
v3xy_slots_commit(void *state, const v3xy_rate_t *rate, uint64_t now_ms)
{
    uint64_t           *st, s;
    v3xy_verdict_t      v;
    v3xy_slots_geom_t   g;

    v3xy_slots_check(state, rate, now_ms, &v);

    if (!v.admitted) {
        return -1;
    }

    st = state;
    v3xy_slots_geom(rate, &g);

    s = v3xy_slots_settle(st, &g, now_ms / g.w);

    v3xy_slots_add(st, &g, s, 1);

    return 0;
}


int
v3xy_slots_idle(const void *state, const v3xy_rate_t *rate,
    uint64_t now_ms)
{
    uint64_t           s, newest, lo, j;
    const uint64_t    *st;
    v3xy_slots_geom_t  g;

    st = state;

    if (st[0] == 0) {
        return 1;
    }

    v3xy_slots_geom(rate, &g);

    newest = st[0] - 1;
    s = now_ms / g.w;

    /* a clock behind the newest slot keeps every count (clamp, rebase) */

    if (s > newest && s - newest > g.b) {
        return 1;
    }

    if (s < newest) {
        s = newest;
    }

    lo = (s >= g.b) ? s - g.b : 0;

    for (j = lo; j <= newest; j++) {
        if (v3xy_slots_get(st, &g, j) != 0) {
            return 0;
        }
    }

    return 1;
}


void
v3xy_slots_convert(void *dst, const v3xy_rate_t *dst_rate, const void *src,
    const v3xy_rate_t *src_rate)
{
    uint64_t           *d, newest, j, c;
    const uint64_t     *s;
    v3xy_slots_geom_t   dg, sg;

    d = dst;
    s = src;

    v3xy_slots_geom(dst_rate, &dg);
    v3xy_slots_geom(src_rate, &sg);

    if (dg.nb == sg.nb && dg.w == sg.w) {
        memcpy(d, s, V3XY_SLOTS_STATE_SIZE);
        return;
    }

    v3xy_slots_init(d);

    if (s[0] == 0) {
        return;
    }

    newest = s[0] - 1;

    /* oldest first: the new slots only ever move forward */

    for (j = (newest >= sg.b) ? newest - sg.b : 0; j <= newest; j++) {
        c = v3xy_slots_get(s, &sg, j);

        if (c != 0) {
            v3xy_slots_add(d, &dg, ((j + 1) * sg.w - 1) / dg.w, c);
        }
    }
}
