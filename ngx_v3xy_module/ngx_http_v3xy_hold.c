/*
 * ngx_http_v3xy_hold: the API's own 429, honoured fleet-wide.
 *
 * When the API (primary or backup base URL) answers 429 with Retry-After
 * for a key, the header filter here remembers until when (src/v3xy_hold.h:
 * delta-seconds or an HTTP-date, capped at max=), for the key and the
 * location's area (area=, by default the location's name: the API's
 * limits are per key and per endpoint class, and a 429 of payment
 * creation says nothing of payment status):
 *
 *   - in the shared-memory zone "v3xy_holds" of this nginx, by the
 *     SHA-256 of key id and area (never the key);
 *   - with v3xy_redis, in the string v3xy:{hold:<key id>}:<area>, set with
 *     PX by a script that keeps the later of two holds (a shorter
 *     Retry-After never shortens a longer hold).
 *
 * Until then the pipeline answers the key's requests of that area itself:
 * 429 rate_limited and the remaining Retry-After, before the module's own
 * limits (a held request costs the key no quota) and without calling the
 * API.
 *
 * How another nginx of the fleet learns: a request whose area's knowledge
 * of Redis is older than sync= (1 s by default) claims the check for its
 * nginx (in the zone, so one per machine, not per worker) and waits for
 * one PTTL (nginx's event loop; at most v3xy_redis's timeout); the others
 * go by the zone.  So a hold set anywhere in the fleet is honoured here
 * within sync= and one round trip, at the cost of one PTTL per key and
 * area per sync= per nginx, whatever the traffic.  Redis down or slow:
 * the check is given up (the request goes on), and the zone's holds,
 * those this nginx saw itself and those it learnt, still apply.
 *
 * The zone holds about 30,000 keys and areas; a full zone forgets the
 * least recently used (a forgotten hold costs one request to the API,
 * which states it again).
 */

#include "ngx_http_v3xy_module.h"
#include "ngx_http_v3xy_hold.h"
#include "ngx_http_v3xy_key.h"
#include "ngx_http_v3xy_metrics.h"
#include "v3xy_hold.h"

#include <openssl/sha.h>


#define NGX_HTTP_V3XY_HOLD_ZONE     (4 * 1024 * 1024)
#define NGX_HTTP_V3XY_HOLD_DIGEST   16

/* a node whose hold is over and whose check is this old is dropped */
#define NGX_HTTP_V3XY_HOLD_IDLE     60000

/* a request's check: Redis asked, Redis answered (or not), passed */
#define NGX_HTTP_V3XY_HOLD_WAITING  1
#define NGX_HTTP_V3XY_HOLD_CHECKED  2
#define NGX_HTTP_V3XY_HOLD_PASSED   3

/* metrics: [role][source] */
#define NGX_HTTP_V3XY_HOLD_API      0
#define NGX_HTTP_V3XY_HOLD_HELD     1


struct ngx_http_v3xy_hold_conf_s {
    ngx_str_t                  area;       /* area=; "": the location's */
    ngx_msec_t                 max;        /* max= */
    ngx_msec_t                 dflt;       /* default=; 0: no hold */
    ngx_msec_t                 sync;       /* sync= */
};


typedef struct {
    ngx_rbtree_node_t          node;       /* key: the digest's first */
    ngx_queue_t                queue;      /* least recently used last */
    uint64_t                   until;      /* wall ms; 0: none */
    uint64_t                   synced;     /* wall ms of the last check */
    u_char                     digest[NGX_HTTP_V3XY_HOLD_DIGEST];
} ngx_http_v3xy_hold_node_t;


typedef struct {
    ngx_rbtree_t               rbtree;
    ngx_rbtree_node_t          sentinel;
    ngx_queue_t                queue;
    uint64_t                   full_logged;
} ngx_http_v3xy_hold_sh_t;


/* a request's check of its hold */
struct ngx_http_v3xy_hold_ctx_s {
    ngx_http_request_t         *request;
    void                       *lcf;       /* the location it judged */
    ngx_uint_t                  state;
    ngx_http_v3xy_redis_cmd_t  *cmd;       /* the PTTL under way */
    ngx_event_t                 ev;        /* timeout, then resume */
    ngx_shm_zone_t             *zone;
    ngx_msec_t                  max;
    u_char                      digest[NGX_HTTP_V3XY_HOLD_DIGEST];
};


