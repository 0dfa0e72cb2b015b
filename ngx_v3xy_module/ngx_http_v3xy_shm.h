/*
 * ngx_http_v3xy_shm: the shared-memory limit store.
 *
 * One nginx shared memory zone per v3xy_limit_zone, shared by the workers
 * of one machine: a slab pool, a hash table of keys and an LRU queue,
 * each key holding the state of the algorithm src/v3xy_limiter.h chooses
 * for the zone's rate (a ring of admission times up to 6 a window, bounded
 * slots of counts above, GCRA's TAT with a burst) for the rate its key is
 * decided at: the zone's, or its tier's.  Verdicts are those of
 * v3xy_window.h and v3xy_slots.h.
 *
 * Memory per key (64-bit): a node of 128 bytes whatever the rate (64 of
 * bookkeeping, the state in at most 64), whatever the key's length (the
 * table holds the key's 128-bit SipHash, not the key), one of the slab's
 * size classes with nothing lost to rounding, plus about one 8-byte bucket
 * per node that fits in the zone's table: 136 bytes a key, so a 10m zone
 * holds 77,248 keys of any rate (measured; a ring of 300 times took a page).
 *
 * When it is full, a new key takes the room of an idle one (no admission
 * counts any more: it decides as a fresh key), the least recently
 * admitted first.  A key that still counts admissions is never
 * forgotten: forgetting it would reset its limit, and whoever can send
 * many distinct keys (recipients, say) could reset anyone's.  When no idle
 * key is found, the new key is not decided here (NGX_ERROR, item "full"):
 * v3xy_limit_fail decides, with a warning at most once a minute per zone.
 */

#ifndef _NGX_HTTP_V3XY_SHM_H_INCLUDED_
#define _NGX_HTTP_V3XY_SHM_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "v3xy_window.h"


#define NGX_HTTP_V3XY_SHM_DIGEST  16

/* nodes a full zone looks at, from the LRU's tail, for an idle one */
#define NGX_HTTP_V3XY_SHM_SCAN    64


typedef struct {
    ngx_shm_zone_t            *shm_zone;  /* in: of shm_zone_add() */
    v3xy_rate_t                rate;      /* in: the key's rate: the
                                             zone's, or its tier's */
    ngx_str_t                  key;       /* in: the request's key */
    ngx_uint_t                 pass_full; /* in: a zone with no room for
                                             the key lets it pass */
    ngx_uint_t                 dry;       /* in: dry run: its refusal
                                             blocks no other item */
    v3xy_verdict_t             verdict;   /* out */
    ngx_uint_t                 full;      /* out: 1 if this item's zone
                                             had no room for its key */

    /* private to the store */
    void                      *node;
    u_char                     digest[NGX_HTTP_V3XY_SHM_DIGEST];
} ngx_http_v3xy_shm_item_t;


/*
 * Declares the shared memory zone "v3xy_limit:NAME" of size bytes for a
 * rate (which must pass v3xy_rate_valid()), at configuration time; tiered:
 * its keys may be decided at other rates too (each must pass
 * v3xy_rate_valid(): the caller checks them).  NULL after logging why: a
 * zone NAME declared twice, a size too small for one key (a node has one
 * size whatever its rate), or nginx's own refusals (the same name with
 * another size).  A reload that keeps the name and the size keeps every
 * key's state, even if the rates change (see ngx_http_v3xy_shm.c).
 */
ngx_shm_zone_t *ngx_http_v3xy_shm_zone_add(ngx_conf_t *cf, ngx_str_t *name,
    size_t size, const v3xy_rate_t *rate, ngx_uint_t tiered);

/*
 * Decides a request in every zone of items[0 .. n) at once: each zone is
 * locked (in the order of their addresses, each once), every zone checks,
 * and only if all of them admit does every zone count the request.
 *
 * An item in dry run ("dry": v3xy_limit_dry_run) reports its verdict but
 * blocks no other: the others decide as if it were absent, and it counts
 * the request only where it admits it and the others count it too (as
 * it would if it were enforced: a refusal costs a zone nothing).
 *
 *   NGX_OK        every item not in dry run admitted, and all were
 *                 counted but the dry items that refused (verdicts after
 *                 the count; a dry refusal's says when to retry);
 *   NGX_DECLINED  some item not in dry run refused, nothing was counted
 *                 anywhere: the refusing zones' verdicts say when to
 *                 retry, the others' are their state without this
 *                 request (v3xy_verdict_uncount());
 *   NGX_ERROR     a zone could not hold a new key without forgetting one
 *                 that still counts admissions (its item's "full" is 1;
 *                 logged at warn, once a minute per zone): nothing was
 *                 counted, verdicts are 0; the caller applies
 *                 v3xy_limit_fail.
 *
 * An item with pass_full (v3xy_limit_fail open) whose zone has no room is
 * not an error: its "full" is 1, its verdict 0, and it takes no part in
 * the decision of the others (the request passes it uncounted).
 *
 * The same zone and key twice in items counts once.  now_ms is the clock
 * of the verdicts (ngx_http_v3xy_now_ms()); it may step back (see
 * v3xy_window.h).
 */
ngx_int_t ngx_http_v3xy_shm_decide(ngx_http_v3xy_shm_item_t *items,
    ngx_uint_t n, uint64_t now_ms, ngx_log_t *log);

/* Forgets key in the zone (it is decided afresh next time). */
void ngx_http_v3xy_shm_forget(ngx_shm_zone_t *shm_zone, ngx_str_t *key);

/*
 * The keys a zone holds, and the keys its free pages could hold (room in
 * pages that hold keys already is not counted: room is at least that).
 */
void ngx_http_v3xy_shm_usage(ngx_shm_zone_t *shm_zone, ngx_uint_t *keys,
    ngx_uint_t *room);

/* The bytes a node of one key takes before the slab rounds it up. */
size_t ngx_http_v3xy_shm_node_size(void);


#endif /* _NGX_HTTP_V3XY_SHM_H_INCLUDED_ */
