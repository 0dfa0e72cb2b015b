/*
 * ngx_http_v3xy_shm: the shared-memory limit store (what it offers and
 * what a key costs: ngx_http_v3xy_shm.h).
 *
 * A zone is a slab pool whose data is the shared context: a hash table
 * of nodes and an LRU queue, most recently used first.  A node is found by
 * a digest of its key, its SipHash-2-4-128 under a random key of the zone
 * (src/v3xy_siphash.h: no client-sent key, an API key perhaps, sits in
 * shared memory, and only who can read the zone could choose keys that
 * collide, at a tenth of SHA-256's cost): every node of a zone then has
 * the same size, so forgetting the least recently used one always makes
 * room for a new one (nodes of variable length would fragment the slab
 * classes and need unbounded evictions), and a client-chosen key of any
 * length costs the same memory.
 *
 * The table: a power of two of buckets, about one per node that the zone
 * can hold, each a chain of nodes; the digest's first bytes choose the
 * bucket.  A red-black tree (limit_req's way) walked some 14 nodes for
 * 10,000 keys, each a cache miss in a zone of megabytes: measured with
 * perf, 4.5 % of a worker's time under wrk; a bucket and a node are two.
 *
 * Every decision takes the slab pool's own mutex (which nginx releases if
 * a worker dies holding it) for a table lookup, at most a few evictions and
 * the arithmetic of src/v3xy_limiter.h: a sum over at most 56 counters, a
 * binary search over a ring of at most 6, or O(1) for GCRA.
 *
 * A full zone.  Only idle nodes are forgotten (no admission counts: they
 * decide as fresh keys, forgetting them changes no verdict); a node that
 * counts is never forgotten, since an attacker who sends many distinct
 * keys would otherwise reset anyone's limit.  The queue is in the order
 * of admissions, to the second (a node goes to the head when admitted,
 * not when merely looked up or refused), which is the order in which the
 * nodes of an exact window become idle: the tail goes first, and when the
 * tail still counts, so does every node admitted a second or more after
 * it.  The search for an idle node (ngx_http_v3xy_shm_evict) looks at
 * those between, NGX_HTTP_V3XY_SHM_SCAN at most.  When it finds none the
 * key is not decided here: v3xy_limit_fail is
 * (ngx_http_v3xy_limit_fallback.c).
 * A decision that counts nothing frees the idle nodes it made, so that
 * refused requests with ever new keys leave nothing behind.
 *
 * Rates.  Each decision brings the rate of its key (the zone's rate=, or
 * its tier's: v3xy_limit_zone tier=).  A node records the rate its state
 * was built for and is brought to the rate it is decided at, in place
 * (every node has one size): v3xy_limit_convert() keeps the counts of
 * slots (moved to the new slots if the window or the counter width
 * changed), the newest times of a ring, GCRA's TAT; a change of algorithm
 * starts the key afresh.  So a key whose tier changes keeps what it has
 * used, as does every key when a reload changes the zone's rate.
 *
 * Reloads.  nginx keeps a zone whose name and size did not change, keys
 * and all; its nodes meet the new rates as above.  Old workers finishing
 * their requests may take a node back to their rate meanwhile.  Zones are
 * locked in the order of their shared memory's address, which old and new
 * workers share.  A new build of the module lays nodes out anew: upgrade
 * it with a restart (or nginx's binary upgrade, whose new master makes new
 * zones), not a reload.
 */

#include "ngx_http_v3xy_module.h"
#include "ngx_http_v3xy_shm.h"

#include <openssl/rand.h>

#include "v3xy_limiter.h"
#include "v3xy_siphash.h"


/* warnings of a zone, at most once per this many ms */
#define NGX_HTTP_V3XY_SHM_LOG_MS  60000

/* idle nodes freed from the LRU's tail before a new node is allocated */
#define NGX_HTTP_V3XY_SHM_EXPIRE  2

/*
 * An admitted node goes to the LRU's head at most once in this many ms:
 * moving it touches two other nodes (its neighbours, cache misses in a
 * large zone) for an order that only a full zone needs, and to the second.
 * So a node's newest admission is within this many ms after its lru_ms.
 */
#define NGX_HTTP_V3XY_SHM_LRU_MS  1000


typedef struct ngx_http_v3xy_shm_node_s  ngx_http_v3xy_shm_node_t;