static ngx_int_t ngx_http_v3xy_hold_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_str_t *ngx_http_v3xy_hold_key_id(ngx_http_request_t *r,
    ngx_http_v3xy_loc_conf_t *vlcf, ngx_http_v3xy_ctx_t *ctx);
static ngx_int_t ngx_http_v3xy_hold_names(ngx_http_request_t *r,
    ngx_http_v3xy_loc_conf_t *vlcf, ngx_str_t *key_id, u_char *digest,
    ngx_str_t *area, ngx_str_t *rkey);
static uint64_t ngx_http_v3xy_hold_touch(ngx_shm_zone_t *zone,
    u_char *digest, uint64_t now, uint64_t until, ngx_msec_t sync,
    ngx_uint_t *check, ngx_log_t *log);
static ngx_int_t ngx_http_v3xy_hold_refuse(ngx_http_request_t *r,
    ngx_http_v3xy_ctx_t *ctx, ngx_str_t *key_id, uint64_t left);
static ngx_int_t ngx_http_v3xy_hold_check(ngx_http_request_t *r,
    ngx_http_v3xy_ctx_t *ctx, ngx_http_v3xy_hold_ctx_t *h, ngx_str_t *rkey);
static void ngx_http_v3xy_hold_reply(void *data, redisReply *reply);
static void ngx_http_v3xy_hold_event(ngx_event_t *ev);
static void ngx_http_v3xy_hold_cleanup(void *data);
static ngx_int_t ngx_http_v3xy_hold_header_filter(ngx_http_request_t *r);
static void ngx_http_v3xy_hold_seen(ngx_http_request_t *r,
    ngx_http_v3xy_loc_conf_t *vlcf, ngx_http_v3xy_ctx_t *ctx,
    ngx_str_t *key_id);
static void ngx_http_v3xy_hold_stored(void *data, redisReply *reply);
static char *ngx_http_v3xy_hold_invalid(ngx_conf_t *cf, ngx_str_t *value,
    const char *param, const char *range);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;


/* where no v3xy_upstream_429 says otherwise: hold, 10 min at most */
static ngx_http_v3xy_hold_conf_t  ngx_http_v3xy_hold_default = {
    ngx_null_string, 600000, 0, 1000
};


/*
 * Sets the hold unless Redis holds the key longer already: KEYS[1] the
 * hold, ARGV[1] its ms.  Returns the hold's ms from now.
 */
static u_char  ngx_http_v3xy_hold_lua[] =
"local left = redis.call('PTTL', KEYS[1])\n"
"local ms = tonumber(ARGV[1])\n"
"if left >= ms then return left end\n"
"redis.call('SET', KEYS[1], '1', 'PX', ms)\n"
"return ms\n";


/* v3xy_upstream_429 hold [area=NAME] [max=T] [default=T] [sync=T] | pass */

