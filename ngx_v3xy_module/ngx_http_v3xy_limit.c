/*
 * ngx_http_v3xy_limit: rate limits, the decision.
 *
 * One decision covers every zone of a request: with v3xy_redis, one
 * EVALSHA of one Lua script (Redis's own clock, check and count in one
 * atomic call, a count only if every zone admits), one call for all the
 * decisions that one event-loop pass of the worker brings (in a Redis
 * Cluster: one call per master: ngx_http_v3xy_limit_redis.c); without it,
 * or when Redis fails and v3xy_limit_fail says "local", the shared-memory
 * store of ngx_http_v3xy_shm.c with the same math (src/v3xy_window.c):
 * ngx_http_v3xy_limit_fallback.c.  The verdict keeps the tightest zone
 * for the RateLimit headers (ngx_http_v3xy_limit_header.c).
 *
 * Each zone decides a request at the rate of the request's tier, if the
 * zone names it (tier=NAME:RATE), else at its rate=; the tier is that of
 * the key in use: the one the gateway accepted (its key store's entry),
 * else the sidecar's (v3xy_api_key_file tier=).  Both stores keep a key's
 * state under the same name whatever its rate, and convert it when the
 * rate changes: a key whose tier changes keeps what it has used.
 */

#include "ngx_http_v3xy_module.h"
#include "ngx_http_v3xy_limit.h"
#include "ngx_http_v3xy_limit_internal.h"
#include "ngx_http_v3xy_key.h"

#include <openssl/sha.h>


static ngx_int_t ngx_http_v3xy_limit_start(ngx_http_request_t *r,
    ngx_http_v3xy_loc_conf_t *vlcf, ngx_http_v3xy_ctx_t *ctx);
static ngx_int_t ngx_http_v3xy_limit_key(ngx_http_request_t *r,
    ngx_http_v3xy_zone_t *zone, ngx_str_t *key);
static ngx_int_t ngx_http_v3xy_limit_judge(ngx_http_request_t *r,
    ngx_http_v3xy_ctx_t *ctx, ngx_int_t rc);
static void ngx_http_v3xy_limit_log_dry(ngx_http_request_t *r,
    ngx_http_v3xy_zone_t *zone, ngx_http_v3xy_zone_rate_t *zr,
    v3xy_verdict_t *v);
static ngx_http_v3xy_zone_rate_t *ngx_http_v3xy_zone_rate(
    ngx_http_v3xy_zone_t *zone, ngx_str_t *tier);


/* the decision */

ngx_int_t
ngx_http_v3xy_limit(ngx_http_request_t *r, ngx_http_v3xy_loc_conf_t *vlcf,
    ngx_http_v3xy_ctx_t *ctx)
{
    ngx_http_v3xy_limit_ctx_t  *lctx;

    lctx = ctx->limit;

    /*
     * A location that an internal redirect found decides its own zones;
     * those that an earlier location counted are not counted again.
     */

    if (lctx == NULL || (lctx->lcf != vlcf && lctx->admitted)) {
        return ngx_http_v3xy_limit_start(r, vlcf, ctx);
    }

    switch (lctx->state) {

    case NGX_HTTP_V3XY_LIMIT_WAITING:
        return NGX_AGAIN;

    case NGX_HTTP_V3XY_LIMIT_REPLIED:
        return ngx_http_v3xy_limit_verdict(r, ctx);

    case NGX_HTTP_V3XY_LIMIT_FULL:
        return ngx_http_v3xy_refuse(r, NGX_HTTP_V3XY_ERR_LIMIT_UNAVAILABLE);

    default: /* NGX_HTTP_V3XY_LIMIT_FAILED */
        return ngx_http_v3xy_limit_judge(r, ctx,
                                   ngx_http_v3xy_limit_fallback(r, vlcf, ctx));
    }
}


