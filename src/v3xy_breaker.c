/*
 * v3xy_breaker: the failover's circuit breaker (see v3xy_breaker.h).
 */

#include "v3xy_breaker.h"


#define v3xy_cas(p, old, new)  __sync_bool_compare_and_swap(p, old, new)
#define v3xy_add(p, n)         __sync_add_and_fetch(p, n)

/* a is before b, on a clock that may wrap */
#define v3xy_before(a, b)      ((long) ((a) - (b)) < 0)


int
v3xy_breaker_route(v3xy_breaker_t *b, unsigned long now, unsigned long fails,
    unsigned long cooldown)
{
    unsigned long  state, until;

    if (fails == 0) {
        return V3XY_ROUTE_PRIMARY;
    }

    until = b->until;
    __sync_synchronize();
    state = b->state;

    if (state == V3XY_BREAKER_CLOSED) {
        return V3XY_ROUTE_PRIMARY;
    }

    if (v3xy_before(now, until)) {
        return V3XY_ROUTE_BACKUP;
    }

    /*
     * The cooldown is over (or the last probe went silent): the request
     * that moves "until" on is the one probe; the others go to the backup.
     */

    if (!v3xy_cas(&b->until, until, now + cooldown)) {
        return V3XY_ROUTE_BACKUP;
    }

    b->state = V3XY_BREAKER_HALF_OPEN;

    return V3XY_ROUTE_PROBE;
}


int
v3xy_breaker_success(v3xy_breaker_t *b, int probe)
{
    /* no write while nothing changes: the line stays shared */

    if (b->fails) {
        b->fails = 0;
    }

    if (probe && v3xy_cas(&b->state, V3XY_BREAKER_HALF_OPEN,
                          V3XY_BREAKER_CLOSED))
    {
        return 1;
    }

    return 0;
}


void
v3xy_breaker_unprobe(v3xy_breaker_t *b, unsigned long now)
{
    unsigned long  until;

    until = b->until;

    if (b->state == V3XY_BREAKER_HALF_OPEN && v3xy_before(now, until)) {
        (void) v3xy_cas(&b->until, until, now);
    }
}


int
v3xy_breaker_failure(v3xy_breaker_t *b, int probe, unsigned long now,
    unsigned long fails, unsigned long cooldown)
{
    if (fails == 0) {
        return 0;
    }

    if (probe) {
        if (!v3xy_cas(&b->state, V3XY_BREAKER_HALF_OPEN,
                      V3XY_BREAKER_OPEN))
        {
            return 0;
        }

        b->until = now + cooldown;
        v3xy_add(&b->openings, 1);

        return 1;
    }

    if (b->state != V3XY_BREAKER_CLOSED) {
        return 0;
    }

    /* exactly one failure sees the count reach the threshold */

    if (v3xy_add(&b->fails, 1) != fails) {
        return 0;
    }

    b->until = now + cooldown;
    __sync_synchronize();

    if (!v3xy_cas(&b->state, V3XY_BREAKER_CLOSED, V3XY_BREAKER_OPEN)) {
        return 0;
    }

    b->fails = 0;
    v3xy_add(&b->openings, 1);

    return 1;
}
