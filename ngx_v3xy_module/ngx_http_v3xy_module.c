/*
 * ngx_http_v3xy_module: the module, its directives and its configuration.
 *
 * Directive parsers do the work at configuration time (read and check the
 * key file, fingerprint it); the request path only reads what they built.
 */

#include "ngx_http_v3xy_module.h"
#include "ngx_http_v3xy_body.h"
#include "ngx_http_v3xy_failover.h"
#include "ngx_http_v3xy_gateway.h"
#include "ngx_http_v3xy_hold.h"
#include "ngx_http_v3xy_key.h"
#include "ngx_http_v3xy_key_cache.h"
#include "ngx_http_v3xy_limit.h"
#include "ngx_http_v3xy_metrics.h"
#include "ngx_http_v3xy_pipeline.h"
#include "ngx_http_v3xy_redis.h"
#include "ngx_http_v3xy_variables.h"
#include "ngx_http_v3xy_webhook.h"


static ngx_int_t ngx_http_v3xy_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_v3xy_postconfiguration(ngx_conf_t *cf);
static void *ngx_http_v3xy_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_v3xy_create_loc_conf(ngx_conf_t *cf);
static ngx_uint_t ngx_http_v3xy_role(ngx_http_v3xy_loc_conf_t *conf);
static char *ngx_http_v3xy_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_v3xy_init_process(ngx_cycle_t *cycle);
static void ngx_http_v3xy_exit_process(ngx_cycle_t *cycle);


