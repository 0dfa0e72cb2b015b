/*
 * ngx_http_v3xy_pipeline: one request's way through the module.
 *
 * One access-phase handler, its steps in this order, each skipped where
 * the location does not configure it:
 *
 *   1. browser check: a browser-sent request that meets a developer key
 *      is refused with 403 api_key_origin, before anything goes upstream;
 *   2. gateway key: where v3xy_key_store applies, the presented key is
 *      checked (401 api_key_missing, 403 api_key_invalid, api_key_scope,
 *      400 credentials_mixed) and replaced by its account; a key store in
 *      Redis is asked for a key its cache does not hold (503
 *      key_store_unavailable if Redis fails); where v3xy_session_store
 *      applies, the Bearer token's session is found in Redis (or its
 *      cache) and gives the account (401 session_missing,
 *      session_invalid; 503 session_store_unavailable);
 *   3. the API's 429: a key that the API answered 429 with Retry-After
 *      (here or, through Redis, anywhere in the fleet) is answered here,
 *      429 rate_limited, until then, without calling the API and before
 *      the limits count it (v3xy_upstream_429);
 *   4. webhook signature: X-V3XY-Signature is parsed and its timestamp
 *      checked, the body read, its HMAC compared under every secret:
 *      400/401 webhook_*;
 *   5. body: where a zone is keyed on $v3xy_body_email, its "email" is
 *      extracted from the body, or 400 body_invalid;
 *   6. rate limits and the webhook replay guard: every zone decided in one
 *      Redis round trip (or in shared memory): 429 rate_limited, 409
 *      webhook_replayed;
 *   7. key: the sidecar drops any client-sent X-V3XY-API-Key and injects
 *      the key of v3xy_api_key_file;
 *   8. failover: where v3xy_backup applies, the breaker may send the
 *      request straight to the backup, the body is read whole so that it
 *      can go twice; in the backup's location, the failover is judged
 *      (or both have failed: 503 upstream_unavailable).
 *
 * Before it, where a request enters a location (its first, and again after
 * every internal redirect, named location or subrequest), a rewrite-phase
 * handler keeps the key where it belongs: a location that does not inject
 * it takes out the key that an earlier one injected, and a subrequest (for
 * which nginx runs no access phase) that enters a location that injects
 * gets the browser check and the key in its own copy of the headers.
 *
 * Steps that wait (the body, Redis: key lookups, limits) return NGX_DONE
 * or NGX_AGAIN; nginx calls the handler again when they are done, and
 * each step remembers in the request's context what it has done.  The
 * handler returns NGX_DECLINED to go on (never NGX_OK: under "satisfy
 * any" that would grant access on other modules' behalf), or NGX_DONE
 * once it has sent a refusal.
 */

#include "ngx_http_v3xy_module.h"
#include "ngx_http_v3xy_pipeline.h"
#include "ngx_http_v3xy_body.h"
#include "ngx_http_v3xy_failover.h"
#include "ngx_http_v3xy_gateway.h"
#include "ngx_http_v3xy_hold.h"
#include "ngx_http_v3xy_key.h"
#include "ngx_http_v3xy_limit.h"
#include "ngx_http_v3xy_webhook.h"
#include "v3xy_key.h"


static ngx_int_t ngx_http_v3xy_browser(ngx_http_request_t *r,
    ngx_http_v3xy_loc_conf_t *vlcf, ngx_http_v3xy_headers_t *hs);
static ngx_int_t ngx_http_v3xy_enter_store(ngx_http_request_t *r,
    ngx_http_v3xy_loc_conf_t *vlcf);


