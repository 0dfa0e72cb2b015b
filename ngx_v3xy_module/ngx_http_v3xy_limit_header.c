/*
 * ngx_http_v3xy_limit_header: what follows a decision to the response.
 *
 * A header filter adds the RateLimit and RateLimit-Policy fields
 * (draft-ietf-httpapi-ratelimit-headers-10) of the tightest zone; a
 * log-phase handler gives the webhook replay guard's mark back when the
 * delivery's sender got no 2xx (ngx_http_v3xy_replay_log).
 */

#include "ngx_http_v3xy_module.h"
#include "ngx_http_v3xy_limit.h"
#include "ngx_http_v3xy_limit_internal.h"


static ngx_int_t ngx_http_v3xy_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_v3xy_replay_log(ngx_http_request_t *r);
static void ngx_http_v3xy_replay_release(ngx_http_request_t *r,
    ngx_http_v3xy_limit_ctx_t *lctx);
static ngx_int_t ngx_http_v3xy_push_header(ngx_http_request_t *r,
    const char *name, ngx_str_t *value);
static u_char *ngx_http_v3xy_uint(u_char *p, uint64_t n);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;


ngx_int_t
ngx_http_v3xy_limit_header_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;
    ngx_http_v3xy_main_conf_t  *vmcf;

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_v3xy_header_filter;

    /* the locations are merged: only a replay guard needs the log phase */

    vmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_v3xy_module);

    if (vmcf->replay_zones.nelts) {
        cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

        h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        *h = ngx_http_v3xy_replay_log;
    }

    return NGX_OK;
}


/* RateLimit-Policy and RateLimit of the tightest zone */

static ngx_int_t
ngx_http_v3xy_header_filter(ngx_http_request_t *r)
{
    u_char               *p;
    size_t                len;
    ngx_str_t             value;
    ngx_http_v3xy_ctx_t  *ctx;

    if (r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_v3xy_find_ctx(r);

    if (ctx == NULL) {
        return ngx_http_next_header_filter(r);
    }

    if (ctx->limit_zone == NULL) {
        return ngx_http_next_header_filter(r);
    }

    /* the policy of the rate the zone applied: rate=, or the tier's */

    if (ngx_http_v3xy_push_header(r, "RateLimit-Policy",
                                  &ctx->limit_rate->policy)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* "name";r=12;t=3, the name quoted as in the policy, no ngx_sprintf */

    len = ctx->limit_zone->name.len + 2;

    p = ngx_pnalloc(r->pool, len + sizeof(";r=;t=") - 1 + 2 * NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    value.data = p;
    p = ngx_cpymem(p, ctx->limit_rate->policy.data, len);
    p = ngx_cpymem(p, ";r=", 3);
    p = ngx_http_v3xy_uint(p, ctx->limit_remaining);
    p = ngx_cpymem(p, ";t=", 3);
    p = ngx_http_v3xy_uint(p, ctx->limit_reset);
    value.len = p - value.data;

    if (ngx_http_v3xy_push_header(r, "RateLimit", &value) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_next_header_filter(r);
}


/*
 * The end of every request (a client's abort, 499, included): a delivery
 * that the replay guard marked stays marked only if its sender got a 2xx,
 * whole.  V3XY delivers again what was not acknowledged (it stops waiting
 * after 10 s: here a 499; a backend's error, an upstream timeout, nginx's
 * own error, a response never begun, or a 2xx whose sending failed), with
 * the same signature: the mark goes, so that the retry passes.  The
 * header filter cannot decide this: it runs before the response is sent,
 * and never for a request that ends without one.  In a Redis Cluster the
 * guard is decided apart from the limits (another hash tag): it has
 * counted a delivery that a limit refused, and forgets it too.
 */

static ngx_int_t
ngx_http_v3xy_replay_log(ngx_http_request_t *r)
{
    ngx_http_v3xy_ctx_t        *ctx;
    ngx_http_v3xy_limit_ctx_t  *lctx;

    if (r != r->main) {
        return NGX_OK;
    }

    ctx = ngx_http_v3xy_find_ctx(r);

    /*
     * Not only a verified delivery: one whose guard admitted it may have
     * been refused by the secrets of a location it was redirected to.
     */

    if (ctx == NULL || ctx->limit == NULL) {
        return NGX_OK;
    }

    /* a client that timed out (send_timeout) did not get it whole either */

    if (r->header_sent
        && !r->connection->error
        && !r->connection->timedout
        && r->headers_out.status >= NGX_HTTP_OK
        && r->headers_out.status < NGX_HTTP_SPECIAL_RESPONSE)
    {
        return NGX_OK;
    }

    /*
     * Every location's decision of the request: the guard may have been
     * decided in one that an internal redirect left, and a later one's
     * zone refused the delivery.
     */

    for (lctx = ctx->limit; lctx; lctx = lctx->prev) {

        if (!lctx->admitted
            && !(ngx_http_v3xy_redis_cluster()
                 && lctx->state == NGX_HTTP_V3XY_LIMIT_REPLIED))
        {
            continue;
        }

        ngx_http_v3xy_replay_release(r, lctx);
    }

    return NGX_OK;
}


static void
ngx_http_v3xy_replay_release(ngx_http_request_t *r,
    ngx_http_v3xy_limit_ctx_t *lctx)
{
    u_char                     *p;
    ngx_str_t                   key;
    ngx_uint_t                  i;
    ngx_http_v3xy_zone_t       *zone;
    ngx_http_v3xy_main_conf_t  *vmcf;

    vmcf = ngx_http_get_module_main_conf(r, ngx_http_v3xy_module);

    for (i = 0; i < lctx->n; i++) {
        zone = lctx->zones[i];

        if (!zone->replay) {
            continue;
        }

        if (!lctx->admitted && !lctx->items[i].verdict.admitted) {
            /* refused as a replay: the first delivery's mark stays */
            continue;
        }

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "v3xy: webhook delivery %V not acknowledged "
                      "(status %ui%s): it may come again",
                      &lctx->items[i].key, r->headers_out.status,
                      !r->header_sent ? ", no response sent"
                      : (r->connection->error || r->connection->timedout)
                        ? ", sending failed" : "");

        ngx_http_v3xy_shm_forget(zone->shm_zone, &lctx->items[i].key);

        if (vmcf->redis == NULL) {
            continue;
        }

        p = ngx_pnalloc(r->pool, sizeof("v3xy:{:}") - 1 + zone->name.len
                                 + lctx->items[i].key.len);
        if (p == NULL) {
            continue;
        }

        key.data = p;
        key.len = ngx_sprintf(p, "v3xy:{%V:%V}", &zone->name,
                              &lctx->items[i].key)
                  - p;

        ngx_http_v3xy_redis_del(&key);
    }
}


/* n in decimal at p: a tenth of what ngx_sprintf("%uL") costs */

static u_char *
ngx_http_v3xy_uint(u_char *p, uint64_t n)
{
    u_char   buf[NGX_INT64_LEN];
    u_char  *q;

    q = buf + NGX_INT64_LEN;

    do {
        *--q = (u_char) ('0' + n % 10);
        n /= 10;
    } while (n);

    return ngx_cpymem(p, q, buf + NGX_INT64_LEN - q);
}


static ngx_int_t
ngx_http_v3xy_push_header(ngx_http_request_t *r, const char *name,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value = *value;

    return NGX_OK;
}
