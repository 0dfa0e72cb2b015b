/*
 * v3xy_breaker: the circuit breaker of the failover to the backup base
 * URL, shared by every worker of one nginx through shared memory.
 *
 *   closed     requests go to the primary; each failure of the primary
 *              counts, a success resets the count; the failure that makes
 *              the count reach "fails" opens the breaker;
 *   open       requests go straight to the backup until "cooldown" has
 *              passed since the breaker opened;
 *   half-open  after the cooldown, exactly one request (the probe) tries
 *              the primary: its success closes the breaker, its failure
 *              opens it again for another cooldown.  A probe that never
 *              reports (its client left) is given up after a cooldown and
 *              the next request probes.
 *
 * Lock-free: every field is a word changed with compare-and-swap (GCC's
 * __sync builtins, which nginx's own atomics use too), so that a worker
 * never waits for another.  Times are milliseconds of a monotonic clock
 * that all workers share; comparisons survive its wrap-around.
 *
 * nginx-free: C99 (and the compiler's atomic builtins) only.
 */

#ifndef V3XY_BREAKER_H
#define V3XY_BREAKER_H


#define V3XY_BREAKER_CLOSED     0
#define V3XY_BREAKER_OPEN       1
#define V3XY_BREAKER_HALF_OPEN  2

#define V3XY_ROUTE_PRIMARY      0   /* closed: the primary */
#define V3XY_ROUTE_PROBE        1   /* half-open: this request probes */
#define V3XY_ROUTE_BACKUP       2   /* open: straight to the backup */


/* one breaker, one cache line; zeroed memory is a closed breaker */
typedef struct {
    volatile unsigned long  state;
    volatile unsigned long  fails;     /* consecutive, while closed */
    volatile unsigned long  until;     /* open: when a probe may go;
                                          half-open: when a silent probe
                                          is given up */
    volatile unsigned long  openings;  /* times it opened, ever */
    unsigned long           pad[4];
} v3xy_breaker_t;


/* Where a request goes now; a breaker with fails == 0 is always closed. */
int v3xy_breaker_route(v3xy_breaker_t *b, unsigned long now,
    unsigned long fails, unsigned long cooldown);

/*
 * The primary answered (not 502, 503 or 504).  Returns 1 when this closed
 * the breaker (a probe's success), 0 otherwise.
 */
int v3xy_breaker_success(v3xy_breaker_t *b, int probe);

/*
 * The probe did not ask the primary after all (a cached answer, say): the
 * next request probes instead.
 */
void v3xy_breaker_unprobe(v3xy_breaker_t *b, unsigned long now);

/*
 * The primary failed.  Returns 1 when this opened the breaker (the fails-th
 * consecutive failure, or a probe's failure), 0 otherwise.
 */
int v3xy_breaker_failure(v3xy_breaker_t *b, int probe, unsigned long now,
    unsigned long fails, unsigned long cooldown);


#endif /* V3XY_BREAKER_H */
