/*
 * v3xy_window: the arithmetic of the per-key rate limits, for any store
 * (nginx shared memory, or a Redis script that must reach the same
 * verdicts from the same state and clock).
 *
 * A rate is "limit admissions per window" ("60r/m": 60 per 60000 ms).
 *
 * A store keeps, per key, the state of one of three algorithms, which
 * v3xy_limiter.h chooses: this ring for small limits, the bounded slots
 * of v3xy_slots.h for larger ones, GCRA when there is a burst.
 *
 * Exact rolling window (burst 0).  Never more than limit admissions in
 * any interval of window ms.  An admission at time t occupies [t, t + W):
 * at now = t + W it no longer counts.  The state is a ring of the last
 * limit admission times; the next admission would overwrite the oldest,
 * and it is admitted iff that slot is empty or no longer counts (every
 * other slot is newer, so fewer than limit admissions count).  The ring
 * stays in admission order, so how many still count is a binary search.
 *
 * GCRA (burst B >= 1).  The virtual scheduling form of the generic cell
 * rate algorithm, O(1) state: one "theoretical arrival time" (TAT) in
 * microseconds.  Emission interval T = ceil(W * 1000 / limit) us (rounded
 * up: never faster than the rate), tolerance tau = (B - 1) * T.  A request
 * at now is admitted iff TAT <= now + tau; then TAT = max(TAT, now) + T.
 * B requests pass back to back on a fresh key, then one per T; B = 1 is
 * strictly one per T.  In any interval of length L at most
 * B + ceil(L / T) - 1 are admitted: with B = limit and L = W that is
 * 2 * limit - 1, which is why GCRA is not the default.  TAT is kept in
 * microseconds because high rates (where GCRA is meant to be used) have
 * emission intervals below one millisecond; the clock itself is in ms,
 * so at most B are admitted within one millisecond.
 *
 * Verdicts (both algorithms).  "full" is limit (exact) or B (GCRA).
 *   admitted   1 or 0;
 *   remaining  admissions still possible at now after this decision
 *              (0 when refused);
 *   reset_ms   ms until remaining grows by one (the oldest admission that
 *              counts leaves the window; GCRA: TAT drains by one T),
 *              0 when remaining == full; never 0 after an admission;
 *   retry_ms   refused: ms until a request would be admitted (>= 1, equal
 *              to reset_ms); 0 when admitted.
 * Check fills the verdict as if the admission had been recorded; commit
 * records it.  v3xy_verdict_uncount() turns such a verdict into the one
 * of the same state without it (for zones that would have admitted a
 * request that another zone refused).
 *
 * Clock.  now_ms is any millisecond clock (0 is a valid time: an empty
 * slot is never confused with an admission at 0).  The clock may step
 * backwards (another worker's cached time lags, NTP, an operator):
 *   - exact: now behind the ring's newest admission by at most W is taken
 *     as that admission's time (clamp: stricter for a moment, no more);
 *     behind by more than W, the clock stepped back: the offset in the
 *     ring's header is raised so that now is the newest admission's time
 *     (rebase: all times move at once, O(1));
 *   - GCRA: TAT is at most B * T ahead of the last admission.  TAT beyond
 *     now + B * T + W means the clock stepped back: TAT = now + B * T, as
 *     if the whole burst had just been used (rebase); a TAT less far
 *     ahead needs nothing, GCRA waits for it.
 * Past admissions thus only ever look more recent than they were: no
 * more is admitted in real time than without the step, and no key is
 * refused for more than about two windows because of it.  A rebase is
 * written even when the request is refused: check may write the state.
 * A forward step makes past admissions look older; no wall-clock limiter
 * can tell it from idle time.  A monotonic clock has neither kind.
 *
 * Overflow: rates must pass v3xy_rate_valid() (limit and burst at most
 * 1e6, window at most 30 days, below 2^32 ms as the shared-memory nodes
 * keep it, and for GCRA B * T + W below 2^53 us: exact
 * in a Lua double as well, like now in us until the year 2255).  Time
 * arithmetic saturates instead of wrapping, and so does the ring's clock;
 * GCRA's clock stops at about 2^63 us.  Either way time stands still at
 * the top, which only ever refuses more.
 *
 * nginx-free: C99 only.
 */