char *
ngx_http_v3xy_upstream_429(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_v3xy_loc_conf_t  *vlcf = conf;

    ngx_int_t                   n;
    ngx_str_t                  *value, s;
    ngx_uint_t                  i, p, seen;
    ngx_http_v3xy_hold_conf_t  *hc;

    static const char          *params[] = {
        "area=", "max=", "default=", "sync="
    };

    if (vlcf->hold != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "pass") == 0) {
        if (cf->args->nelts > 2) {
            return "takes no parameters after \"pass\"";
        }

        vlcf->hold = NULL;
        return NGX_CONF_OK;
    }

    if (ngx_strcmp(value[1].data, "hold") != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\": \"hold\" or \"pass\"",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    hc = ngx_palloc(cf->pool, sizeof(ngx_http_v3xy_hold_conf_t));
    if (hc == NULL) {
        return NGX_CONF_ERROR;
    }

    *hc = ngx_http_v3xy_hold_default;

    seen = 0;

    for (i = 2; i < cf->args->nelts; i++) {

        /* each parameter once: a second would silently win */

        for (p = 0; p < 4; p++) {
            if (ngx_strncmp(value[i].data, params[p], ngx_strlen(params[p]))
                == 0)
            {
                break;
            }
        }

        if (p == 4) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\": use area=NAME, "
                               "max=TIME, default=TIME or sync=TIME",
                               &value[i]);
            return NGX_CONF_ERROR;
        }

        if (seen & (1 << p)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate parameter \"%V\": %s given twice",
                               &value[i], params[p]);
            return NGX_CONF_ERROR;
        }

        seen |= 1 << p;

        s.data = value[i].data + ngx_strlen(params[p]);
        s.len = value[i].len - ngx_strlen(params[p]);

        switch (p) {

        case 0: /* area= */
            if (s.len == 0 || s.len > 128) {
                return ngx_http_v3xy_hold_invalid(cf, &value[i], params[p],
                                                  "1 to 128 characters");
            }

            hc->area = s;
            break;

        case 1: /* max= */
            n = ngx_parse_time(&s, 0);
            if (n == NGX_ERROR || n < 1000 || n > 86400000) {
                return ngx_http_v3xy_hold_invalid(cf, &value[i], params[p],
                                                  "a time of 1s to 24h");
            }

            hc->max = n;
            break;

        case 2: /* default= */
            if (s.len == 3 && ngx_strncmp(s.data, "off", 3) == 0) {
                hc->dflt = 0;
                break;
            }

            n = ngx_parse_time(&s, 0);
            if (n == NGX_ERROR || n > 86400000) {
                return ngx_http_v3xy_hold_invalid(cf, &value[i], params[p],
                                                  "off, or a time of 0 to "
                                                  "24h");
            }

            hc->dflt = n;
            break;

        default: /* sync= */
            n = ngx_parse_time(&s, 0);
            if (n == NGX_ERROR || n > 60000) {
                return ngx_http_v3xy_hold_invalid(cf, &value[i], params[p],
                                                  "a time of 0 to 60s");
            }

            hc->sync = n;
        }
    }

    vlcf->hold = hc;

    return NGX_CONF_OK;
}


static char *
ngx_http_v3xy_hold_invalid(ngx_conf_t *cf, ngx_str_t *value,
    const char *param, const char *range)
{
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\": %s is %s", value, param,
                       range);
    return NGX_CONF_ERROR;
}


/* inherited; "hold" by default; the zone once a location holds keys */

char *
ngx_http_v3xy_hold_merge(ngx_conf_t *cf, ngx_http_v3xy_loc_conf_t *prev,
    ngx_http_v3xy_loc_conf_t *conf)
{
    ngx_str_t                   name;
    ngx_http_v3xy_main_conf_t  *vmcf;

    ngx_conf_merge_ptr_value(conf->hold, prev->hold,
                             &ngx_http_v3xy_hold_default);

    if (!ngx_http_v3xy_hold_applies(conf)) {
        return NGX_CONF_OK;
    }

    vmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_v3xy_module);

    if (vmcf->hold_zone != NULL) {
        return NGX_CONF_OK;
    }

    ngx_str_set(&name, "v3xy_holds");

    vmcf->hold_zone = ngx_shared_memory_add(cf, &name,
                                            NGX_HTTP_V3XY_HOLD_ZONE,
                                            &ngx_http_v3xy_module);
    if (vmcf->hold_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    vmcf->hold_zone->init = ngx_http_v3xy_hold_init_zone;

    return NGX_CONF_OK;
}


ngx_uint_t
ngx_http_v3xy_hold_applies(ngx_http_v3xy_loc_conf_t *vlcf)
{
    return vlcf->hold != NULL
           && (vlcf->api_key != NULL || vlcf->key_store != NULL);
}


ngx_int_t
ngx_http_v3xy_hold_init(ngx_conf_t *cf)
{
    ngx_http_v3xy_main_conf_t  *vmcf;

    vmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_v3xy_module);

    if (vmcf->hold_zone == NULL) {
        return NGX_OK;
    }

    vmcf->hold_script.text.data = ngx_http_v3xy_hold_lua;
    vmcf->hold_script.text.len = sizeof(ngx_http_v3xy_hold_lua) - 1;

    if (ngx_http_v3xy_redis_script_init(&vmcf->hold_script) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_v3xy_hold_header_filter;

    return NGX_OK;
}


/* a reload keeps the holds: the API's word does not change with it */

