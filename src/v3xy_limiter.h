/*
 * v3xy_limiter: which algorithm a store keeps for a rate, and the calls
 * that dispatch to it.
 *
 *   burst >= 1               GCRA (v3xy_window.h): 8 bytes;
 *   burst 0, limit <= 6      the ring of admission times (v3xy_window.h):
 *                            perfectly exact, 8 * (limit + 2) <= 64 bytes;
 *   burst 0, limit > 6       the slots (v3xy_slots.h): exact, refusing at
 *                            most one slot early, 64 bytes.
 *
 * So a key's state is never more than 64 bytes, whatever the rate.  The
 * ring is kept where it fits those bytes: the replay guard's limit of one
 * delivery, and any small limit, lose nothing to slots.
 *
 * nginx-free: C99 only.
 */

#ifndef V3XY_LIMITER_H
#define V3XY_LIMITER_H

#include <stddef.h>
#include <stdint.h>

#include "v3xy_window.h"
#include "v3xy_slots.h"


#define V3XY_LIMITER_RING_MAX    6       /* the largest limit of a ring */
#define V3XY_LIMITER_STATE_MAX   64      /* bytes of any state */


typedef enum {
    V3XY_LIMITER_RING = 0,
    V3XY_LIMITER_SLOTS,
    V3XY_LIMITER_GCRA
} v3xy_limiter_kind_t;


v3xy_limiter_kind_t v3xy_limiter_kind(const v3xy_rate_t *rate);

/* the state of a rate: at most V3XY_LIMITER_STATE_MAX bytes, aligned for
 * uint64_t; the rate must pass v3xy_rate_valid() */
size_t v3xy_limit_state_size(const v3xy_rate_t *rate);
void v3xy_limit_init(void *state, const v3xy_rate_t *rate);
void v3xy_limit_check(void *state, const v3xy_rate_t *rate,
    uint64_t now_ms, v3xy_verdict_t *v);
int v3xy_limit_commit(void *state, const v3xy_rate_t *rate,
    uint64_t now_ms);
int v3xy_limit_idle(const void *state, const v3xy_rate_t *rate,
    uint64_t now_ms);

/*
 * Fills dst, a state for dst_rate, from src, a state for src_rate (a
 * reload changed the zone's rate).  The same algorithm keeps the
 * admissions (v3xy_window_convert(), v3xy_slots_convert(); GCRA's TAT as
 * it is); a change of algorithm starts the key afresh.
 */
void v3xy_limit_convert(void *dst, const v3xy_rate_t *dst_rate,
    const void *src, const v3xy_rate_t *src_rate);

#endif /* V3XY_LIMITER_H */
