/*
 * ngx_http_v3xy_ctx: the request's context, and the names of the roles
 * that it records.
 *
 * Every file that handles a request finds its context here: phase
 * handlers, upstream callbacks, filters, variables, the log phase.  It
 * depends on no other file of the module.
 */

#include "ngx_http_v3xy_module.h"


/* what a location does ($v3xy_role, the metrics' "role" label) */
ngx_str_t  ngx_http_v3xy_role_names[] = {
    ngx_null_string,
    ngx_string("sidecar"),
    ngx_string("webhook"),
    ngx_string("gateway"),
};


/*
 * The request's context survives internal redirects (try_files, error_page,
 * named locations clear modules' contexts): a key checked, a body verified,
 * a limit counted stay done, as the realip module keeps its address.  A
 * pool cleanup that does nothing holds the pointer.
 */

static void
ngx_http_v3xy_ctx_cleanup(void *data)
{
}


ngx_http_v3xy_ctx_t *
ngx_http_v3xy_find_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t   *cln;
    ngx_http_v3xy_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_v3xy_module);

    if (ctx != NULL || !r->internal) {
        return ctx;
    }

    /* a subrequest shares its parent's pool: each finds its own */

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_v3xy_ctx_cleanup
            && ((ngx_http_v3xy_ctx_t *) cln->data)->request == r)
        {
            ctx = cln->data;
            ngx_http_set_ctx(r, ctx, ngx_http_v3xy_module);
            return ctx;
        }
    }

    return NULL;
}


ngx_http_v3xy_ctx_t *
ngx_http_v3xy_get_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t   *cln;
    ngx_http_v3xy_ctx_t  *ctx;

    ctx = ngx_http_v3xy_find_ctx(r);

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_v3xy_ctx_t));
        if (ctx == NULL) {
            return NULL;
        }

        ctx->request = r;

        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            return NULL;
        }

        cln->handler = ngx_http_v3xy_ctx_cleanup;
        cln->data = ctx;

        ngx_http_set_ctx(r, ctx, ngx_http_v3xy_module);
    }

    return ctx;
}