/*
 * A node is 128 bytes, a slab class of its own with nothing lost to
 * rounding: 64 of bookkeeping and the state, at most 64 bytes
 * (src/v3xy_limiter.h), whatever the rate.  The rate its state was built
 * for fits 32-bit fields (limit and burst at most 10^6, window at most 30
 * days, 2,592,000,000 ms of the 4,294,967,295 a field holds); lru_s is in
 * seconds, enough for an order kept to the second.
 */

#if (V3XY_RATE_WINDOW_MAX > 0xffffffff)
#error "a window must fit the 32 bits of a node's window_ms"
#endif

struct ngx_http_v3xy_shm_node_s {
    ngx_http_v3xy_shm_node_t  *next;     /* in its bucket */
    ngx_queue_t                lru;      /* by admission, newest first */
    u_char                     digest[NGX_HTTP_V3XY_SHM_DIGEST];
    uint32_t                   limit;    /* the rate of state */
    uint32_t                   window_ms;
    uint32_t                   burst;
    uint32_t                   lru_s;    /* when it went to the head */
    uint8_t                    in_use;   /* 1 while in a decision */
    uint64_t                   state[V3XY_LIMITER_STATE_MAX / 8];
};


typedef struct {
    ngx_http_v3xy_shm_node_t **buckets;
    uint64_t                   mask;          /* buckets - 1 */
    ngx_queue_t                lru;
    uint64_t                   full_logged;   /* ms of the last warning */
    ngx_uint_t                 full;          /* keys without room since */
    ngx_uint_t                 nodes;         /* keys held */
    u_char                     hash_key[V3XY_SIPHASH_KEY_LEN];
} ngx_http_v3xy_shm_sh_t;


typedef struct {
    ngx_http_v3xy_shm_sh_t    *sh;
    ngx_slab_pool_t           *shpool;
    v3xy_rate_t                rate;      /* rate= */
    ngx_uint_t                 tiered;    /* and rates of tiers */
    ngx_str_t                  name;
} ngx_http_v3xy_shm_ctx_t;


/* a warning found under the locks, logged after */
typedef struct {
    ngx_http_v3xy_shm_ctx_t   *full;
    ngx_uint_t                 keys;      /* without room since the last */
} ngx_http_v3xy_shm_report_t;


static ngx_int_t ngx_http_v3xy_shm_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_http_v3xy_shm_node_t **ngx_http_v3xy_shm_bucket(
    ngx_http_v3xy_shm_ctx_t *ctx, u_char *digest);
static void ngx_http_v3xy_shm_insert(ngx_http_v3xy_shm_ctx_t *ctx,
    ngx_http_v3xy_shm_node_t *node, uint64_t now);
static void ngx_http_v3xy_shm_admitted(ngx_http_v3xy_shm_ctx_t *ctx,
    ngx_http_v3xy_shm_node_t *node, uint64_t now);
static void ngx_http_v3xy_shm_digest(ngx_http_v3xy_shm_ctx_t *ctx,
    ngx_str_t *key, u_char *digest);
static void ngx_http_v3xy_shm_lock(ngx_http_v3xy_shm_item_t *items,
    ngx_uint_t n, ngx_uint_t lock);
static ngx_uint_t ngx_http_v3xy_shm_first(ngx_http_v3xy_shm_item_t *items,
    ngx_uint_t i);
static ngx_http_v3xy_shm_node_t *ngx_http_v3xy_shm_lookup(
    ngx_http_v3xy_shm_ctx_t *ctx, u_char *digest, const v3xy_rate_t *rate,
    uint64_t now, ngx_http_v3xy_shm_report_t *report);
static ngx_http_v3xy_shm_node_t *ngx_http_v3xy_shm_find(
    ngx_http_v3xy_shm_ctx_t *ctx, u_char *digest);
static void ngx_http_v3xy_shm_rerate(ngx_http_v3xy_shm_node_t *node,
    const v3xy_rate_t *rate);
static void ngx_http_v3xy_shm_get_rate(ngx_http_v3xy_shm_node_t *node,
    v3xy_rate_t *rate);
static void ngx_http_v3xy_shm_set_rate(ngx_http_v3xy_shm_node_t *node,
    const v3xy_rate_t *rate);
