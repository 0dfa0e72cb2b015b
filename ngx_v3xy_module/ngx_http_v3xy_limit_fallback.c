/*
 * ngx_http_v3xy_limit_fallback: a decision that Redis could not make
 * (down, slow, wrong), made as v3xy_limit_fail says and logged once an
 * outage; and every decision where there is no Redis: the shared-memory
 * store.
 */

#include "ngx_http_v3xy_module.h"
#include "ngx_http_v3xy_limit.h"
#include "ngx_http_v3xy_limit_internal.h"

#include "v3xy_slots.h"


/* the outage for which each v3xy_limit_fail mode was last logged */
static ngx_uint_t  ngx_http_v3xy_fail_logged[3] = {
    (ngx_uint_t) -1, (ngx_uint_t) -1, (ngx_uint_t) -1
};


/*
 * Redis is down, slow or wrong: v3xy_limit_fail, logged once an outage.
 * Returns NGX_OK when the local store's verdicts are in (the caller
 * judges them), NGX_DECLINED to pass, or what a refusal returns.
 */

ngx_int_t
ngx_http_v3xy_limit_fallback(ngx_http_request_t *r,
    ngx_http_v3xy_loc_conf_t *vlcf, ngx_http_v3xy_ctx_t *ctx)
{
    ngx_uint_t  mode, outage;

    mode = vlcf->limit_fail;
    outage = ngx_http_v3xy_redis_outage();

    if (ctx->limit_fallback == 0) {
        ctx->limit_fallback = mode + 1;
        ngx_http_v3xy_count(ngx_http_v3xy_metrics.fallback, mode);
    }

    if (ngx_http_v3xy_fail_logged[mode] != outage) {
        ngx_http_v3xy_fail_logged[mode] = outage;

        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "v3xy: redis unavailable for limits: "
                      "v3xy_limit_fail %V in effect",
                      &ngx_http_v3xy_limit_fail_modes[mode].name);
    }

    switch (mode) {

    case NGX_HTTP_V3XY_FAIL_OPEN:
        ctx->limit->admitted = 1;
        return NGX_DECLINED;

    case NGX_HTTP_V3XY_FAIL_CLOSED:
        return ngx_http_v3xy_refuse(r, NGX_HTTP_V3XY_ERR_LIMIT_UNAVAILABLE);

    default: /* NGX_HTTP_V3XY_FAIL_LOCAL */
        return ngx_http_v3xy_limit_local(r, ctx);
    }
}


/* the shared-memory store decides: NGX_OK when the verdicts are in */

ngx_int_t
ngx_http_v3xy_limit_local(ngx_http_request_t *r, ngx_http_v3xy_ctx_t *ctx)
{
    ngx_int_t                   rc;
    ngx_uint_t                  i, open;
    ngx_http_v3xy_loc_conf_t   *vlcf;
    ngx_http_v3xy_limit_ctx_t  *lctx;

    lctx = ctx->limit;

    /*
     * A zone full of keys that still count (ngx_http_v3xy_shm.c warns)
     * cannot decide a new key: v3xy_limit_fail does.  "open" lets the key
     * pass that zone uncounted, the other zones still decide; "closed"
     * refuses with 503, and so does "local": it is this very store, and
     * admitting uncounted would break "never more than N" for whoever
     * can fill a zone.
     */

    vlcf = ngx_http_get_module_loc_conf(r, ngx_http_v3xy_module);
    open = (vlcf->limit_fail == NGX_HTTP_V3XY_FAIL_OPEN);

    for (i = 0; i < lctx->n; i++) {
        lctx->items[i].pass_full = open;
    }

    rc = ngx_http_v3xy_shm_decide(lctx->items, lctx->n,
                                  ngx_http_v3xy_now_ms(),
                                  r->connection->log);

    for (i = 0; i < lctx->n; i++) {
        if (lctx->items[i].full) {
            ngx_http_v3xy_count(lctx->zones[i]->full_metrics, open ? 0 : 1);

            /*
             * Room comes as the keys it holds go idle: a retry within the
             * Redis backoff's 2 s would meet the same full zone; by one
             * window (and a slot) every key of now has had its chance.
             */

            if (!open) {
                ctx->retry_after = ngx_max(ctx->retry_after,
                                   (lctx->items[i].rate.window_ms
                                    + v3xy_slots_width(&lctx->items[i].rate)
                                    + 999) / 1000);
            }
        }
    }

    if (rc == NGX_ERROR) {
        lctx->state = NGX_HTTP_V3XY_LIMIT_FULL;
        return ngx_http_v3xy_refuse(r, NGX_HTTP_V3XY_ERR_LIMIT_UNAVAILABLE);
    }

    lctx->admitted = (rc == NGX_OK);
    lctx->state = NGX_HTTP_V3XY_LIMIT_REPLIED;

    return NGX_OK;
}
