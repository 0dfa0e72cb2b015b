/*
 * v3xy_slots: an exact rolling-window limit in 64 bytes, whatever the
 * rate.
 *
 * The window W is cut into B slots of w = ceil(W / B) ms; slot s holds
 * the admissions of [s * w, (s + 1) * w).  A request at now, in slot S,
 * is admitted iff the admissions of slots S - B .. S (B + 1 slots) are
 * fewer than the limit N.
 *
 * Never more than N in any interval of W ms.  Take an interval [a, a + W)
 * and its last admission, at t.  B * w >= W, so the slots of the interval
 * run from s(a) to at most s(a) + B, and s(t) - B <= s(a): when t was
 * admitted, every earlier admission of the interval lay in slots
 * s(t) - B .. s(t) and was counted, fewer than N of them.  So at most N.
 *
 * At most one slot early.  A refusal at now means N admissions in
 * [(S - B) * w, now], an interval shorter than B * w + w (W + w where B
 * divides W): a perfect log refuses only N in (now - W, now].  A request
 * is never refused more than B * w - W + w ms after a perfect log would
 * have admitted it (w where B divides W).  The verdict's Retry-After and
 * reset are exact for this limiter (the next slot boundary at which
 * enough admissions leave).
 *
 * State: 64 bytes, aligned for uint64_t: the newest slot touched + 1 (0:
 * fresh), then B + 1 counters in 56 bytes, a ring indexed by
 * slot % (B + 1).  A slot never counts more than N (it is admitted only
 * while the sum is below N), so the counters are as wide as N needs and
 * B is as large as 56 bytes allow:
 *
 *     N up to 255      8-bit counters    B = 55
 *     N up to 65535    16-bit counters   B = 27
 *     N up to 10^6     32-bit counters   B = 13
 *
 * (a store's node for this state is 128 bytes: ngx_http_v3xy_shm.c).  At
 * 300r/m a slot is 2,223 ms, at 10r/m 1,091 ms.
 *
 * Clock: a now in a slot before the newest by at most B slots is taken as
 * the newest (clamp: stricter for a moment); by more, the clock stepped
 * back: the counts move to now's slot (rebase), as v3xy_window does.
 *
 * nginx-free: C99 only.
 */

#ifndef V3XY_SLOTS_H
#define V3XY_SLOTS_H

#include <stddef.h>
#include <stdint.h>

#include "v3xy_window.h"


#define V3XY_SLOTS_STATE_SIZE  64
#define V3XY_SLOTS_COUNTERS    56      /* bytes of counters */


/* B, the slots of a window, for a limit */
uint64_t v3xy_slots_count(uint64_t limit);
/* w, the width of a slot in ms, for a rate */
uint64_t v3xy_slots_width(const v3xy_rate_t *rate);

void v3xy_slots_init(void *state);

/* the verdict at now, as if admitted; writes the state only to rebase */
void v3xy_slots_check(void *state, const v3xy_rate_t *rate, uint64_t now_ms,
    v3xy_verdict_t *v);

/* records an admission at now; -1 (nothing recorded) if check refuses */
int v3xy_slots_commit(void *state, const v3xy_rate_t *rate,
    uint64_t now_ms);

/* 1 if no admission counts at now: the key decides as a fresh one */
int v3xy_slots_idle(const void *state, const v3xy_rate_t *rate,
    uint64_t now_ms);

/*
 * Fills dst, a state for dst_rate, with the admissions of src, a state
 * for src_rate (a reload changed the rate).  Same width of slot and of
 * counter: a copy (the counts are the same whatever the limit).  Else
 * each slot's count goes to the new slot that holds its old slot's last
 * millisecond: an admission only ever looks later than it was, so no more
 * is admitted than the new rate allows counting the old admissions.
 */
void v3xy_slots_convert(void *dst, const v3xy_rate_t *dst_rate,
    const void *src, const v3xy_rate_t *src_rate);

#endif /* V3XY_SLOTS_H */