ngx_int_t
ngx_http_v3xy_enter_handler(ngx_http_request_t *r)
{
    ngx_http_v3xy_headers_t    hs;
    ngx_http_v3xy_loc_conf_t  *vlcf;

    /* a request's first location: nothing was injected yet */

    if (!r->internal) {
        return NGX_DECLINED;
    }

    vlcf = ngx_http_get_module_loc_conf(r, ngx_http_v3xy_module);

    if (vlcf->api_key == NULL) {
        if (ngx_http_v3xy_key_leave(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (r != r->main
            && (vlcf->key_store != NULL || vlcf->session_store != NULL))
        {
            return ngx_http_v3xy_enter_store(r, vlcf);
        }

        return NGX_DECLINED;
    }

    if (r == r->main) {
        /* the access phase injects the key */
        return NGX_DECLINED;
    }

    ngx_http_v3xy_scan_headers(r, &hs);

    if (ngx_http_v3xy_browser(r, vlcf, &hs) != NGX_OK) {
        return ngx_http_v3xy_refuse(r, NGX_HTTP_V3XY_ERR_API_KEY_ORIGIN);
    }

    if (ngx_http_v3xy_inject_key(r, vlcf->api_key, &hs) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_DECLINED;
}


ngx_int_t
ngx_http_v3xy_access_handler(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_http_v3xy_ctx_t       *ctx;
    ngx_http_v3xy_headers_t    hs;
    ngx_http_v3xy_loc_conf_t  *vlcf;

    vlcf = ngx_http_get_module_loc_conf(r, ngx_http_v3xy_module);

    if (vlcf->api_key == NULL && vlcf->decide == NULL
        && vlcf->webhook_secrets == NULL && vlcf->key_store == NULL
        && vlcf->session_store == NULL && vlcf->backup == NULL)
    {
        return NGX_DECLINED;
    }

    ngx_http_v3xy_scan_headers(r, &hs);

    /* 1. browser check */

    if (ngx_http_v3xy_browser(r, vlcf, &hs) != NGX_OK) {
        return ngx_http_v3xy_refuse(r, NGX_HTTP_V3XY_ERR_API_KEY_ORIGIN);
    }

    ctx = NULL;

    /* with metrics on, the context says that the module saw the request */

    if (vlcf->webhook_secrets != NULL || vlcf->decide != NULL
        || vlcf->key_store != NULL || vlcf->session_store != NULL
        || vlcf->backup != NULL
        || ngx_http_v3xy_hold_applies(vlcf)
        || ngx_http_v3xy_metrics.requests != NULL)
    {
        ctx = ngx_http_v3xy_get_ctx(r);
        if (ctx == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (ctx->role == NGX_HTTP_V3XY_ROLE_NONE) {
            ctx->role = vlcf->role;
        }

        /* 2. gateway key */

        if (vlcf->key_store != NULL && ctx->gateway_lcf != vlcf) {
            rc = ngx_http_v3xy_gateway(r, vlcf, ctx, &hs);

            if (rc != NGX_OK) {
                return rc;
            }

            ctx->gateway_lcf = vlcf;
        }

        if (vlcf->session_store != NULL) {
            rc = ngx_http_v3xy_session(r, vlcf, ctx, &hs);

            if (rc != NGX_OK) {
                return rc;
            }
        }

        /* 3. the API's 429 */

        if (vlcf->hold != NULL) {
            rc = ngx_http_v3xy_hold(r, vlcf, ctx);

            if (rc != NGX_OK) {
                return rc;
            }
        }

        /* 4. webhook signature */

        /* after an internal redirect, another location's secrets judge */

        if (vlcf->webhook_secrets != NULL
            && ctx->webhook_secrets != vlcf->webhook_secrets)
        {
            ctx->webhook_ok = 0;
            ctx->webhook_fresh = 0;
            ngx_str_null(&ctx->webhook_signature);
        }

        if (vlcf->webhook_secrets != NULL && !ctx->webhook_ok) {
            rc = ngx_http_v3xy_webhook(r, vlcf, ctx, &hs);

            if (rc != NGX_OK) {
                return rc;
            }

            ctx->webhook_secrets = vlcf->webhook_secrets;
        }

        /* 5. body */

        if (vlcf->body_email) {
            rc = ngx_http_v3xy_body_read(r, ctx);

            if (rc != NGX_OK) {
                return rc;
            }

            rc = ngx_http_v3xy_body_email(r, ctx);

            if (rc == NGX_ERROR) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            if (rc == NGX_DECLINED) {
                return ngx_http_v3xy_refuse(r, NGX_HTTP_V3XY_ERR_BODY_INVALID);
            }
        }

        /* 6. rate limits and the replay guard */

        if (vlcf->decide != NULL) {
            rc = ngx_http_v3xy_limit(r, vlcf, ctx);

            if (rc != NGX_DECLINED) {
                return rc;
            }
        }
    }

    /* 7. key */

    if (vlcf->api_key != NULL
        && ngx_http_v3xy_inject_key(r, vlcf->api_key, &hs) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* 8. failover */

    if (vlcf->backup != NULL) {
        return ngx_http_v3xy_failover(r, vlcf, ctx);
    }

    return NGX_DECLINED;
}


/*
 * A subrequest (SSI, auth_request, mirror, ...) enters a location of the
 * key store or the session store.  nginx runs no access phase for it: a
 * parent that this store accepted passes its decision on (its headers,
 * which the subrequest copies, carry the account); any other subrequest
 * (its parent judged by no store, or by another) is judged here, in its
 * own context, as the access phase judges a request, else it would reach
 * the store's backend unchecked, with a client's X-V3XY-Account.  The
 * limits and the API's 429 stay the main request's, as nginx's limit_req.
 * While Redis is asked the subrequest waits (NGX_DONE) and the lookup
 * resumes its phases here.
 */

static ngx_int_t
ngx_http_v3xy_enter_store(ngx_http_request_t *r,
    ngx_http_v3xy_loc_conf_t *vlcf)
{
    ngx_int_t                 rc;
    ngx_http_v3xy_ctx_t      *ctx, *pctx;
    ngx_http_v3xy_headers_t   hs;

    pctx = ngx_http_v3xy_find_ctx(r->parent);

    if (pctx != NULL && pctx->account.len
        && ((vlcf->key_store != NULL
             && pctx->gateway_store == vlcf->key_store)
            || (vlcf->session_store != NULL
                && pctx->session_store == vlcf->session_store)))
    {
        return NGX_DECLINED;
    }

    ngx_http_v3xy_scan_headers(r, &hs);

    if (ngx_http_v3xy_browser(r, vlcf, &hs) != NGX_OK) {
        return ngx_http_v3xy_refuse(r, NGX_HTTP_V3XY_ERR_API_KEY_ORIGIN);
    }

    ctx = ngx_http_v3xy_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->role == NGX_HTTP_V3XY_ROLE_NONE) {
        ctx->role = vlcf->role;
    }

    /* a key that another store judged for the parent: by its digest */

    if (pctx != NULL && pctx->key_digested && !ctx->key_digested) {
        ngx_memcpy(ctx->key_digest, pctx->key_digest,
                   sizeof(ctx->key_digest));
        ctx->key_id = pctx->key_id;
        ctx->key_digested = 1;
    }

    rc = NGX_OK;

    if (vlcf->key_store != NULL && ctx->gateway_lcf != vlcf) {
        rc = ngx_http_v3xy_gateway(r, vlcf, ctx, &hs);

        if (rc == NGX_OK) {
            ctx->gateway_lcf = vlcf;
        }
    }

    if (rc == NGX_OK && vlcf->session_store != NULL) {
        rc = ngx_http_v3xy_session(r, vlcf, ctx, &hs);
    }

    switch (rc) {

    case NGX_OK:
        return NGX_DECLINED;

    case NGX_AGAIN:
        /* the lookup resumes the subrequest's phases: this handler again */
        return NGX_DONE;

    default:
        return rc;
    }
}


/*
 * NGX_DECLINED: a browser sent the request where a key is involved.  The
 * refusal names the key, by its fingerprint: the sidecar's own, or, on
 * the gateway, the presented one (not verified yet: a browser that holds
 * a developer key has it from a page or an app, and it may be leaked).
 */

static ngx_int_t
ngx_http_v3xy_browser(ngx_http_request_t *r, ngx_http_v3xy_loc_conf_t *vlcf,
    ngx_http_v3xy_headers_t *hs)
{
    u_char                digest[32];
    ngx_str_t            *key, key_id;
    ngx_http_v3xy_ctx_t  *ctx;

    if (hs->browser_mark == NULL
        || vlcf->browser != NGX_HTTP_V3XY_BROWSER_REJECT
        || (vlcf->api_key == NULL
            && ((vlcf->key_store == NULL && vlcf->session_store == NULL)
                || !hs->key_headers)))
    {
        return NGX_OK;
    }

    if (vlcf->api_key != NULL) {
        key_id = vlcf->api_key->key_id;

    } else {
        /* the first presented key: $v3xy_key_id names it, as the gateway */

        key = &hs->key_header->value;

        key_id.data = ngx_pnalloc(r->pool, V3XY_KEY_ID_LEN);
        ctx = ngx_http_v3xy_get_ctx(r);

        if (key_id.data == NULL || ctx == NULL
            || ngx_http_v3xy_sha256(key->data, key->len, digest) != NGX_OK)
        {
            ngx_str_null(&key_id);

        } else {
            key_id.len = V3XY_KEY_ID_LEN;
            v3xy_key_id_from_digest(digest, key_id.data);
            ctx->key_id = key_id;
        }
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "v3xy: api_key_origin: browser request (\"%V\" header) "
                  "refused where a developer key is %s, key %V",
                  &hs->browser_mark->key,
                  (vlcf->api_key != NULL) ? "injected" : "presented",
                  &key_id);

    return NGX_DECLINED;
}
