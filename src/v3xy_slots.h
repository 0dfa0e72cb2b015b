/*
 * v3xy_slots: an exact rolling-window limit in state of bounded size,
 * whatever the rate (a step towards replacing the ring of admission
 * times of v3xy_window.c, whose size grows with the limit).
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
 * have admitted it (w where B divides W).  The verdict's
 * Retry-After and reset are exact for this limiter (the next slot
 * boundary at which enough admissions leave).
 *
 * State: an array of uint64_t, v3xy_slots_state_size(B) bytes: [0] the
 * newest slot touched + 1 (0: fresh), then B + 1 counters of 32 bits, a
 * ring indexed by slot % (B + 1).  With B = 60, 252 bytes for any rate up
 * to the limit's maximum (1,000,000 fits a counter).
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


#define V3XY_SLOTS_MAX  1024


/* bytes of the state for B slots, 0 if B is 0 or over V3XY_SLOTS_MAX */
size_t v3xy_slots_state_size(uint64_t nslots);
void v3xy_slots_init(void *state, uint64_t nslots);

/* the verdict at now, as if admitted; writes the state only to rebase */
void v3xy_slots_check(void *state, uint64_t nslots, const v3xy_rate_t *rate,
    uint64_t now_ms, v3xy_verdict_t *v);

/* records an admission at now; -1 (nothing recorded) if check refuses */
int v3xy_slots_commit(void *state, uint64_t nslots, const v3xy_rate_t *rate,
    uint64_t now_ms);

/* 1 if no admission counts at now: the key decides as a fresh one */
int v3xy_slots_idle(const void *state, uint64_t nslots,
    const v3xy_rate_t *rate, uint64_t now_ms);

#endif /* V3XY_SLOTS_H */