#ifndef V3XY_WINDOW_H
#define V3XY_WINDOW_H

#include <stddef.h>
#include <stdint.h>


#define V3XY_RATE_LIMIT_MAX    1000000
#define V3XY_RATE_BURST_MAX    1000000
#define V3XY_RATE_WINDOW_MAX   2592000000ULL  /* ms: 30 days */
#define V3XY_RATE_EXACT_MAX    ((uint64_t) 1 << 53)


typedef struct {
    uint64_t  limit;       /* admissions per window, >= 1 */
    uint64_t  window_ms;   /* the window W, >= 1 */
    uint64_t  burst;       /* 0: exact window; B >= 1: GCRA */
} v3xy_rate_t;


typedef struct {
    int       admitted;
    uint64_t  remaining;
    uint64_t  reset_ms;
    uint64_t  retry_ms;
} v3xy_verdict_t;


/*
 * Parses "Nr/U" or "Nr/kU" from s[0..len): N admissions (decimal, 1 to
 * 1000000) per k units U (s, m, h, d; k decimal, at least 1, one if
 * absent), the window at most V3XY_RATE_WINDOW_MAX: "60r/m", "500r/d",
 * "10000r/30d".  Nothing else around it.  Returns 0, or -1 if malformed
 * or out of bounds (nothing written then).
 */
int v3xy_rate_parse(const unsigned char *s, size_t len, uint64_t *limit,
    uint64_t *window_ms);

/* 1 if every function below may be called with rate, 0 if not. */
int v3xy_rate_valid(const v3xy_rate_t *rate);


/*
 * Exact window.  State: an array of uint64_t, 8 * (limit + 2) bytes:
 *   [0]  offset of the state's clock (frame = now + offset, >= 1; a
 *        rebase after a backward step raises it),
 *   [1]  index of the slot the next admission overwrites (the oldest),
 *   [2]  limit slots: frame times of admissions, 0 = empty.
 * It must be aligned for uint64_t.
 */
size_t v3xy_window_state_size(uint64_t limit);     /* 0 if limit invalid */
void v3xy_window_init(void *state, uint64_t limit);
/*
 * The verdict at now, as if admitted and recorded when it admits.  It
 * records nothing; it writes the state only to rebase its clock.
 */
void v3xy_window_check(void *state, const v3xy_rate_t *rate,
    uint64_t now_ms, v3xy_verdict_t *v);
/* Records an admission at now; -1 (nothing recorded) if check refuses. */
int v3xy_window_commit(void *state, const v3xy_rate_t *rate,
    uint64_t now_ms);
/*
 * 1 if no admission counts at now: the state decides exactly as a fresh
 * one, so a store may drop it.
 */
int v3xy_window_idle(const void *state, const v3xy_rate_t *rate,
    uint64_t now_ms);
/*
 * Fills dst, a state for dst_limit, with the newest admissions of src, a
 * state for src_limit (a reload changed the limit): it then decides as a
 * limiter of dst_limit that had seen the same admissions.  The window may
 * change too: the ring holds times, not expiries.
 */
void v3xy_window_convert(void *dst, uint64_t dst_limit, const void *src,
    uint64_t src_limit);


/*
 * GCRA.  State: one uint64_t, the TAT in us; 0 for a fresh key.  Check
 * and commit as for the exact window (burst 0 is taken as 1).
 */
void v3xy_gcra_check(uint64_t *tat, const v3xy_rate_t *rate,
    uint64_t now_ms, v3xy_verdict_t *v);
/* Records an admission at now; -1 (nothing recorded) if check refuses. */
int v3xy_gcra_commit(uint64_t *tat, const v3xy_rate_t *rate,
    uint64_t now_ms);
/* 1 if the TAT is in the past: the key decides as a fresh one. */
int v3xy_gcra_idle(uint64_t tat, const v3xy_rate_t *rate, uint64_t now_ms);


/*
 * Turns the verdict of check that admitted into the verdict of the same
 * state with nothing recorded: remaining one more, reset_ms 0 if that
 * makes the quota full.  A refusal is left as it is.
 */
void v3xy_verdict_uncount(v3xy_verdict_t *v, const v3xy_rate_t *rate);

#endif /* V3XY_WINDOW_H */