static ngx_uint_t ngx_http_v3xy_shm_same_rate(ngx_http_v3xy_shm_node_t *node,
    const v3xy_rate_t *rate);
static ngx_uint_t ngx_http_v3xy_shm_node_idle(ngx_http_v3xy_shm_node_t *node,
    uint64_t now);
static ngx_http_v3xy_shm_node_t *ngx_http_v3xy_shm_alloc(
    ngx_http_v3xy_shm_ctx_t *ctx, uint64_t now);
static void ngx_http_v3xy_shm_expire(ngx_http_v3xy_shm_ctx_t *ctx,
    uint64_t now);
static ngx_http_v3xy_shm_node_t *ngx_http_v3xy_shm_evict(
    ngx_http_v3xy_shm_ctx_t *ctx, size_t size, uint64_t now);
static void ngx_http_v3xy_shm_free(ngx_http_v3xy_shm_ctx_t *ctx,
    ngx_http_v3xy_shm_node_t *node);
static ngx_uint_t ngx_http_v3xy_shm_due(uint64_t *last, uint64_t now);
static void ngx_http_v3xy_shm_log(ngx_http_v3xy_shm_report_t *report,
    ngx_log_t *log);


ngx_shm_zone_t *
ngx_http_v3xy_shm_zone_add(ngx_conf_t *cf, ngx_str_t *name, size_t size,
    const v3xy_rate_t *rate, ngx_uint_t tiered)
{
    size_t                    node, need;
    ngx_str_t                 shm_name;
    ngx_shm_zone_t           *shm_zone;
    ngx_http_v3xy_shm_ctx_t  *ctx;

    if (!v3xy_rate_valid(rate)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "v3xy_limit_zone \"%V\": invalid rate", name);
        return NULL;
    }

    /*
     * The pages of one node, two for the zone's own small allocations,
     * one for the slab pool's header and one lost to alignment, each page
     * with its descriptor (24 bytes, 64 with slack); and never less than
     * nginx's own minimum of 8 pages.
     */

    node = ngx_http_v3xy_shm_node_size();

    need = (ngx_align(node, ngx_pagesize) / ngx_pagesize + 4)
           * (ngx_pagesize + 64);

    if (need < 8 * ngx_pagesize) {
        need = 8 * ngx_pagesize;
    }

    if (size < need) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "v3xy_limit_zone \"%V\": size %uz cannot hold "
                           "one key (%uz bytes), it needs at least %uz",
                           name, size, node, need);
        return NULL;
    }

    shm_name.len = sizeof("v3xy_limit:") - 1 + name->len;
    shm_name.data = ngx_pnalloc(cf->pool, shm_name.len);
    if (shm_name.data == NULL) {
        return NULL;
    }

    ngx_sprintf(shm_name.data, "v3xy_limit:%V", name);

    shm_zone = ngx_shared_memory_add(cf, &shm_name, size,
                                     &ngx_http_v3xy_module);
    if (shm_zone == NULL) {
        return NULL;
    }

    if (shm_zone->data != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "v3xy_limit_zone \"%V\" is already declared",
                           name);
        return NULL;
    }

    ctx = ngx_pcalloc(cf->pool, sizeof(ngx_http_v3xy_shm_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    ctx->rate = *rate;
    ctx->tiered = tiered;

    ctx->name.data = ngx_pstrdup(cf->pool, name);
    if (ctx->name.data == NULL) {
        return NULL;
    }

    ctx->name.len = name->len;

    shm_zone->init = ngx_http_v3xy_shm_init_zone;
    shm_zone->data = ctx;

    return shm_zone;
}


ngx_int_t
ngx_http_v3xy_shm_decide(ngx_http_v3xy_shm_item_t *items, ngx_uint_t n,
    uint64_t now_ms, ngx_log_t *log)
{
    ngx_int_t                    rc;
    ngx_uint_t                   i, j;
    ngx_http_v3xy_shm_ctx_t     *ctx;
    ngx_http_v3xy_shm_node_t    *node;
    ngx_http_v3xy_shm_report_t   report;

    /* hashing needs no lock */

    for (i = 0; i < n; i++) {
        ctx = items[i].shm_zone->data;

        items[i].node = NULL;
        items[i].full = 0;
        ngx_memzero(&items[i].verdict, sizeof(v3xy_verdict_t));

        ngx_http_v3xy_shm_digest(ctx, &items[i].key, items[i].digest);
    }

    ngx_memzero(&report, sizeof(ngx_http_v3xy_shm_report_t));

    ngx_http_v3xy_shm_lock(items, n, 1);

    rc = NGX_OK;

    for (i = 0; i < n; i++) {
        node = ngx_http_v3xy_shm_lookup(items[i].shm_zone->data,
                                        items[i].digest, &items[i].rate,
                                        now_ms, &report);
        if (node == NULL) {
            items[i].full = 1;

            if (items[i].pass_full) {
                /* this zone lets the key pass uncounted; the others decide */
                continue;
            }

            rc = NGX_ERROR;
            break;
        }

        /* in use: no eviction for another item may take it */
        node->in_use = 1;
        items[i].node = node;
    }

    if (rc == NGX_OK) {

        /* every node checks once, all before any counts */

        for (i = 0; i < n; i++) {
            if (items[i].node == NULL) {
                continue;
            }

            j = ngx_http_v3xy_shm_first(items, i);

            if (j == i) {
                node = items[i].node;

                v3xy_limit_check(node->state, &items[i].rate, now_ms,
                                 &items[i].verdict);
            }

            /* a dry refusal blocks nothing; the key enforced does */

            if (!items[j].verdict.admitted && !items[i].dry) {
                rc = NGX_DECLINED;
            }
        }

        for (i = 0; i < n; i++) {
            if (items[i].node == NULL) {
                continue;
            }

            j = ngx_http_v3xy_shm_first(items, i);

            if (j != i) {
                items[i].verdict = items[j].verdict;
                continue;
            }

            node = items[i].node;

            if (rc == NGX_OK && items[i].verdict.admitted) {
                /* cannot refuse: checked at this now, under this lock */
                (void) v3xy_limit_commit(node->state, &items[i].rate,
                                         now_ms);

                ngx_http_v3xy_shm_admitted(items[i].shm_zone->data, node,
                                           now_ms);

            } else if (rc != NGX_OK) {
                v3xy_verdict_uncount(&items[i].verdict, &items[i].rate);
            }

            /* else: a dry run's refusal, not counted, its verdict kept */
        }
    }

    /*
     * Nothing counted: a node that counts nothing (one this decision made,
     * most often) goes at once, or ever new keys that are refused would
     * fill the zone with idle nodes at the head of its queue.
     */

    for (i = 0; i < n; i++) {
        node = items[i].node;

        if (node == NULL || ngx_http_v3xy_shm_first(items, i) != i) {
            continue;
        }

        node->in_use = 0;

        if (rc != NGX_OK
            && v3xy_limit_idle(node->state, &items[i].rate, now_ms))
        {
            ngx_http_v3xy_shm_free(items[i].shm_zone->data, node);
        }
    }

    ngx_http_v3xy_shm_lock(items, n, 0);

    ngx_http_v3xy_shm_log(&report, log);

    if (rc == NGX_ERROR) {
        for (i = 0; i < n; i++) {
            ngx_memzero(&items[i].verdict, sizeof(v3xy_verdict_t));
        }
    }

    return rc;
}


/*
 * Forgets a key: its next request is decided as a fresh one.  The webhook
 * replay guard forgets a delivery that the backend did not take.
 */

void
ngx_http_v3xy_shm_forget(ngx_shm_zone_t *shm_zone, ngx_str_t *key)
{
    u_char                     digest[NGX_HTTP_V3XY_SHM_DIGEST];
    ngx_http_v3xy_shm_ctx_t   *ctx;
    ngx_http_v3xy_shm_node_t  *node;

    ctx = shm_zone->data;

    ngx_http_v3xy_shm_digest(ctx, key, digest);

    ngx_shmtx_lock(&ctx->shpool->mutex);

    node = ngx_http_v3xy_shm_find(ctx, digest);

    if (node != NULL && node->in_use == 0) {
        ngx_http_v3xy_shm_free(ctx, node);
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);
}


void
ngx_http_v3xy_shm_usage(ngx_shm_zone_t *shm_zone, ngx_uint_t *keys,
    ngx_uint_t *room)
{
    ngx_http_v3xy_shm_ctx_t  *ctx;

    ctx = shm_zone->data;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    *keys = ctx->sh->nodes;
    *room = ctx->shpool->pfree
            * (ngx_pagesize / ngx_align(ngx_http_v3xy_shm_node_size(), 8));

    ngx_shmtx_unlock(&ctx->shpool->mutex);
}


size_t
ngx_http_v3xy_shm_node_size(void)
{
    return sizeof(ngx_http_v3xy_shm_node_t);
}


static ngx_int_t
ngx_http_v3xy_shm_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_v3xy_shm_ctx_t  *octx = data;

    size_t                    len, n, buckets;
    ngx_http_v3xy_shm_ctx_t  *ctx;

    ctx = shm_zone->data;

    if (octx != NULL) {
        /* a reload kept the zone: its nodes meet the new rate lazily */
        ctx->sh = octx->sh;
        ctx->shpool = octx->shpool;

        return NGX_OK;
    }

    ctx->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        ctx->sh = ctx->shpool->data;

        return NGX_OK;
    }

    ctx->sh = ngx_slab_calloc(ctx->shpool, sizeof(ngx_http_v3xy_shm_sh_t));
    if (ctx->sh == NULL) {
        return NGX_ERROR;
    }

    ctx->shpool->data = ctx->sh;

    /* about a bucket per node that fits, a power of two */

    n = shm_zone->shm.size / ngx_http_v3xy_shm_node_size();

    buckets = 8;

    while (buckets * 2 <= n) {
        buckets *= 2;
    }

    ctx->sh->buckets = ngx_slab_calloc(ctx->shpool,
                                       buckets * sizeof(void *));
    if (ctx->sh->buckets == NULL) {
        return NGX_ERROR;
    }

    ctx->sh->mask = buckets - 1;

    ngx_queue_init(&ctx->sh->lru);

    /* the zone's own: a reload that keeps the zone keeps it too */
    if (RAND_bytes(ctx->sh->hash_key, V3XY_SIPHASH_KEY_LEN) != 1) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "v3xy_limit_zone \"%V\": RAND_bytes() failed",
                      &ctx->name);
        return NGX_ERROR;
    }

    len = sizeof(" in v3xy_limit_zone \"\"") + ctx->name.len;

    ctx->shpool->log_ctx = ngx_slab_alloc(ctx->shpool, len);
    if (ctx->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(ctx->shpool->log_ctx, " in v3xy_limit_zone \"%V\"%Z",
                &ctx->name);

    /* a full zone is ours to report, once a minute, not nginx's each time */
    ctx->shpool->log_nomem = 0;

    return NGX_OK;
}