static ngx_int_t
ngx_http_v3xy_hold_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_slab_pool_t          *shpool;
    ngx_http_v3xy_hold_sh_t  *sh;

    if (data != NULL) {
        shm_zone->data = data;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        shm_zone->data = shpool->data;
        return NGX_OK;
    }

    sh = ngx_slab_calloc(shpool, sizeof(ngx_http_v3xy_hold_sh_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    ngx_rbtree_init(&sh->rbtree, &sh->sentinel, ngx_rbtree_insert_value);
    ngx_queue_init(&sh->queue);

    shpool->data = sh;
    shm_zone->data = sh;

    shpool->log_nomem = 0;

    return NGX_OK;
}


/* the request */

/*
 * The key that the request carries upstream: the sidecar's (unless the
 * request goes with Authorization, without it), or the gateway's
 * presented key once judged.
 */

static ngx_str_t *
ngx_http_v3xy_hold_key_id(ngx_http_request_t *r,
    ngx_http_v3xy_loc_conf_t *vlcf, ngx_http_v3xy_ctx_t *ctx)
{
    if (!ngx_http_v3xy_hold_applies(vlcf)) {
        return NULL;
    }

    if (vlcf->api_key != NULL) {
        return (r->headers_in.authorization == NULL)
               ? &vlcf->api_key->key_id : NULL;
    }

    return (ctx != NULL && ctx->key_id.len) ? &ctx->key_id : NULL;
}


/* the digest in the zone, the area, and (rkey not NULL) Redis's key */

static ngx_int_t
ngx_http_v3xy_hold_names(ngx_http_request_t *r,
    ngx_http_v3xy_loc_conf_t *vlcf, ngx_str_t *key_id, u_char *digest,
    ngx_str_t *area, ngx_str_t *rkey)
{
    u_char                    *p, *buf;
    u_char                     md[SHA256_DIGEST_LENGTH];
    ngx_http_core_loc_conf_t  *clcf;

    if (vlcf->hold->area.len) {
        *area = vlcf->hold->area;

    } else {
        /* the backup's location has the primary's name */
        clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);
        *area = clcf->name;
    }

    buf = ngx_pnalloc(r->pool, sizeof("v3xy:{hold:}:") - 1 + key_id->len
                               + area->len);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(buf, "v3xy:{hold:", sizeof("v3xy:{hold:") - 1);
    p = ngx_cpymem(p, key_id->data, key_id->len);
    p = ngx_cpymem(p, "}:", 2);
    p = ngx_cpymem(p, area->data, area->len);

    if (rkey != NULL) {
        rkey->data = buf;
        rkey->len = p - buf;
    }

    if (ngx_http_v3xy_sha256(buf, p - buf, md) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_memcpy(digest, md, NGX_HTTP_V3XY_HOLD_DIGEST);

    return NGX_OK;
}


ngx_int_t
ngx_http_v3xy_hold(ngx_http_request_t *r, ngx_http_v3xy_loc_conf_t *vlcf,
    ngx_http_v3xy_ctx_t *ctx)
{
    uint64_t                    now, until;
    ngx_str_t                  *key_id, area, rkey;
    ngx_uint_t                  check;
    ngx_http_v3xy_hold_ctx_t   *h;
    ngx_http_v3xy_main_conf_t  *vmcf;

    if (r != r->main) {
        return NGX_OK;
    }

    key_id = ngx_http_v3xy_hold_key_id(r, vlcf, ctx);

    if (key_id == NULL) {
        return NGX_OK;
    }

    vmcf = ngx_http_get_module_main_conf(r, ngx_http_v3xy_module);
    now = ngx_http_v3xy_now_ms();
    check = 0;

    h = ctx->hold;

    if (h != NULL && h->lcf == vlcf) {

        if (h->state == NGX_HTTP_V3XY_HOLD_WAITING) {
            return NGX_AGAIN;
        }

        /*
         * Passed once: not judged again when a later step (a limit's
         * Redis call) resumes the request, which may have been counted.
         */

        if (h->state == NGX_HTTP_V3XY_HOLD_PASSED) {
            return NGX_OK;
        }

        /* Redis has answered (or not): the zone knows what it said */

        until = ngx_http_v3xy_hold_touch(h->zone, h->digest, now, 0, 0, NULL,
                                         r->connection->log);

        if (until > now) {
            return ngx_http_v3xy_hold_refuse(r, ctx, key_id, until - now);
        }

        h->state = NGX_HTTP_V3XY_HOLD_PASSED;

        return NGX_OK;
    }

    h = ngx_pcalloc(r->pool, sizeof(ngx_http_v3xy_hold_ctx_t));
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->request = r;
    h->lcf = vlcf;
    h->zone = vmcf->hold_zone;
    h->max = vlcf->hold->max;
    h->state = NGX_HTTP_V3XY_HOLD_PASSED;

    if (ngx_http_v3xy_hold_names(r, vlcf, key_id, h->digest, &area,
                                 vmcf->redis ? &rkey : NULL)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->hold = h;

    until = ngx_http_v3xy_hold_touch(h->zone, h->digest, now, 0,
                                     vlcf->hold->sync,
                                     vmcf->redis ? &check : NULL,
                                     r->connection->log);

    if (until > now) {
        return ngx_http_v3xy_hold_refuse(r, ctx, key_id, until - now);
    }

    if (!check) {
        return NGX_OK;
    }

    return ngx_http_v3xy_hold_check(r, ctx, h, &rkey);
}


/*
 * The zone, under its lock: the hold of digest (its end, or 0); "until"
 * makes it last at least that long; with check (Redis configured), the
 * request claims this nginx's check of Redis if the last began sync ms
 * ago or more (*check = 1).
 */

static uint64_t
ngx_http_v3xy_hold_touch(ngx_shm_zone_t *zone, u_char *digest, uint64_t now,
    uint64_t until, ngx_msec_t sync, ngx_uint_t *check, ngx_log_t *log)
{
    uint64_t                    held;
    ngx_int_t                   rc;
    ngx_uint_t                  i;
    ngx_queue_t                *q;
    ngx_slab_pool_t            *shpool;
    ngx_rbtree_key_t            hash;
    ngx_rbtree_node_t          *node, *sentinel;
    ngx_http_v3xy_hold_sh_t    *sh;
    ngx_http_v3xy_hold_node_t  *hn;

    sh = zone->data;
    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    ngx_memcpy(&hash, digest, sizeof(ngx_rbtree_key_t));

    ngx_shmtx_lock(&shpool->mutex);

    node = sh->rbtree.root;
    sentinel = sh->rbtree.sentinel;
    hn = NULL;

    while (node != sentinel) {
        if (hash != node->key) {
            node = (hash < node->key) ? node->left : node->right;
            continue;
        }

        hn = (ngx_http_v3xy_hold_node_t *) node;
        rc = ngx_memcmp(digest, hn->digest, NGX_HTTP_V3XY_HOLD_DIGEST);

        if (rc == 0) {
            break;
        }

        hn = NULL;
        node = (rc < 0) ? node->left : node->right;
    }

    if (hn == NULL && (until > now || check != NULL)) {

        /* a few nodes that no longer say anything go first */

        for (i = 0; i < 2 && !ngx_queue_empty(&sh->queue); i++) {
            q = ngx_queue_last(&sh->queue);
            hn = ngx_queue_data(q, ngx_http_v3xy_hold_node_t, queue);

            if (hn->until > now || hn->synced + NGX_HTTP_V3XY_HOLD_IDLE > now)
            {
                break;
            }

            ngx_queue_remove(q);
            ngx_rbtree_delete(&sh->rbtree, &hn->node);
            ngx_slab_free_locked(shpool, hn);
        }

        hn = ngx_slab_alloc_locked(shpool, sizeof(ngx_http_v3xy_hold_node_t));

        /* full: the least recently used make room, holds or not */

        for (i = 0; hn == NULL && i < 8 && !ngx_queue_empty(&sh->queue); i++)
        {
            q = ngx_queue_last(&sh->queue);
            hn = ngx_queue_data(q, ngx_http_v3xy_hold_node_t, queue);

            ngx_queue_remove(q);
            ngx_rbtree_delete(&sh->rbtree, &hn->node);
            ngx_slab_free_locked(shpool, hn);

            hn = ngx_slab_alloc_locked(shpool,
                                       sizeof(ngx_http_v3xy_hold_node_t));

            if (now >= sh->full_logged + 60000) {
                sh->full_logged = now;
                ngx_log_error(NGX_LOG_WARN, log, 0,
                              "v3xy: the \"v3xy_holds\" zone is full: the "
                              "least recently used keys are forgotten "
                              "(such warnings at most once a minute)");
            }
        }

        if (hn == NULL) {
            ngx_shmtx_unlock(&shpool->mutex);
            return 0;
        }

        ngx_memzero(hn, sizeof(ngx_http_v3xy_hold_node_t));
        hn->node.key = hash;
        ngx_memcpy(hn->digest, digest, NGX_HTTP_V3XY_HOLD_DIGEST);

        ngx_rbtree_insert(&sh->rbtree, &hn->node);

    } else if (hn != NULL) {
        ngx_queue_remove(&hn->queue);
    }

    if (hn == NULL) {
        ngx_shmtx_unlock(&shpool->mutex);
        return 0;
    }

    ngx_queue_insert_head(&sh->queue, &hn->queue);

    if (until > hn->until) {
        hn->until = until;
    }

    if (check != NULL && hn->until <= now
        && (hn->synced == 0 || now < hn->synced || now - hn->synced >= sync))
    {
        hn->synced = now;
        *check = 1;
    }

    held = hn->until;

    ngx_shmtx_unlock(&shpool->mutex);

    return held;
}


/* 429 rate_limited in the API's stead, with what is left of its wait */

static ngx_int_t
ngx_http_v3xy_hold_refuse(ngx_http_request_t *r, ngx_http_v3xy_ctx_t *ctx,
    ngx_str_t *key_id, uint64_t left)
{
    ctx->retry_after = (left + 999) / 1000;

    ngx_str_set(&ctx->message, "The API rate-limited this key: retry after "
                               "the number of seconds in Retry-After.");

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "v3xy: rate_limited: the API's 429 holds key %V here for "
                  "%uL s more; not sent", key_id, ctx->retry_after);

    ngx_http_v3xy_count(ngx_http_v3xy_metrics.upstream_429,
                        ctx->role * 2 + NGX_HTTP_V3XY_HOLD_HELD);

    return ngx_http_v3xy_refuse(r, NGX_HTTP_V3XY_ERR_RATE_LIMITED);
}


/* PTTL of the hold in Redis; the request waits for it (NGX_AGAIN) */

static ngx_int_t
ngx_http_v3xy_hold_check(ngx_http_request_t *r, ngx_http_v3xy_ctx_t *ctx,
    ngx_http_v3xy_hold_ctx_t *h, ngx_str_t *rkey)
{
    ngx_str_t                   args[2];
    ngx_pool_cleanup_t         *cln;
    ngx_http_v3xy_main_conf_t  *vmcf;

    vmcf = ngx_http_get_module_main_conf(r, ngx_http_v3xy_module);

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&args[0], "PTTL");
    args[1] = *rkey;

    h->cmd = ngx_http_v3xy_redis_command(args, 2, ngx_http_v3xy_hold_reply,
                                         h);
    if (h->cmd == NULL) {
        /* Redis cannot be asked now: the zone's word stands */
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "v3xy: hold: redis not asked");
        return NGX_OK;
    }

    h->state = NGX_HTTP_V3XY_HOLD_WAITING;

    h->ev.handler = ngx_http_v3xy_hold_event;
    h->ev.data = h;
    h->ev.log = r->connection->log;

    cln->handler = ngx_http_v3xy_hold_cleanup;
    cln->data = h;

    ngx_add_timer(&h->ev, vmcf->redis->timeout);

    /* a client that goes away while we wait ends the request */
    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_request_empty_handler;

    return NGX_AGAIN;
}


