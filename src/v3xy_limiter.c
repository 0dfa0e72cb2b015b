/*
 * v3xy_limiter: the algorithm of a rate, and dispatch (v3xy_limiter.h).
 */

#include <string.h>

#include "v3xy_limiter.h"


v3xy_limiter_kind_t
v3xy_limiter_kind(const v3xy_rate_t *rate)
{
    if (rate->burst) {
        return V3XY_LIMITER_GCRA;
    }

    if (rate->limit <= V3XY_LIMITER_RING_MAX) {
        return V3XY_LIMITER_RING;
    }

    return V3XY_LIMITER_SLOTS;
}


size_t
v3xy_limit_state_size(const v3xy_rate_t *rate)
{
    switch (v3xy_limiter_kind(rate)) {

    case V3XY_LIMITER_GCRA:
        return sizeof(uint64_t);

    case V3XY_LIMITER_RING:
        return v3xy_window_state_size(rate->limit);

    default:
        return V3XY_SLOTS_STATE_SIZE;
    }
}


void
v3xy_limit_init(void *state, const v3xy_rate_t *rate)
{
    switch (v3xy_limiter_kind(rate)) {

    case V3XY_LIMITER_GCRA:
        *(uint64_t *) state = 0;
        break;

    case V3XY_LIMITER_RING:
        v3xy_window_init(state, rate->limit);
        break;

    default:
        v3xy_slots_init(state);
        break;
    }
}


void
v3xy_limit_check(void *state, const v3xy_rate_t *rate, uint64_t now_ms,
    v3xy_verdict_t *v)
{
    switch (v3xy_limiter_kind(rate)) {

    case V3XY_LIMITER_GCRA:
        v3xy_gcra_check(state, rate, now_ms, v);
        break;

    case V3XY_LIMITER_RING:
        v3xy_window_check(state, rate, now_ms, v);
        break;

    default:
        v3xy_slots_check(state, rate, now_ms, v);
        break;
    }
}


int
v3xy_limit_commit(void *state, const v3xy_rate_t *rate, uint64_t now_ms)
{
    switch (v3xy_limiter_kind(rate)) {

    case V3XY_LIMITER_GCRA:
        return v3xy_gcra_commit(state, rate, now_ms);

    case V3XY_LIMITER_RING:
        return v3xy_window_commit(state, rate, now_ms);

    default:
        return v3xy_slots_commit(state, rate, now_ms);
    }
}


int
v3xy_limit_idle(const void *state, const v3xy_rate_t *rate,
    uint64_t now_ms)
{
    switch (v3xy_limiter_kind(rate)) {

    case V3XY_LIMITER_GCRA:
        return v3xy_gcra_idle(*(const uint64_t *) state, rate, now_ms);

    case V3XY_LIMITER_RING:
        return v3xy_window_idle(state, rate, now_ms);

    default:
        return v3xy_slots_idle(state, rate, now_ms);
    }
}


void
v3xy_limit_convert(void *dst, const v3xy_rate_t *dst_rate, const void *src,
    const v3xy_rate_t *src_rate)
{
    v3xy_limiter_kind_t  kind;

    kind = v3xy_limiter_kind(dst_rate);

    if (kind != v3xy_limiter_kind(src_rate)) {
        v3xy_limit_init(dst, dst_rate);
        return;
    }

    switch (kind) {

    case V3XY_LIMITER_GCRA:
        memcpy(dst, src, sizeof(uint64_t));
        break;

    case V3XY_LIMITER_RING:
        v3xy_window_convert(dst, dst_rate->limit, src, src_rate->limit);
        break;

    default:
        v3xy_slots_convert(dst, dst_rate, src, src_rate);
        break;
    }
}