/* the key's SipHash-2-4-128 under the zone's key: no lock, no failure */

static void
ngx_http_v3xy_shm_digest(ngx_http_v3xy_shm_ctx_t *ctx, ngx_str_t *key,
    u_char *digest)
{
    v3xy_siphash(ctx->sh->hash_key, key->data, key->len, digest,
                 NGX_HTTP_V3XY_SHM_DIGEST);
}


/*
 * Locks (or unlocks) the zone of every item once, in ascending order of
 * the zones' shared memory, so that two decisions never wait for each
 * other.  n is small: a scan per zone.
 */

static void
ngx_http_v3xy_shm_lock(ngx_http_v3xy_shm_item_t *items, ngx_uint_t n,
    ngx_uint_t lock)
{
    ngx_uint_t                i;
    ngx_slab_pool_t          *shpool, *prev;
    ngx_http_v3xy_shm_ctx_t  *ctx;

    prev = NULL;

    for ( ;; ) {
        shpool = NULL;

        for (i = 0; i < n; i++) {
            ctx = items[i].shm_zone->data;

            if ((prev == NULL || (uintptr_t) ctx->shpool > (uintptr_t) prev)
                && (shpool == NULL
                    || (uintptr_t) ctx->shpool < (uintptr_t) shpool))
            {
                shpool = ctx->shpool;
            }
        }

        if (shpool == NULL) {
            return;
        }

        if (lock) {
            ngx_shmtx_lock(&shpool->mutex);

        } else {
            ngx_shmtx_unlock(&shpool->mutex);
        }

        prev = shpool;
    }
}