static ngx_conf_enum_t  ngx_http_v3xy_browser[] = {
    { ngx_string("reject"), NGX_HTTP_V3XY_BROWSER_REJECT },
    { ngx_string("allow"), NGX_HTTP_V3XY_BROWSER_ALLOW },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_v3xy_subaddress[] = {
    { ngx_string("fold"), NGX_HTTP_V3XY_SUBADDRESS_FOLD },
    { ngx_string("keep"), NGX_HTTP_V3XY_SUBADDRESS_KEEP },
    { ngx_null_string, 0 }
};


/* the metric families of the capabilities, in the order of the text */
static ngx_http_v3xy_mprint_pt  ngx_http_v3xy_metrics_families[] = {
    ngx_http_v3xy_limit_metrics,
    ngx_http_v3xy_redis_metrics,
    ngx_http_v3xy_failover_metrics,
    ngx_http_v3xy_hold_metrics,
    ngx_http_v3xy_webhook_metrics,
    ngx_http_v3xy_key_cache_metrics,
    ngx_http_v3xy_session_cache_metrics,
    NULL
};


static ngx_command_t  ngx_http_v3xy_commands[] = {

    { ngx_string("v3xy_api_key_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_v3xy_api_key_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("v3xy_browser"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_v3xy_loc_conf_t, browser),
      &ngx_http_v3xy_browser },

    { ngx_string("v3xy_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_v3xy_redis_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("v3xy_limit_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_http_v3xy_limit_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("v3xy_limit"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_v3xy_limit_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("v3xy_limit_dry_run"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_v3xy_limit_dry_run,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("v3xy_limit_fail"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_v3xy_loc_conf_t, limit_fail),
      &ngx_http_v3xy_limit_fail_modes },

    { ngx_string("v3xy_body_email_subaddress"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_v3xy_loc_conf_t, body_subaddress),
      &ngx_http_v3xy_subaddress },

    { ngx_string("v3xy_webhook_secret_file"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_v3xy_webhook_secret_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("v3xy_webhook_tolerance"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_v3xy_loc_conf_t, webhook_tolerance),
      NULL },

    { ngx_string("v3xy_webhook_replay"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_v3xy_loc_conf_t, webhook_replay),
      NULL },

    { ngx_string("v3xy_key_store"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE123,
      ngx_http_v3xy_key_store,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("v3xy_scope"),
      NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_v3xy_scope,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("v3xy_session_store"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE123,
      ngx_http_v3xy_session_store,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("v3xy_key_forward"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_v3xy_loc_conf_t, key_forward),
      NULL },

    { ngx_string("v3xy_backup"),
      NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_v3xy_backup,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("v3xy_upstream_429"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_v3xy_upstream_429,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("v3xy_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_v3xy_metrics_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_v3xy_module_ctx = {
    ngx_http_v3xy_preconfiguration,        /* preconfiguration */
    ngx_http_v3xy_postconfiguration,       /* postconfiguration */

    ngx_http_v3xy_create_main_conf,        /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_v3xy_create_loc_conf,         /* create location configuration */
    ngx_http_v3xy_merge_loc_conf           /* merge location configuration */
};


ngx_module_t  ngx_http_v3xy_module = {
    NGX_MODULE_V1,
    &ngx_http_v3xy_module_ctx,             /* module context */
    ngx_http_v3xy_commands,                /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_v3xy_init_process,            /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_v3xy_exit_process,            /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_int_t
ngx_http_v3xy_preconfiguration(ngx_conf_t *cf)
{
    return ngx_http_v3xy_add_variables(cf);
}


static ngx_int_t
ngx_http_v3xy_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_v3xy_main_conf_t  *vmcf;
    ngx_http_core_main_conf_t  *cmcf;

    if (ngx_http_v3xy_key_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_v3xy_limit_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_v3xy_gateway_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    /* its header filter goes first: it may drop a response */

    if (ngx_http_v3xy_failover_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_v3xy_hold_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_v3xy_metrics_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    /*
     * Handlers registered last run first in a phase: a dynamic module's
     * refusal comes before allow/deny or auth_basic can grant access.
     */

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_v3xy_access_handler;

    /*
     * Where a request or subrequest enters a location: the key's seams,
     * and a subrequest's credentials where a store judges them.  Without
     * a key to inject nor a store, no request pays for the call.
     */

    vmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_v3xy_module);

    if (vmcf->keys == 0 && vmcf->stores == 0) {
        return NGX_OK;
    }

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_REWRITE_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_v3xy_enter_handler;

    return NGX_OK;
}


static void *
ngx_http_v3xy_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_v3xy_main_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_v3xy_main_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&conf->zones, cf->pool, 4,
                       sizeof(ngx_http_v3xy_zone_t *))
        != NGX_OK
        || ngx_array_init(&conf->replay_zones, cf->pool, 1,
                          sizeof(ngx_http_v3xy_zone_t *))
           != NGX_OK
        || ngx_array_init(&conf->backups, cf->pool, 1,
                          sizeof(ngx_http_v3xy_backup_t *))
           != NGX_OK)
    {
        return NULL;
    }

    conf->metrics_families = ngx_http_v3xy_metrics_families;

    return conf;
}


static void *
ngx_http_v3xy_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_v3xy_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_v3xy_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->api_key = NGX_CONF_UNSET_PTR;
    conf->browser = NGX_CONF_UNSET_UINT;
    conf->limits = NGX_CONF_UNSET_PTR;
    conf->limit_fail = NGX_CONF_UNSET_UINT;
    conf->limit_dry = NGX_CONF_UNSET_PTR;
    conf->body_subaddress = NGX_CONF_UNSET_UINT;
    conf->webhook_secrets = NGX_CONF_UNSET_PTR;
    conf->webhook_tolerance = NGX_CONF_UNSET;
    conf->webhook_replay = NGX_CONF_UNSET;
    conf->key_store = NGX_CONF_UNSET_PTR;
    conf->scopes = NGX_CONF_UNSET_PTR;
    conf->key_forward = NGX_CONF_UNSET;
    conf->session_store = NGX_CONF_UNSET_PTR;
    conf->backup = NGX_CONF_UNSET_PTR;
    conf->hold = NGX_CONF_UNSET_PTR;

    return conf;
}


static char *
ngx_http_v3xy_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_v3xy_loc_conf_t  *prev = parent;
    ngx_http_v3xy_loc_conf_t  *conf = child;

    ngx_conf_merge_ptr_value(conf->api_key, prev->api_key, NULL);
    ngx_conf_merge_uint_value(conf->browser, prev->browser,
                              NGX_HTTP_V3XY_BROWSER_REJECT);
    ngx_conf_merge_ptr_value(conf->limits, prev->limits, NULL);
    ngx_conf_merge_uint_value(conf->limit_fail, prev->limit_fail,
                              NGX_HTTP_V3XY_FAIL_LOCAL);
    ngx_conf_merge_ptr_value(conf->limit_dry, prev->limit_dry, NULL);
    ngx_conf_merge_uint_value(conf->body_subaddress, prev->body_subaddress,
                              NGX_HTTP_V3XY_SUBADDRESS_FOLD);

    ngx_conf_merge_ptr_value(conf->webhook_secrets, prev->webhook_secrets,
                             NULL);
    ngx_conf_merge_sec_value(conf->webhook_tolerance, prev->webhook_tolerance,
                             300);
    ngx_conf_merge_value(conf->webhook_replay, prev->webhook_replay, 1);
    ngx_conf_merge_ptr_value(conf->key_store, prev->key_store, NULL);
    ngx_conf_merge_ptr_value(conf->scopes, prev->scopes, NULL);
    ngx_conf_merge_value(conf->key_forward, prev->key_forward, 0);
    ngx_conf_merge_ptr_value(conf->session_store, prev->session_store, NULL);

    /* not inherited: it belongs to the location of its proxy_pass */
    if (conf->backup == NGX_CONF_UNSET_PTR) {
        conf->backup = NULL;
    }

    if (conf->key_store != NULL && conf->api_key != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "v3xy_key_store and v3xy_api_key_file cannot "
                           "both apply to one location: a gateway checks "
                           "keys, a sidecar injects its own");
        return NGX_CONF_ERROR;
    }

    if (conf->session_store != NULL
        && (conf->key_store != NULL || conf->api_key != NULL))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "v3xy_session_store cannot apply to a location "
                           "of %s: a location takes a person's session or "
                           "a developer key (\"%s off\" where the other "
                           "is inherited)",
                           conf->key_store ? "v3xy_key_store"
                                           : "v3xy_api_key_file",
                           conf->key_store ? "v3xy_key_store"
                                           : "v3xy_session_store");
        return NGX_CONF_ERROR;
    }

    if (ngx_http_v3xy_webhook_merge(cf, conf) != NGX_CONF_OK
        || ngx_http_v3xy_limit_merge(cf, conf) != NGX_CONF_OK
        || ngx_http_v3xy_hold_merge(cf, prev, conf) != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    conf->role = ngx_http_v3xy_role(conf);

    return NGX_CONF_OK;
}


/* what a merged location does, for $v3xy_role and the metrics */

static ngx_uint_t
ngx_http_v3xy_role(ngx_http_v3xy_loc_conf_t *conf)
{
    if (conf->api_key != NULL || conf->backup != NULL
        || conf->backup_child)
    {
        return NGX_HTTP_V3XY_ROLE_SIDECAR;
    }

    if (conf->webhook_secrets != NULL) {
        return NGX_HTTP_V3XY_ROLE_WEBHOOK;
    }

    if (conf->key_store != NULL || conf->session_store != NULL
        || conf->decide != NULL)
    {
        return NGX_HTTP_V3XY_ROLE_GATEWAY;
    }

    return NGX_HTTP_V3XY_ROLE_NONE;
}


static ngx_int_t
ngx_http_v3xy_init_process(ngx_cycle_t *cycle)
{
    ngx_http_v3xy_main_conf_t  *vmcf;

    vmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_v3xy_module);

    if (vmcf == NULL) {
        return NGX_OK;
    }

    ngx_http_v3xy_metrics_init_process(vmcf);

    if (vmcf->redis == NULL) {
        return NGX_OK;
    }

    return ngx_http_v3xy_redis_init_process(cycle, vmcf->redis);
}


static void
ngx_http_v3xy_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_v3xy_redis_exit_process(cycle);
}

