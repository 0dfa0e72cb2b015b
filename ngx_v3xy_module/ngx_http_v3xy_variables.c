/*
 * ngx_http_v3xy_variables: what the module decided, for logs and headers.
 *
 *   $v3xy_key_id      fingerprint of the key in use (never the key)
 *   $v3xy_error_code  the JSON code of the module's refusal, if any
 *   $v3xy_limit_remaining  admissions left in the tightest zone
 *   $v3xy_body_email  the "email" of the JSON body, in canonical form
 *   $v3xy_webhook_status     "ok", or the code of the webhook's refusal
 *   $v3xy_webhook_signature  the v1 that matched (not secret: a MAC)
 *   $v3xy_webhook_delivery   SHA-256 of "<t>.<body>": the replay guard's
 *                            key (with v3xy_webhook_replay on)
 *   $v3xy_account     the account of the key or session the gateway
 *                     accepted
 *   $v3xy_session_id  fingerprint of the Bearer token (never the token)
 *   $v3xy_upstream    primary | backup
 *   $v3xy_failover    why the request went to the backup
 *   $v3xy_role        sidecar | webhook | gateway, as the metrics say
 *   $v3xy_limit_zone  the tightest zone: the one that refused, if any
 *   $v3xy_limit_fallback  the v3xy_limit_fail mode that decided, if Redis
 *                     could not
 *   $v3xy_limit_status  PASSED | REJECTED | REJECTED_DRY_RUN, as nginx's
 *                     $limit_req_status
 *   $v3xy_key_cache   hit | negative | miss | failed: the Redis key store
 *   $v3xy_tier        the tier of the key in use (the gateway's accepted
 *                     key's, the sidecar's tier=), if it has one
 */

#include "ngx_http_v3xy_module.h"
#include "ngx_http_v3xy_variables.h"
#include "ngx_http_v3xy_key_cache.h"
#include "ngx_http_v3xy_limit.h"
#include "ngx_http_v3xy_failover.h"