/* the first item of the same zone and key as items[i] */

static ngx_uint_t
ngx_http_v3xy_shm_first(ngx_http_v3xy_shm_item_t *items, ngx_uint_t i)
{
    ngx_uint_t  j;

    for (j = 0; j < i; j++) {
        if (items[j].node == items[i].node) {
            return j;
        }
    }

    return i;
}


/* the node of a key at its rate, made if new; the zone is locked */

static ngx_http_v3xy_shm_node_t *
ngx_http_v3xy_shm_lookup(ngx_http_v3xy_shm_ctx_t *ctx, u_char *digest,
    const v3xy_rate_t *rate, uint64_t now, ngx_http_v3xy_shm_report_t *report)
{
    ngx_http_v3xy_shm_node_t  *node;

    node = ngx_http_v3xy_shm_find(ctx, digest);

    if (node != NULL) {
        if (!ngx_http_v3xy_shm_same_rate(node, rate)) {
            ngx_http_v3xy_shm_rerate(node, rate);
        }

        return node;
    }

    ngx_http_v3xy_shm_expire(ctx, now);

    node = ngx_http_v3xy_shm_alloc(ctx, now);

    if (node == NULL) {
        ctx->sh->full++;

        if (report->full == NULL
            && ngx_http_v3xy_shm_due(&ctx->sh->full_logged, now))
        {
            report->full = ctx;
            report->keys = ctx->sh->full;
            ctx->sh->full = 0;
        }

        return NULL;
    }

    ngx_memcpy(node->digest, digest, NGX_HTTP_V3XY_SHM_DIGEST);
    ngx_http_v3xy_shm_set_rate(node, rate);

    v3xy_limit_init(node->state, rate);

    ngx_http_v3xy_shm_insert(ctx, node, now);

    return node;
}