/* inside hiredis's callback: what Redis holds goes into the zone */

static void
ngx_http_v3xy_hold_reply(void *data, redisReply *reply)
{
    ngx_http_v3xy_hold_ctx_t *h = data;

    uint64_t  now, left;

    h->cmd = NULL;

    if (reply != NULL && reply->type == REDIS_REPLY_INTEGER) {
        if (reply->integer > 0) {
            now = ngx_http_v3xy_now_ms();
            left = ngx_min((uint64_t) reply->integer, (uint64_t) h->max);

            (void) ngx_http_v3xy_hold_touch(h->zone, h->digest, now,
                                            now + left, 0, NULL,
                                            ngx_cycle->log);
        }

    } else if (reply != NULL) {
        ngx_http_v3xy_redis_error(ngx_cycle->log, reply);
    }

    h->state = NGX_HTTP_V3XY_HOLD_CHECKED;

    if (h->ev.timer_set) {
        ngx_del_timer(&h->ev);
    }

    ngx_post_event(&h->ev, &ngx_posted_events);
}


static void
ngx_http_v3xy_hold_event(ngx_event_t *ev)
{
    ngx_http_v3xy_hold_ctx_t *h = ev->data;

    ngx_connection_t           *c;
    ngx_http_request_t         *r;
    ngx_http_v3xy_redis_cmd_t  *cmd;

    r = h->request;
    c = r->connection;

    if (ev->timedout) {
        ev->timedout = 0;

        if (h->state == NGX_HTTP_V3XY_HOLD_WAITING) {
            cmd = h->cmd;
            h->cmd = NULL;
            h->state = NGX_HTTP_V3XY_HOLD_CHECKED;

            if (cmd != NULL) {
                ngx_http_v3xy_redis_cancel(cmd);
            }

            /* last: this may drop the connection */
            ngx_http_v3xy_redis_timed_out(cmd, ev->log);
        }
    }

    ngx_http_set_log_request(c->log, r);

    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_core_run_phases;

    ngx_http_core_run_phases(r);
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_v3xy_hold_cleanup(void *data)
{
    ngx_http_v3xy_hold_ctx_t *h = data;

    if (h->cmd != NULL) {
        ngx_http_v3xy_redis_cancel(h->cmd);
        h->cmd = NULL;
    }

    if (h->ev.timer_set) {
        ngx_del_timer(&h->ev);
    }

    if (h->ev.posted) {
        ngx_delete_posted_event(&h->ev);
    }
}


/* the API's answer */

static ngx_int_t
ngx_http_v3xy_hold_header_filter(ngx_http_request_t *r)
{
    ngx_str_t                 *key_id;
    ngx_http_v3xy_ctx_t       *ctx;
    ngx_http_v3xy_loc_conf_t  *vlcf;

    /*
     * The upstream's own 429, whatever the response became: r->upstream
     * outlives an internal redirect, so a 429 that nginx answers itself
     * after the API's 404 (error_page, return 429) is not the API's, and
     * the API's 429 that error_page replaced (proxy_intercept_errors) is.
     */

    if (r != r->main || r->upstream == NULL
        || r->upstream->headers_in.status_n != NGX_HTTP_TOO_MANY_REQUESTS)
    {
        return ngx_http_next_header_filter(r);
    }

    vlcf = ngx_http_get_module_loc_conf(r, ngx_http_v3xy_module);
    ctx = ngx_http_v3xy_find_ctx(r);

    /* the module's own 429 is not the API's */

    if (ctx == NULL || ctx->error != NGX_HTTP_V3XY_ERR_NONE) {
        return ngx_http_next_header_filter(r);
    }

    key_id = ngx_http_v3xy_hold_key_id(r, vlcf, ctx);

    if (key_id != NULL) {
        ngx_http_v3xy_hold_seen(r, vlcf, ctx, key_id);
    }

    return ngx_http_next_header_filter(r);
}


/* a 429 of the API for the key: its Retry-After read, the hold stored */

static void
ngx_http_v3xy_hold_seen(ngx_http_request_t *r, ngx_http_v3xy_loc_conf_t *vlcf,
    ngx_http_v3xy_ctx_t *ctx, ngx_str_t *key_id)
{
    time_t                      t;
    u_char                     *p, digest[NGX_HTTP_V3XY_HOLD_DIGEST];
    uint64_t                    now, ms, value;
    ngx_str_t                   area, rkey, args[2], *ra;
    ngx_uint_t                  i;
    v3xy_ra_form_e              form;
    ngx_list_part_t            *part;
    ngx_table_elt_t            *hd;
    ngx_http_v3xy_main_conf_t  *vmcf;

    ngx_http_v3xy_count(ngx_http_v3xy_metrics.upstream_429,
                        ctx->role * 2 + NGX_HTTP_V3XY_HOLD_API);

    /* the API's Retry-After, also where error_page replaced its answer */

    ra = NULL;
    part = &r->upstream->headers_in.headers.part;
    hd = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            hd = part->elts;
            i = 0;
        }

        if (hd[i].hash != 0 && hd[i].key.len == sizeof("Retry-After") - 1
            && ngx_strncasecmp(hd[i].key.data, (u_char *) "Retry-After",
                               sizeof("Retry-After") - 1) == 0)
        {
            ra = &hd[i].value;
            break;
        }
    }

    now = ngx_http_v3xy_now_ms();
    form = V3XY_RA_NONE;
    value = 0;

    if (ra != NULL) {
        if (v3xy_retry_after_delta(ra->data, ra->len, &value) == 0) {
            form = V3XY_RA_DELTA;

        } else {
            t = ngx_parse_http_time(ra->data, ra->len);

            if (t != NGX_ERROR) {
                form = V3XY_RA_DATE;
                value = (t > 0) ? (uint64_t) t * 1000 : 0;
            }
        }
    }

    ms = v3xy_hold_ms(form, value, now, vlcf->hold->max, vlcf->hold->dflt);

    if (ms == 0) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "v3xy: the API answered 429 for key %V with %s: "
                      "not held", key_id,
                      (ra == NULL) ? "no Retry-After"
                      : (form == V3XY_RA_NONE) ? "an invalid Retry-After"
                      : "a Retry-After of now");
        return;
    }

    vmcf = ngx_http_get_module_main_conf(r, ngx_http_v3xy_module);

    if (ngx_http_v3xy_hold_names(r, vlcf, key_id, digest, &area,
                                 vmcf->redis ? &rkey : NULL)
        != NGX_OK)
    {
        return;
    }

    (void) ngx_http_v3xy_hold_touch(vmcf->hold_zone, digest, now, now + ms,
                                    0, NULL, r->connection->log);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "v3xy: the API answered 429 for key %V: its requests to "
                  "\"%V\" are held for %uL ms", key_id, &area, ms);

    if (vmcf->redis == NULL) {
        return;
    }

    p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (p == NULL) {
        return;
    }

    args[0] = rkey;
    args[1].data = p;
    args[1].len = ngx_sprintf(p, "%uL", ms) - p;

    /* the fleet's: a best effort, nothing waits for it */

    if (ngx_http_v3xy_redis_eval(&vmcf->hold_script, 1, args, 2,
                                 ngx_http_v3xy_hold_stored, NULL)
        == NULL)
    {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "v3xy: the API's 429 for key %V is held by this "
                      "nginx only: redis cannot be asked now", key_id);
    }
}