static ngx_int_t ngx_http_v3xy_key_id_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_v3xy_error_code_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_v3xy_limit_remaining_variable(
    ngx_http_request_t *r, ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_v3xy_webhook_status_variable(
    ngx_http_request_t *r, ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_v3xy_ctx_str_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_v3xy_failover_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_v3xy_decision_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_v3xy_var_str(ngx_http_variable_value_t *v,
    ngx_str_t *s);


#define NGX_HTTP_V3XY_VAR_ROLE           0
#define NGX_HTTP_V3XY_VAR_LIMIT_ZONE     1
#define NGX_HTTP_V3XY_VAR_LIMIT_FALLBACK 2
#define NGX_HTTP_V3XY_VAR_KEY_CACHE      3
#define NGX_HTTP_V3XY_VAR_TIER           4
#define NGX_HTTP_V3XY_VAR_LIMIT_STATUS   5


static ngx_http_variable_t  ngx_http_v3xy_vars[] = {

    { ngx_string("v3xy_key_id"), NULL,
      ngx_http_v3xy_key_id_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("v3xy_error_code"), NULL,
      ngx_http_v3xy_error_code_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("v3xy_limit_remaining"), NULL,
      ngx_http_v3xy_limit_remaining_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("v3xy_body_email"), NULL,
      ngx_http_v3xy_ctx_str_variable,
      offsetof(ngx_http_v3xy_ctx_t, body_email),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("v3xy_webhook_status"), NULL,
      ngx_http_v3xy_webhook_status_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("v3xy_webhook_signature"), NULL,
      ngx_http_v3xy_ctx_str_variable,
      offsetof(ngx_http_v3xy_ctx_t, webhook_signature),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("v3xy_webhook_delivery"), NULL,
      ngx_http_v3xy_ctx_str_variable,
      offsetof(ngx_http_v3xy_ctx_t, webhook_delivery),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("v3xy_account"), NULL,
      ngx_http_v3xy_ctx_str_variable,
      offsetof(ngx_http_v3xy_ctx_t, account),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("v3xy_session_id"), NULL,
      ngx_http_v3xy_ctx_str_variable,
      offsetof(ngx_http_v3xy_ctx_t, session_id),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("v3xy_upstream"), NULL,
      ngx_http_v3xy_failover_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("v3xy_failover"), NULL,
      ngx_http_v3xy_failover_variable, 1,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("v3xy_role"), NULL,
      ngx_http_v3xy_decision_variable, NGX_HTTP_V3XY_VAR_ROLE,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("v3xy_limit_zone"), NULL,
      ngx_http_v3xy_decision_variable, NGX_HTTP_V3XY_VAR_LIMIT_ZONE,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("v3xy_limit_fallback"), NULL,
      ngx_http_v3xy_decision_variable, NGX_HTTP_V3XY_VAR_LIMIT_FALLBACK,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("v3xy_key_cache"), NULL,
      ngx_http_v3xy_decision_variable, NGX_HTTP_V3XY_VAR_KEY_CACHE,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("v3xy_tier"), NULL,
      ngx_http_v3xy_decision_variable, NGX_HTTP_V3XY_VAR_TIER,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("v3xy_limit_status"), NULL,
      ngx_http_v3xy_decision_variable, NGX_HTTP_V3XY_VAR_LIMIT_STATUS,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_http_v3xy_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_v3xy_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_v3xy_key_id_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_v3xy_ctx_t       *ctx;
    ngx_http_v3xy_loc_conf_t  *vlcf;

    /*
     * The sidecar's own where the location injects it (also after an
     * internal redirect from a gateway's location), else the gateway's
     * presented key.
     */

    vlcf = ngx_http_get_module_loc_conf(r, ngx_http_v3xy_module);
    ctx = ngx_http_v3xy_find_ctx(r);

    if (vlcf->api_key != NULL) {
        v->len = vlcf->api_key->key_id.len;
        v->data = vlcf->api_key->key_id.data;

    } else if (ctx != NULL && ctx->key_id.len) {
        v->len = ctx->key_id.len;
        v->data = ctx->key_id.data;

    } else {
        v->not_found = 1;
        return NGX_OK;
    }

    /* not cached: the next location of an internal redirect may differ */

    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_v3xy_error_code_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t            *code;
    ngx_http_v3xy_ctx_t  *ctx;

    ctx = ngx_http_v3xy_find_ctx(r);

    if (ctx == NULL || ctx->error == NGX_HTTP_V3XY_ERR_NONE) {
        v->not_found = 1;
        return NGX_OK;
    }

    code = ngx_http_v3xy_error_code(ctx->error);

    v->len = code->len;
    v->data = code->data;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_v3xy_limit_remaining_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char               *p;
    ngx_http_v3xy_ctx_t  *ctx;

    ctx = ngx_http_v3xy_find_ctx(r);

    if (ctx == NULL || ctx->limit_zone == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->data = p;
    v->len = ngx_sprintf(p, "%uL", ctx->limit_remaining) - p;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_v3xy_webhook_status_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                 *code;
    ngx_http_v3xy_ctx_t       *ctx;
    ngx_http_v3xy_loc_conf_t  *vlcf;

    vlcf = ngx_http_get_module_loc_conf(r, ngx_http_v3xy_module);
    ctx = ngx_http_v3xy_find_ctx(r);

    if (vlcf->webhook_secrets == NULL || ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    if (ctx->error >= NGX_HTTP_V3XY_ERR_WEBHOOK_MISSING
        && ctx->error <= NGX_HTTP_V3XY_ERR_WEBHOOK_REPLAYED)
    {
        code = ngx_http_v3xy_error_code(ctx->error);
        v->len = code->len;
        v->data = code->data;

    } else if (ctx->webhook_ok) {
        v->len = sizeof("ok") - 1;
        v->data = (u_char *) "ok";

    } else {
        v->not_found = 1;
        return NGX_OK;
    }

    /* not cached: the next location of an internal redirect may differ */

    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


/* a string of the request's context, at offset data */

static ngx_int_t
ngx_http_v3xy_ctx_str_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t            *s;
    ngx_http_v3xy_ctx_t  *ctx;

    ctx = ngx_http_v3xy_find_ctx(r);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    s = (ngx_str_t *) ((char *) ctx + data);

    return ngx_http_v3xy_var_str(v, s->len ? s : NULL);
}


/* $v3xy_upstream: primary | backup; $v3xy_failover: why the backup */

static ngx_int_t
ngx_http_v3xy_failover_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t  *s;

    s = ngx_http_v3xy_failover_var(r, data);

    return ngx_http_v3xy_var_str(v, s);
}


static ngx_int_t
ngx_http_v3xy_decision_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                 *s;
    ngx_uint_t                 role;
    ngx_http_v3xy_ctx_t       *ctx;
    ngx_http_v3xy_loc_conf_t  *vlcf;

    ctx = ngx_http_v3xy_find_ctx(r);
    s = NULL;

    switch (data) {

    case NGX_HTTP_V3XY_VAR_ROLE:
        if (ctx != NULL && ctx->role) {
            role = ctx->role;

        } else {
            vlcf = ngx_http_get_module_loc_conf(r, ngx_http_v3xy_module);
            role = vlcf->role;
        }

        s = role ? &ngx_http_v3xy_role_names[role] : NULL;
        break;

    case NGX_HTTP_V3XY_VAR_LIMIT_ZONE:
        s = (ctx != NULL && ctx->limit_zone != NULL)
            ? &ctx->limit_zone->name : NULL;
        break;

    case NGX_HTTP_V3XY_VAR_LIMIT_FALLBACK:
        s = (ctx != NULL && ctx->limit_fallback)
            ? &ngx_http_v3xy_limit_fail_modes[ctx->limit_fallback - 1].name
            : NULL;
        break;

    case NGX_HTTP_V3XY_VAR_LIMIT_STATUS:
        s = (ctx != NULL && ctx->limit_status)
            ? &ngx_http_v3xy_limit_status_names[ctx->limit_status] : NULL;
        break;

    case NGX_HTTP_V3XY_VAR_KEY_CACHE:
        s = (ctx != NULL && ctx->key_cache)
            ? &ngx_http_v3xy_key_cache_names[ctx->key_cache - 1] : NULL;
        break;

    default: /* NGX_HTTP_V3XY_VAR_TIER */
        s = ngx_http_v3xy_tier(r, ctx);
        break;
    }

    return ngx_http_v3xy_var_str(v, s);
}


/* the value of a string, or not found for NULL */

static ngx_int_t
ngx_http_v3xy_var_str(ngx_http_variable_value_t *v, ngx_str_t *s)
{
    if (s == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = s->len;
    v->data = s->data;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}