static ngx_http_v3xy_shm_node_t *
ngx_http_v3xy_shm_find(ngx_http_v3xy_shm_ctx_t *ctx, u_char *digest)
{
    ngx_http_v3xy_shm_node_t  *node;

    for (node = *ngx_http_v3xy_shm_bucket(ctx, digest);
         node;
         node = node->next)
    {
        if (ngx_memcmp(digest, node->digest, NGX_HTTP_V3XY_SHM_DIGEST) == 0) {
            return node;
        }
    }

    return NULL;
}


/* the head of a digest's chain: its first 8 bytes, as uniform as SipHash */

static ngx_http_v3xy_shm_node_t **
ngx_http_v3xy_shm_bucket(ngx_http_v3xy_shm_ctx_t *ctx, u_char *digest)
{
    uint64_t  h;

    ngx_memcpy(&h, digest, sizeof(uint64_t));

    return &ctx->sh->buckets[h & ctx->sh->mask];
}


/* a new node into its bucket and to the LRU's head */

static void
ngx_http_v3xy_shm_insert(ngx_http_v3xy_shm_ctx_t *ctx,
    ngx_http_v3xy_shm_node_t *node, uint64_t now)
{
    ngx_http_v3xy_shm_node_t  **bucket;

    bucket = ngx_http_v3xy_shm_bucket(ctx, node->digest);

    node->in_use = 0;
    node->next = *bucket;
    *bucket = node;

    ngx_queue_insert_head(&ctx->sh->lru, &node->lru);
    node->lru_s = (uint32_t) (now / NGX_HTTP_V3XY_SHM_LRU_MS);
}


/* an admission: the node goes to the LRU's head, if not there this second */

static void
ngx_http_v3xy_shm_admitted(ngx_http_v3xy_shm_ctx_t *ctx,
    ngx_http_v3xy_shm_node_t *node, uint64_t now)
{
    uint32_t  s;

    s = (uint32_t) (now / NGX_HTTP_V3XY_SHM_LRU_MS);

    if (s != node->lru_s) {
        ngx_queue_remove(&node->lru);
        ngx_queue_insert_head(&ctx->sh->lru, &node->lru);
        node->lru_s = s;
    }
}


/*
 * A node made under another rate (its key's tier changed, or a reload
 * changed the zone's rates), brought to this one in place: every node is
 * of one size (v3xy_limit_convert() says what is kept).
 */