static void
ngx_http_v3xy_hold_stored(void *data, redisReply *reply)
{
    if (reply != NULL && reply->type != REDIS_REPLY_INTEGER) {
        ngx_http_v3xy_redis_error(ngx_cycle->log, reply);
    }
}


/* the metrics: the API's 429s, and the requests held in their stead */

ngx_int_t
ngx_http_v3xy_hold_metrics(ngx_http_v3xy_mout_t *out,
    ngx_http_v3xy_main_conf_t *vmcf)
{
    u_char        *p;
    ngx_uint_t     i, role;
    ngx_atomic_t  *v;

    static ngx_uint_t  roles[] = {
        NGX_HTTP_V3XY_ROLE_SIDECAR, NGX_HTTP_V3XY_ROLE_GATEWAY
    };

    v = vmcf->metrics.upstream_429;

    if (vmcf->hold_zone == NULL || v == NULL) {
        return NGX_OK;
    }

    if (ngx_http_v3xy_mfamily(out, "v3xy_upstream_429_total", "counter",
                              "429 answers of the API for a key (source "
                              "\"api\"), and requests the module answered "
                              "429 itself while the API held the key "
                              "(source \"hold\").")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < 2; i++) {
        role = roles[i];

        p = ngx_http_v3xy_mreserve(out, 256);
        if (p == NULL) {
            return NGX_ERROR;
        }

        out->b->last = ngx_sprintf(p,
                          "v3xy_upstream_429_total{role=\"%V\","
                          "source=\"api\"} %uA\n"
                          "v3xy_upstream_429_total{role=\"%V\","
                          "source=\"hold\"} %uA\n",
                          &ngx_http_v3xy_role_names[role],
                          v[role * 2 + NGX_HTTP_V3XY_HOLD_API],
                          &ngx_http_v3xy_role_names[role],
                          v[role * 2 + NGX_HTTP_V3XY_HOLD_HELD]);
    }

    return NGX_OK;
}