static ngx_int_t
ngx_http_v3xy_limit_start(ngx_http_request_t *r,
    ngx_http_v3xy_loc_conf_t *vlcf, ngx_http_v3xy_ctx_t *ctx)
{
    ngx_str_t                  *tier;
    ngx_uint_t                  i, j, n, dry;
    ngx_http_v3xy_zone_t      **zones;
    ngx_http_v3xy_zone_rate_t  *zr;
    ngx_http_v3xy_limit_ctx_t  *lctx, *prev;
    ngx_http_v3xy_main_conf_t  *vmcf;

    zones = vlcf->decide->elts;
    n = vlcf->decide->nelts;

    lctx = ngx_pcalloc(r->pool, sizeof(ngx_http_v3xy_limit_ctx_t)
                                + n * sizeof(ngx_http_v3xy_shm_item_t)
                                + n * sizeof(ngx_http_v3xy_zone_t *)
                                + n * sizeof(ngx_http_v3xy_zone_rate_t *));
    if (lctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    lctx->request = r;
    lctx->items = (ngx_http_v3xy_shm_item_t *) (lctx + 1);
    lctx->zones = (ngx_http_v3xy_zone_t **) (lctx->items + n);
    lctx->rates = (ngx_http_v3xy_zone_rate_t **) (lctx->zones + n);
    lctx->lcf = vlcf;
    lctx->prev = ctx->limit;

    tier = ngx_http_v3xy_tier(r, ctx);

    /*
     * A zone whose key is empty for this request does not count it, nor
     * does one that an earlier location of the request decided; but a
     * refusal in dry run there counted nothing and refused nothing, so a
     * location that enforces the zone decides it again.
     */

    for (i = 0; i < n; i++) {
        dry = vlcf->decide_dry ? vlcf->decide_dry[i] : 0;

        for (prev = lctx->prev; prev; prev = prev->prev) {
            for (j = 0; j < prev->n; j++) {
                if (prev->zones[j] == zones[i]
                    && (dry || !prev->items[j].dry
                        || prev->items[j].verdict.admitted))
                {
                    goto next;
                }
            }
        }

        if (ngx_http_v3xy_limit_key(r, zones[i],
                                    &lctx->items[lctx->n].key)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (lctx->items[lctx->n].key.len == 0) {
            continue;
        }

        zr = ngx_http_v3xy_zone_rate(zones[i], tier);

        lctx->items[lctx->n].shm_zone = zones[i]->shm_zone;
        lctx->items[lctx->n].rate = zr->rate;
        lctx->items[lctx->n].dry = dry;
        lctx->zones[lctx->n] = zones[i];
        lctx->rates[lctx->n] = zr;
        lctx->n++;

    next:

        continue;
    }

    ctx->limit = lctx;

    if (lctx->n == 0) {
        lctx->state = NGX_HTTP_V3XY_LIMIT_REPLIED;
        lctx->admitted = 1;
        return NGX_DECLINED;
    }

    vmcf = ngx_http_get_module_main_conf(r, ngx_http_v3xy_module);

    if (vmcf->redis == NULL) {
        return ngx_http_v3xy_limit_judge(r, ctx,
                                         ngx_http_v3xy_limit_local(r, ctx));
    }

    if (ngx_http_v3xy_limit_redis(r, lctx) == NGX_OK) {
        return NGX_AGAIN;
    }

    lctx->state = NGX_HTTP_V3XY_LIMIT_FAILED;

    return ngx_http_v3xy_limit_judge(r, ctx,
                                   ngx_http_v3xy_limit_fallback(r, vlcf, ctx));
}


/*
 * The tier of the key in use: the sidecar's where the location injects its
 * own (also after an internal redirect from a gateway's location), else
 * the gateway's accepted key's; NULL if it has none.
 */

ngx_str_t *
ngx_http_v3xy_tier(ngx_http_request_t *r, ngx_http_v3xy_ctx_t *ctx)
{
    ngx_http_v3xy_loc_conf_t  *vlcf;

    vlcf = ngx_http_get_module_loc_conf(r, ngx_http_v3xy_module);

    if (vlcf->api_key != NULL) {
        return vlcf->api_key->tier.len ? &vlcf->api_key->tier : NULL;
    }

    if (ctx != NULL && ctx->account.len && ctx->tier.len) {
        return &ctx->tier;
    }

    return NULL;
}


/* the zone's rate for a tier: its own if the zone names it, else rate= */

static ngx_http_v3xy_zone_rate_t *
ngx_http_v3xy_zone_rate(ngx_http_v3xy_zone_t *zone, ngx_str_t *tier)
{
    ngx_uint_t  i;

    if (tier == NULL) {
        return &zone->rates[0];
    }

    for (i = 1; i < zone->nrates; i++) {
        if (zone->rates[i].tier.len == tier->len
            && ngx_memcmp(zone->rates[i].tier.data, tier->data, tier->len)
               == 0)
        {
            return &zone->rates[i];
        }
    }

    return &zone->rates[0];
}


/* the local store's verdicts are in (NGX_OK): judged; or rc as it is */

static ngx_int_t
ngx_http_v3xy_limit_judge(ngx_http_request_t *r, ngx_http_v3xy_ctx_t *ctx,
    ngx_int_t rc)
{
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_v3xy_limit_verdict(r, ctx);
}


static ngx_int_t
ngx_http_v3xy_limit_key(ngx_http_request_t *r, ngx_http_v3xy_zone_t *zone,
    ngx_str_t *key)
{
    u_char                      md[SHA256_DIGEST_LENGTH];
    ngx_http_variable_value_t  *vv;

    if (zone->key_index != NGX_ERROR) {
        vv = ngx_http_get_indexed_variable(r, zone->key_index);

        if (vv == NULL || vv->not_found) {
            ngx_str_null(key);

        } else {
            key->data = vv->data;
            key->len = vv->len;
        }

    } else if (ngx_http_complex_value(r, &zone->key, key) != NGX_OK) {
        return NGX_ERROR;
    }

    if (key->len <= NGX_HTTP_V3XY_LIMIT_KEY_MAX) {
        return NGX_OK;
    }

    if (ngx_http_v3xy_sha256(key->data, key->len, md) != NGX_OK) {
        return NGX_ERROR;
    }

    key->data = ngx_pnalloc(r->pool, 2 * SHA256_DIGEST_LENGTH);
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    key->len = ngx_hex_dump(key->data, md, SHA256_DIGEST_LENGTH) - key->data;

    return NGX_OK;
}


/*
 * The verdicts of every zone are in: remember the tightest zone (the one
 * that refused with the longest wait, or the one with the fewest admissions
 * left) for the headers, and refuse with 429 if any zone refused.  A zone
 * in dry run that refused is logged and counted as such and may be the
 * tightest of a request that passes (RateLimit: r=0), never the one whose
 * Retry-After a refused request gets.
 */

ngx_int_t
ngx_http_v3xy_limit_verdict(ngx_http_request_t *r, ngx_http_v3xy_ctx_t *ctx)
{
    ngx_uint_t                  i, t, status;
    v3xy_verdict_t             *v, *tv;
    ngx_http_v3xy_zone_rate_t  *zr;
    ngx_http_v3xy_limit_ctx_t  *lctx;

    lctx = ctx->limit;

    if (lctx->n == 0 || lctx->judged) {
        return lctx->admitted ? NGX_DECLINED : NGX_DONE;
    }

    lctx->judged = 1;

    /* a replayed webhook is what it is, whatever the limits say */

    for (i = 0; i < lctx->n; i++) {
        if (lctx->zones[i]->replay && !lctx->items[i].verdict.admitted
            && !lctx->admitted && !lctx->items[i].full)
        {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "v3xy: webhook_replayed: delivery %V already "
                          "accepted within the tolerance",
                          &lctx->items[i].key);

            return ngx_http_v3xy_refuse(r,
                                        NGX_HTTP_V3XY_ERR_WEBHOOK_REPLAYED);
        }
    }

    /* the tightest zone, for the fields: the replay guard is not a limit */

    tv = NULL;
    t = 0;
    status = 0;

    for (i = 0; i < lctx->n; i++) {

        /* a zone with no room for the key passed it (v3xy_limit_fail) */

        if (lctx->zones[i]->replay || lctx->items[i].full) {
            continue;
        }

        v = &lctx->items[i].verdict;

        if (!v->admitted && lctx->items[i].dry) {

            /* v3xy_limit_dry_run: what this zone would do, the request on */

            ngx_http_v3xy_count(lctx->rates[i]->metrics, 2);
            status = ngx_max(status, NGX_HTTP_V3XY_LIMIT_REJECTED_DRY_RUN);

            ngx_http_v3xy_limit_log_dry(r, lctx->zones[i], lctx->rates[i],
                                        v);

            if (!lctx->admitted) {
                continue;
            }

        } else if (lctx->admitted || !v->admitted) {

            /* admitted: the request was counted; refused: by this zone */

            ngx_http_v3xy_count(lctx->rates[i]->metrics,
                                lctx->admitted ? 0 : 1);
        }

        if (status < NGX_HTTP_V3XY_LIMIT_PASSED) {
            status = NGX_HTTP_V3XY_LIMIT_PASSED;
        }

        if (!v->admitted && !lctx->items[i].dry) {
            status = NGX_HTTP_V3XY_LIMIT_REJECTED;
        }

        if (tv == NULL
            || (lctx->admitted ? v->remaining < tv->remaining
                               : v->retry_ms > tv->retry_ms))
        {
            t = i;
            tv = v;
        }
    }

    ctx->limit_status = ngx_max(ctx->limit_status, status);

    if (tv == NULL) {
        return lctx->admitted ? NGX_DECLINED : NGX_DONE;
    }

    /* an earlier location's zone may still be the tightest */

    if (lctx->admitted && ctx->limit_zone != NULL
        && ctx->limit_remaining <= tv->remaining)
    {
        return NGX_DECLINED;
    }

    ctx->limit_zone = lctx->zones[t];
    ctx->limit_rate = lctx->rates[t];
    ctx->limit_remaining = tv->remaining;
    ctx->limit_reset = (tv->reset_ms + 999) / 1000;

    if (lctx->admitted) {
        return NGX_DECLINED;
    }

    ctx->retry_after = ngx_max((tv->retry_ms + 999) / 1000, 1);

    if (ctx->retry_after < ctx->limit_reset) {
        ctx->retry_after = ctx->limit_reset;
    }

    zr = ctx->limit_rate;

    if (zr == &ctx->limit_zone->rates[0]) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "v3xy: rate_limited: zone \"%V\" (%uL per %uL s) "
                      "refused the request, retry after %uL s",
                      &ctx->limit_zone->name, zr->rate.limit,
                      zr->rate.window_ms / 1000, ctx->retry_after);

    } else {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "v3xy: rate_limited: zone \"%V\" (tier \"%V\": %uL "
                      "per %uL s) refused the request, retry after %uL s",
                      &ctx->limit_zone->name, &zr->tier, zr->rate.limit,
                      zr->rate.window_ms / 1000, ctx->retry_after);
    }

    return ngx_http_v3xy_refuse(r, NGX_HTTP_V3XY_ERR_RATE_LIMITED);
}


/* a refusal in dry run, logged as a refusal is */

static void
ngx_http_v3xy_limit_log_dry(ngx_http_request_t *r, ngx_http_v3xy_zone_t *zone,
    ngx_http_v3xy_zone_rate_t *zr, v3xy_verdict_t *v)
{
    uint64_t  retry;

    retry = ngx_max((v->retry_ms + 999) / 1000, 1);

    if (zr == &zone->rates[0]) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "v3xy: rate_limited, dry run: zone \"%V\" (%uL per "
                      "%uL s) would refuse the request, retry after %uL s",
                      &zone->name, zr->rate.limit, zr->rate.window_ms / 1000,
                      retry);
        return;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "v3xy: rate_limited, dry run: zone \"%V\" (tier \"%V\": "
                  "%uL per %uL s) would refuse the request, retry after %uL s",
                  &zone->name, &zr->tier, zr->rate.limit,
                  zr->rate.window_ms / 1000, retry);
}