static void
ngx_http_v3xy_shm_rerate(ngx_http_v3xy_shm_node_t *node,
    const v3xy_rate_t *rate)
{
    uint64_t     old[V3XY_LIMITER_STATE_MAX / 8];
    v3xy_rate_t  from;

    ngx_http_v3xy_shm_get_rate(node, &from);
    ngx_memcpy(old, node->state, sizeof(old));

    v3xy_limit_convert(node->state, rate, old, &from);

    ngx_http_v3xy_shm_set_rate(node, rate);
}


/* the rate of a node's state */

static void
ngx_http_v3xy_shm_get_rate(ngx_http_v3xy_shm_node_t *node,
    v3xy_rate_t *rate)
{
    rate->limit = node->limit;
    rate->window_ms = node->window_ms;
    rate->burst = node->burst;
}


static void
ngx_http_v3xy_shm_set_rate(ngx_http_v3xy_shm_node_t *node,
    const v3xy_rate_t *rate)
{
    node->limit = (uint32_t) rate->limit;
    node->window_ms = (uint32_t) rate->window_ms;
    node->burst = (uint32_t) rate->burst;
}


static ngx_uint_t
ngx_http_v3xy_shm_node_idle(ngx_http_v3xy_shm_node_t *node, uint64_t now)
{
    v3xy_rate_t  rate;

    ngx_http_v3xy_shm_get_rate(node, &rate);

    return v3xy_limit_idle(node->state, &rate, now);
}


static ngx_uint_t
ngx_http_v3xy_shm_same_rate(ngx_http_v3xy_shm_node_t *node,
    const v3xy_rate_t *rate)
{
    return node->limit == rate->limit && node->window_ms == rate->window_ms
           && node->burst == rate->burst;
}


/*
 * A node, not yet in the table or the queue; if the zone is full, in the
 * room of idle nodes; NULL if none was found.
 */

static ngx_http_v3xy_shm_node_t *
ngx_http_v3xy_shm_alloc(ngx_http_v3xy_shm_ctx_t *ctx, uint64_t now)
{
    size_t                     size;
    ngx_http_v3xy_shm_node_t  *node;

    size = ngx_http_v3xy_shm_node_size();

    node = ngx_slab_alloc_locked(ctx->shpool, size);

    if (node != NULL) {
        ctx->sh->nodes++;
        return node;
    }

    return ngx_http_v3xy_shm_evict(ctx, size, now);
}


/* frees a few nodes from the LRU's tail that no longer count anything */

static void
ngx_http_v3xy_shm_expire(ngx_http_v3xy_shm_ctx_t *ctx, uint64_t now)
{
    ngx_uint_t                 i;
    ngx_queue_t               *q;
    ngx_http_v3xy_shm_node_t  *node;

    for (i = 0; i < NGX_HTTP_V3XY_SHM_EXPIRE; i++) {

        if (ngx_queue_empty(&ctx->sh->lru)) {
            return;
        }

        q = ngx_queue_last(&ctx->sh->lru);
        node = ngx_queue_data(q, ngx_http_v3xy_shm_node_t, lru);

        if (node->in_use || !ngx_http_v3xy_shm_node_idle(node, now))
        {
            return;
        }

        ngx_http_v3xy_shm_free(ctx, node);
    }
}


/*
 * Frees idle nodes not in use by this decision, from the LRU's tail (the
 * least recently admitted first), until a node of size fits; NULL if none
 * does.  A node that still counts is never freed.
 *
 * The walk is bounded: NGX_HTTP_V3XY_SHM_SCAN nodes at most, the bound of
 * the evictions of old (a decision's work under the lock stays what it
 * was; all nodes of a zone have one size, so the first idle node is
 * normally enough).  And it stops early where nothing idle can be left:
 * a node's newest admission lies within NGX_HTTP_V3XY_SHM_LRU_MS after its
 * lru_ms, so once the walk has met a live node L of the zone's rate, every
 * node X of that rate with lru_ms at least L's + LRU_MS was admitted after
 * L's newest admission and counts too (exact window: it still holds that
 * admission; GCRA: its TAT is ahead of L's by at most (B - 1) * T less,
 * which the margin adds).  So in a zone of one rate the only idle nodes it
 * can miss are those past the SCAN-th of the same second as the tail (or
 * of GCRA's margin); nodes of an older rate (a reload) are judged when
 * met; a clock that stepped back only makes the walk stop sooner.  In a
 * zone with tiers the rule holds only between nodes of one rate (a node
 * of a shorter window may be idle behind a live one of a longer): past
 * the mark, the nodes of L's rate are skipped and the others judged,
 * within the same bound of SCAN nodes.  Missing
 * one costs a request the v3xy_limit_fail outcome, never a count.  What
 * the walk costs: nothing more while the tail is idle (the common full
 * zone); in a zone full of live keys, a new key walks up to 64 nodes
 * (callgrind: about 4,300 instructions in ngx_http_v3xy_shm_decide, where
 * forgetting a live key took 1,500; the 503 costs less than the upstream
 * request the forgotten key was admitted to).
 */

static ngx_http_v3xy_shm_node_t *
ngx_http_v3xy_shm_evict(ngx_http_v3xy_shm_ctx_t *ctx, size_t size,
    uint64_t now)
{
    uint64_t                   stop, t;
    ngx_uint_t                 i;
    ngx_queue_t               *q, *prev;
    v3xy_rate_t                rate;
    ngx_http_v3xy_shm_node_t  *node, *fresh;

    rate = ctx->rate;
    stop = 0;

    q = ngx_queue_last(&ctx->sh->lru);

    for (i = 0;
         i < NGX_HTTP_V3XY_SHM_SCAN && q != ngx_queue_sentinel(&ctx->sh->lru);
         i++, q = prev)
    {
        prev = ngx_queue_prev(q);
        node = ngx_queue_data(q, ngx_http_v3xy_shm_node_t, lru);

        if (stop && (uint64_t) node->lru_s * NGX_HTTP_V3XY_SHM_LRU_MS >= stop)
        {
            if (!ctx->tiered) {
                break;
            }

            if (ngx_http_v3xy_shm_same_rate(node, &rate)) {
                continue;
            }
        }

        if (node->in_use) {
            continue;
        }

        if (ngx_http_v3xy_shm_node_idle(node, now)) {
            ngx_http_v3xy_shm_free(ctx, node);

            fresh = ngx_slab_alloc_locked(ctx->shpool, size);
            if (fresh != NULL) {
                ctx->sh->nodes++;
                return fresh;
            }

            continue;
        }

        if (stop == 0
            && (ctx->tiered || ngx_http_v3xy_shm_same_rate(node, &rate)))
        {
            /* the live node's rate: the zone's, or in a tiered zone any */
            ngx_http_v3xy_shm_get_rate(node, &rate);

            /* GCRA's margin: (B - 1) * T, T = ceil(W * 1000 / N) us */
            t = rate.burst
                ? ((rate.burst - 1)
                   * ((rate.window_ms * 1000 + rate.limit - 1)
                      / rate.limit) + 999) / 1000
                : 0;

            stop = (uint64_t) node->lru_s * NGX_HTTP_V3XY_SHM_LRU_MS
                   + NGX_HTTP_V3XY_SHM_LRU_MS + t;
        }
    }

    return NULL;
}


static void
ngx_http_v3xy_shm_free(ngx_http_v3xy_shm_ctx_t *ctx,
    ngx_http_v3xy_shm_node_t *node)
{
    ngx_http_v3xy_shm_node_t  **p;

    for (p = ngx_http_v3xy_shm_bucket(ctx, node->digest);
         *p != node;
         p = &(*p)->next)
    {
        /* void */
    }

    *p = node->next;

    ngx_queue_remove(&node->lru);
    ngx_slab_free_locked(ctx->shpool, node);
    ctx->sh->nodes--;
}


/* 1 (and the time noted) if a warning is due: none in the last minute */

static ngx_uint_t
ngx_http_v3xy_shm_due(uint64_t *last, uint64_t now)
{
    if (*last != 0 && now >= *last && now - *last < NGX_HTTP_V3XY_SHM_LOG_MS)
    {
        return 0;
    }

    *last = now ? now : 1;

    return 1;
}


static void
ngx_http_v3xy_shm_log(ngx_http_v3xy_shm_report_t *report, ngx_log_t *log)
{
    if (report->full != NULL) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "v3xy_limit_zone \"%V\" is full of keys that still "
                      "count admissions: none is forgotten, new keys are "
                      "decided by v3xy_limit_fail (%ui since the last "
                      "warning); a larger size= holds more keys",
                      &report->full->name, report->keys);
    }
}
