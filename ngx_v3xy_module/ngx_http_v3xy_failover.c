/*
 * ngx_http_v3xy_failover: the same request to the backup base URL when the
 * primary is unreachable or answers 502, 503 or 504, with a circuit
 * breaker in shared memory.
 *
 * "v3xy_backup URL" builds, at configuration time, what a user would
 * otherwise write by hand:
 *
 *   - a location inside the primary's (like limit_except's block, so that
 *     it inherits every proxy_* setting of the primary: certificates,
 *     timeouts, headers) holding "proxy_pass URL", "proxy_ssl_server_name
 *     on" and "proxy_ssl_name $proxy_host": the SNI and the certificate
 *     check are the backup's, and so is Host where the location leaves it
 *     to nginx ($proxy_host, the default);
 *   - a named location "@v3xy_backup_N" in the server that leads to it;
 *   - "error_page 502 503 504 = @v3xy_backup_N" in front of the primary's
 *     own error pages, and the same in the backup's location, which leads
 *     back to that location once more, where the module answers 503
 *     upstream_unavailable.
 *
 * How a failure reaches the error page: a connect failure, a timeout or a
 * broken response ends the upstream with 502 or 504, which nginx sends
 * through its error pages.  A 502, 503 or 504 that the primary answers
 * itself is seen by the header filter here, which drops the response's
 * headers and hands nginx the status instead, before anything is sent:
 * the same way.  Any other status passes untouched.
 *
 * The request keeps its method, URI, headers and body: the body is read
 * whole in the access phase (it may spill to a temporary file) before the
 * primary gets it, so that it can be sent again.  A non-idempotent request
 * (POST, PATCH, LOCK) that the primary took and then did not answer
 * (timeout, broken connection) is not sent again unless the directive
 * says "non_idempotent": it may have been processed.
 */

#include "ngx_http_v3xy_module.h"
#include "ngx_http_v3xy_body.h"
#include "ngx_http_v3xy_key.h"
#include "ngx_http_v3xy_metrics.h"
#include "ngx_http_v3xy_failover.h"
#include "v3xy_breaker.h"


#define NGX_HTTP_V3XY_BACKUPS_MAX   256
#define NGX_HTTP_V3XY_BREAKER_ZONE  (64 * 1024)


static ngx_int_t ngx_http_v3xy_backup_parse_url(ngx_conf_t *cf,
    ngx_http_v3xy_backup_t *b);
static ngx_int_t ngx_http_v3xy_backup_parse_params(ngx_conf_t *cf,
    ngx_http_v3xy_backup_t *b);
static ngx_int_t ngx_http_v3xy_backup_add_breaker(ngx_conf_t *cf,
    ngx_http_v3xy_backup_t *b);
static ngx_int_t ngx_http_v3xy_backup_add_location(ngx_conf_t *cf,
    ngx_http_v3xy_backup_t *b);
static ngx_int_t ngx_http_v3xy_backup_add_named(ngx_conf_t *cf,
    ngx_http_v3xy_backup_t *b);
static ngx_http_core_loc_conf_t *ngx_http_v3xy_new_location(ngx_conf_t *cf,
    ngx_queue_t **locations, ngx_str_t *name, ngx_uint_t named);
static char *ngx_http_v3xy_conf_string(ngx_conf_t *cf, void **loc_conf,
    ngx_str_t *text);
static ngx_int_t ngx_http_v3xy_error_pages(ngx_conf_t *cf,
    ngx_http_core_loc_conf_t *clcf, ngx_http_v3xy_backup_t *b);
static ngx_int_t ngx_http_v3xy_failover_primary(ngx_http_request_t *r,
    ngx_http_v3xy_backup_t *b, ngx_http_v3xy_ctx_t *ctx);
static ngx_int_t ngx_http_v3xy_failover_backup(ngx_http_request_t *r,
    ngx_http_v3xy_backup_t *b, ngx_http_v3xy_ctx_t *ctx);
static ngx_int_t ngx_http_v3xy_failover_judge(ngx_http_request_t *r,
    ngx_http_v3xy_backup_t *b, ngx_http_v3xy_ctx_t *ctx);
static ngx_int_t ngx_http_v3xy_failover_proceed(ngx_http_request_t *r);
static ngx_int_t ngx_http_v3xy_failover_jump(ngx_http_request_t *r,
    ngx_http_v3xy_backup_t *b);
static ngx_str_t *ngx_http_v3xy_backup_url(ngx_http_request_t *r,
    ngx_http_v3xy_backup_t *b);
static ngx_int_t ngx_http_v3xy_failover_reason(ngx_http_request_t *r,
    ngx_http_v3xy_ctx_t *ctx);
static v3xy_breaker_t *ngx_http_v3xy_breaker(ngx_http_v3xy_backup_t *b);
static ngx_int_t ngx_http_v3xy_breaker_label(ngx_conf_t *cf,
    ngx_http_v3xy_main_conf_t *vmcf, ngx_http_v3xy_backup_t *b);
static void ngx_http_v3xy_breaker_failed(ngx_http_request_t *r,
    ngx_http_v3xy_backup_t *b, ngx_http_v3xy_ctx_t *ctx);
static ngx_int_t ngx_http_v3xy_failover_header_filter(ngx_http_request_t *r);
static void ngx_http_v3xy_clean_header(ngx_http_request_t *r);
static ngx_int_t ngx_http_v3xy_breaker_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;


static ngx_str_t  ngx_http_v3xy_reasons[] = {
    ngx_null_string,
    ngx_string("connect"),
    ngx_string("timeout"),
    ngx_string("error"),
    ngx_string("502"),
    ngx_string("503"),
    ngx_string("504"),
    ngx_string("breaker_open"),
};


/*
 * v3xy_backup URL [fails=N] [cooldown=TIME] [breaker=NAME]
 *     [non_idempotent]
 */

char *
ngx_http_v3xy_backup(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_v3xy_loc_conf_t  *vlcf = conf;

    ngx_str_t               *value;
    ngx_http_v3xy_backup_t  *b;

    if (vlcf->backup != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    /* the URL (value[1]) may hold a "=" of its own */

    if (ngx_http_v3xy_conf_once(cf, 2, NULL) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    b = ngx_pcalloc(cf->pool, sizeof(ngx_http_v3xy_backup_t));
    if (b == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    b->url = value[1];
    b->fails = 5;
    b->cooldown = 30000;
    b->file = cf->conf_file->file.name;
    b->line = cf->conf_file->line;
    b->primary = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (ngx_http_v3xy_backup_parse_url(cf, b) != NGX_OK
        || ngx_http_v3xy_backup_parse_params(cf, b) != NGX_OK
        || ngx_http_v3xy_backup_add_breaker(cf, b) != NGX_OK
        || ngx_http_v3xy_backup_add_location(cf, b) != NGX_OK
        || ngx_http_v3xy_backup_add_named(cf, b) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    vlcf->backup = b;

    return NGX_CONF_OK;
}


/* the URL: http:// or https://, one token, checked as proxy_pass will */

static ngx_int_t
ngx_http_v3xy_backup_parse_url(ngx_conf_t *cf, ngx_http_v3xy_backup_t *b)
{
    size_t                             scheme;
    ngx_url_t                          u;
    ngx_uint_t                         i;
    ngx_http_compile_complex_value_t   ccv;

    /* it goes into directives parsed from a string: one token only */

    for (i = 0; i < b->url.len; i++) {
        if (b->url.data[i] <= ' ' || b->url.data[i] == 0x7f
            || ngx_strchr(";{}#\"'\\", b->url.data[i]) != NULL)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid value \"%V\": it has a character "
                               "a URL does not need here", &b->url);
            return NGX_ERROR;
        }
    }

    if (ngx_strncasecmp(b->url.data, (u_char *) "https://", 8) == 0) {
        scheme = 8;

    } else if (ngx_strncasecmp(b->url.data, (u_char *) "http://", 7) == 0) {
        scheme = 7;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid URL prefix in \"%V\"", &b->url);
        return NGX_ERROR;
    }

    /* for the logs: the URL as a request sees it */

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &b->url;
    ccv.complex_value = &b->url_cv;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_ERROR;
    }

    /* with variables, it is known per request only */

    if (ngx_strlchr(b->url.data, b->url.data + b->url.len, '$') != NULL) {
        return NGX_OK;
    }

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url.data = b->url.data + scheme;
    u.url.len = b->url.len - scheme;
    u.no_resolve = 1;
    u.uri_part = 1;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.host.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s in \"%V\"",
                           u.err != NULL ? u.err : "no host", &b->url);
        return NGX_ERROR;
    }

    if (u.uri.len
        && (b->primary->named
#if (NGX_PCRE)
            || b->primary->regex != NULL
#endif
           ))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"v3xy_backup\" cannot have URI part in "
                           "location given by regular expression, "
                           "or inside named location");
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_v3xy_backup_parse_params(ngx_conf_t *cf, ngx_http_v3xy_backup_t *b)
{
    ngx_int_t    n;
    ngx_str_t   *value, s;
    ngx_uint_t   i;

    value = cf->args->elts;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "fails=", 6) == 0) {
            n = ngx_atoi(value[i].data + 6, value[i].len - 6);
            if (n == NGX_ERROR || n > 1000000) {
                goto invalid;
            }

            b->fails = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "cooldown=", 9) == 0) {
            s.data = value[i].data + 9;
            s.len = value[i].len - 9;

            n = ngx_parse_time(&s, 0);
            if (n == NGX_ERROR || n < 1 || n > 24 * 3600 * 1000) {
                goto invalid;
            }

            b->cooldown = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "breaker=", 8) == 0) {
            b->breaker.data = value[i].data + 8;
            b->breaker.len = value[i].len - 8;

            if (b->breaker.len == 0) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strcmp(value[i].data, "non_idempotent") == 0) {
            b->non_idempotent = 1;
            continue;
        }

        goto invalid;
    }

    return NGX_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);
    return NGX_ERROR;
}


/*
 * The backup's breaker, in the one zone of them all: its own, or, with
 * breaker=NAME, the one that the locations to one primary share so that
 * they share what they learn.
 */

static ngx_int_t
ngx_http_v3xy_backup_add_breaker(ngx_conf_t *cf, ngx_http_v3xy_backup_t *b)
{
    ngx_str_t                   name;
    ngx_uint_t                  i;
    ngx_http_v3xy_backup_t    **bp;
    ngx_http_v3xy_main_conf_t  *vmcf;

    vmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_v3xy_module);

    if (vmcf->backups.nelts >= NGX_HTTP_V3XY_BACKUPS_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "more than %d \"v3xy_backup\" directives",
                           NGX_HTTP_V3XY_BACKUPS_MAX);
        return NGX_ERROR;
    }

    b->index = NGX_CONF_UNSET_UINT;
    bp = vmcf->backups.elts;

    for (i = 0; b->breaker.len && i < vmcf->backups.nelts; i++) {
        if (bp[i]->breaker.len != b->breaker.len
            || ngx_strncmp(bp[i]->breaker.data, b->breaker.data,
                           b->breaker.len) != 0)
        {
            continue;
        }

        if (bp[i]->fails != b->fails || bp[i]->cooldown != b->cooldown) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "breaker \"%V\" has other fails= or "
                               "cooldown= at %V:%ui",
                               &b->breaker, &bp[i]->file, bp[i]->line);
            return NGX_ERROR;
        }

        b->index = bp[i]->index;
        break;
    }

    if (b->index == NGX_CONF_UNSET_UINT) {
        b->index = vmcf->breakers++;
    }

    if (ngx_http_v3xy_breaker_label(cf, vmcf, b) != NGX_OK) {
        return NGX_ERROR;
    }

    bp = ngx_array_push(&vmcf->backups);
    if (bp == NULL) {
        return NGX_ERROR;
    }

    *bp = b;

    if (vmcf->breaker_zone == NULL) {
        ngx_str_set(&name, "v3xy_breakers");

        vmcf->breaker_zone = ngx_shared_memory_add(cf, &name,
                                                 NGX_HTTP_V3XY_BREAKER_ZONE,
                                                 &ngx_http_v3xy_module);
        if (vmcf->breaker_zone == NULL) {
            return NGX_ERROR;
        }

        vmcf->breaker_zone->init = ngx_http_v3xy_breaker_init_zone;
    }

    b->zone = vmcf->breaker_zone;

    return NGX_OK;
}


/*
 * The backup's location: inside the primary's, as limit_except builds its
 * block, so that it inherits the primary's settings; its directives are
 * parsed from a string.
 */

static ngx_int_t
ngx_http_v3xy_backup_add_location(ngx_conf_t *cf, ngx_http_v3xy_backup_t *b)
{
    char                      *rv;
    u_char                    *p;
    ngx_str_t                  text;
    ngx_http_core_loc_conf_t  *clcf, *pclcf;
    ngx_http_v3xy_loc_conf_t  *blcf;

    pclcf = b->primary;

    clcf = ngx_http_v3xy_new_location(cf, &pclcf->locations, &pclcf->name, 0);
    if (clcf == NULL) {
        return NGX_ERROR;
    }

    b->backup = clcf;

    blcf = clcf->loc_conf[ngx_http_v3xy_module.ctx_index];
    blcf->backup = b;
    blcf->backup_child = 1;

    text.data = ngx_pnalloc(cf->pool,
                            sizeof("proxy_pass ;\nproxy_ssl_server_name on;\n"
                                   "proxy_ssl_name $proxy_host;\n") - 1
                            + b->url.len);
    if (text.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(text.data, "proxy_pass %V;\n", &b->url);

    if (ngx_strncasecmp(b->url.data, (u_char *) "https://", 8) == 0) {
        /* the backup's host (nginx strips the port), not the primary's */
        p = ngx_sprintf(p, "proxy_ssl_server_name on;\n"
                           "proxy_ssl_name $proxy_host;\n");
    }

    text.len = p - text.data;

    /* proxy_pass judges a URI part by the kind of location it is in */

    clcf->noname = 0;
    clcf->named = pclcf->named;
#if (NGX_PCRE)
    clcf->regex = pclcf->regex;
#endif

    rv = ngx_http_v3xy_conf_string(cf, clcf->loc_conf, &text);

    clcf->noname = 1;
    clcf->named = 0;
#if (NGX_PCRE)
    clcf->regex = NULL;
#endif

    return (rv == NGX_CONF_OK) ? NGX_OK : NGX_ERROR;
}


/*
 * "@v3xy_backup_N", N its place among the backups, in the server: the
 * location that error pages lead to.  It gets configuration of its own to
 * be merged like any location; after the merge it is pointed at the
 * backup's (ngx_http_v3xy_failover_init()).
 */

static ngx_int_t
ngx_http_v3xy_backup_add_named(ngx_conf_t *cf, ngx_http_v3xy_backup_t *b)
{
    u_char                     *p;
    ngx_http_core_srv_conf_t   *cscf;
    ngx_http_core_loc_conf_t   *sclcf;
    ngx_http_v3xy_main_conf_t  *vmcf;

    vmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_v3xy_module);

    p = ngx_pnalloc(cf->pool, sizeof("@v3xy_backup_") - 1 + NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    b->name.data = p;
    b->name.len = ngx_sprintf(p, "@v3xy_backup_%ui",
                              vmcf->backups.nelts - 1) - p;

    cscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_core_module);
    sclcf = cscf->ctx->loc_conf[ngx_http_core_module.ctx_index];

    b->named = ngx_http_v3xy_new_location(cf, &sclcf->locations, &b->name, 1);

    return (b->named != NULL) ? NGX_OK : NGX_ERROR;
}


/* a location added to locations, with every HTTP module's configuration */

static ngx_http_core_loc_conf_t *
ngx_http_v3xy_new_location(ngx_conf_t *cf, ngx_queue_t **locations,
    ngx_str_t *name, ngx_uint_t named)
{
    void                      *mconf, **loc_conf;
    ngx_uint_t                 i;
    ngx_http_module_t         *module;
    ngx_http_core_loc_conf_t  *clcf;

    loc_conf = ngx_pcalloc(cf->pool, sizeof(void *) * ngx_http_max_module);
    if (loc_conf == NULL) {
        return NULL;
    }

    for (i = 0; cf->cycle->modules[i] != NULL; i++) {
        if (cf->cycle->modules[i]->type != NGX_HTTP_MODULE) {
            continue;
        }

        module = cf->cycle->modules[i]->ctx;

        if (module->create_loc_conf != NULL) {
            mconf = module->create_loc_conf(cf);
            if (mconf == NULL) {
                return NULL;
            }

            loc_conf[cf->cycle->modules[i]->ctx_index] = mconf;
        }
    }

    clcf = loc_conf[ngx_http_core_module.ctx_index];
    clcf->loc_conf = loc_conf;
    clcf->name = *name;
    clcf->named = named;
    clcf->noname = !named;

    if (ngx_http_add_location(cf, locations, clcf) != NGX_OK) {
        return NULL;
    }

    return clcf;
}


/*
 * Parses directives from a string into a location's configuration, the
 * way "nginx -g" does; errors point at the line of v3xy_backup.
 */

static char *
ngx_http_v3xy_conf_string(ngx_conf_t *cf, void **loc_conf, ngx_str_t *text)
{
    char                 *rv;
    ngx_buf_t             b;
    ngx_conf_t            save;
    ngx_conf_file_t       conf_file;
    ngx_http_conf_ctx_t  *ctx, *pctx;

    pctx = cf->ctx;

    ctx = ngx_pcalloc(cf->pool, sizeof(ngx_http_conf_ctx_t));
    if (ctx == NULL) {
        return NGX_CONF_ERROR;
    }

    ctx->main_conf = pctx->main_conf;
    ctx->srv_conf = pctx->srv_conf;
    ctx->loc_conf = loc_conf;

    ngx_memzero(&b, sizeof(ngx_buf_t));

    b.start = text->data;
    b.pos = text->data;
    b.last = text->data + text->len;
    b.end = b.last;
    b.temporary = 1;

    ngx_memzero(&conf_file, sizeof(ngx_conf_file_t));

    conf_file.file.fd = NGX_INVALID_FILE;
    conf_file.file.name = cf->conf_file->file.name;
    conf_file.line = cf->conf_file->line;
    conf_file.buffer = &b;

    save = *cf;
    cf->ctx = ctx;
    cf->cmd_type = NGX_HTTP_LOC_CONF;
    cf->conf_file = &conf_file;

    rv = ngx_conf_parse(cf, NULL);

    *cf = save;

    return rv;
}

/*
 * After the merge: error pages of the primary and of the backup, the
 * named location pointed at the backup's configuration, the header filter.
 */

ngx_int_t
ngx_http_v3xy_failover_init(ngx_conf_t *cf)
{
    void                      **loc_conf;
    ngx_uint_t                  i;
    ngx_http_v3xy_loc_conf_t   *vlcf;
    ngx_http_v3xy_backup_t    **bp, *b;
    ngx_http_v3xy_main_conf_t  *vmcf;

    vmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_v3xy_module);

    if (vmcf->backups.nelts == 0) {
        return NGX_OK;
    }

    bp = vmcf->backups.elts;

    for (i = 0; i < vmcf->backups.nelts; i++) {
        b = bp[i];

        /* the backup's location has proxy_pass's handler: so must it */

        if (b->primary->handler != b->backup->handler) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "v3xy_backup needs proxy_pass to the primary in "
                          "the same location in %V:%ui",
                          &b->file, b->line);
            return NGX_ERROR;
        }

        if (ngx_http_v3xy_error_pages(cf, b->primary, b) != NGX_OK
            || ngx_http_v3xy_error_pages(cf, b->backup, b) != NGX_OK)
        {
            return NGX_ERROR;
        }

        /*
         * limit_except: the methods it does not list run under its own
         * block's configuration, which must fail over the same way.
         */

        if (b->primary->limit_except_loc_conf != NULL) {
            loc_conf = b->primary->limit_except_loc_conf;

            vlcf = loc_conf[ngx_http_v3xy_module.ctx_index];
            vlcf->backup = b;

            if (ngx_http_v3xy_error_pages(cf,
                                      loc_conf[ngx_http_core_module.ctx_index],
                                      b)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

        b->named->loc_conf = b->backup->loc_conf;
    }

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_v3xy_failover_header_filter;

    return NGX_OK;
}


/* "error_page 502 503 504 = @v3xy_backup_N" before the location's own */

static ngx_int_t
ngx_http_v3xy_error_pages(ngx_conf_t *cf, ngx_http_core_loc_conf_t *clcf,
    ngx_http_v3xy_backup_t *b)
{
    ngx_uint_t            i;
    ngx_array_t          *pages;
    ngx_http_err_page_t  *ep, *old;

    static ngx_int_t      statuses[] = {
        NGX_HTTP_BAD_GATEWAY,
        NGX_HTTP_SERVICE_UNAVAILABLE,
        NGX_HTTP_GATEWAY_TIME_OUT
    };

    pages = ngx_array_create(cf->pool, 4, sizeof(ngx_http_err_page_t));
    if (pages == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < 3; i++) {
        ep = ngx_array_push(pages);
        if (ep == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(ep, sizeof(ngx_http_err_page_t));

        ep->status = statuses[i];
        ep->overwrite = 0;            /* "=": the backup's status */
        ep->value.value = b->name;    /* a constant: no lengths */
    }

    if (clcf->error_pages != NULL) {
        old = clcf->error_pages->elts;

        for (i = 0; i < clcf->error_pages->nelts; i++) {
            ep = ngx_array_push(pages);
            if (ep == NULL) {
                return NGX_ERROR;
            }

            *ep = old[i];
        }
    }

    clcf->error_pages = pages;

    return NGX_OK;
}


/*
 * The access-phase step, last of the pipeline, in the primary's location
 * or in the backup's (reached through the error page).
 */

ngx_int_t
ngx_http_v3xy_failover(ngx_http_request_t *r, ngx_http_v3xy_loc_conf_t *vlcf,
    ngx_http_v3xy_ctx_t *ctx)
{
    if (r != r->main) {
        return NGX_DECLINED;
    }

    if (vlcf->backup_child) {
        return ngx_http_v3xy_failover_backup(r, vlcf->backup, ctx);
    }

    return ngx_http_v3xy_failover_primary(r, vlcf->backup, ctx);
}


/*
 * The primary's location: the body is read whole first, so that it can be
 * sent twice (and a probe is only chosen for a request that can go
 * upstream now); then the breaker may send the request straight to the
 * backup, or let it probe the primary.
 */

static ngx_int_t
ngx_http_v3xy_failover_primary(ngx_http_request_t *r,
    ngx_http_v3xy_backup_t *b, ngx_http_v3xy_ctx_t *ctx)
{
    ngx_int_t        rc;
    v3xy_breaker_t  *br;

    if (r->headers_in.content_length_n > 0 || r->headers_in.chunked) {
        rc = ngx_http_v3xy_body_read(r, ctx);

        if (rc != NGX_OK) {
            return rc;
        }
    }

    if (ctx->upstream != NGX_HTTP_V3XY_UPSTREAM_NONE) {
        return ngx_http_v3xy_failover_proceed(r);
    }

    ctx->upstream = NGX_HTTP_V3XY_UPSTREAM_PRIMARY;

    br = ngx_http_v3xy_breaker(b);

    switch (v3xy_breaker_route(br, ngx_current_msec, b->fails, b->cooldown)) {

    case V3XY_ROUTE_BACKUP:
        ctx->failover = NGX_HTTP_V3XY_FAILOVER_BREAKER;

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "v3xy: breaker open: request goes straight to the "
                      "backup %V", ngx_http_v3xy_backup_url(r, b));

        return ngx_http_v3xy_failover_jump(r, b);

    case V3XY_ROUTE_PROBE:
        ctx->probe = 1;

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "v3xy: breaker %V: open -> half-open", &b->label);

        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "v3xy: breaker half-open: this request probes the "
                      "primary");
        break;

    default: /* V3XY_ROUTE_PRIMARY */
        break;
    }

    return ngx_http_v3xy_failover_proceed(r);
}


/*
 * The backup's location: the first time, the primary has failed and the
 * request goes on to the backup, unless it may not be sent again; the
 * second time, the backup has failed too.
 */

static ngx_int_t
ngx_http_v3xy_failover_backup(ngx_http_request_t *r,
    ngx_http_v3xy_backup_t *b, ngx_http_v3xy_ctx_t *ctx)
{
    long             left;
    ngx_int_t        rc;
    v3xy_breaker_t  *br;

    /* what the primary's upstream was doing is over */

    r->connection->log->action = NULL;

    if (ctx->upstream == NGX_HTTP_V3XY_UPSTREAM_BACKUP) {

        if (ctx->backup_failed) {
            return NGX_DECLINED;   /* a later internal redirect */
        }

        ctx->backup_failed = 1;

        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "v3xy: upstream_unavailable: the backup %V failed too",
                      ngx_http_v3xy_backup_url(r, b));

        /* an open breaker knows when the primary is tried again */

        br = ngx_http_v3xy_breaker(b);
        left = (long) (br->until - ngx_current_msec);

        if (br->state == V3XY_BREAKER_OPEN && left > 0) {
            ctx->retry_after = (left + 999) / 1000;
        }

        return ngx_http_v3xy_refuse(r, NGX_HTTP_V3XY_ERR_UPSTREAM_UNAVAILABLE);
    }

    if (ctx->upstream != NGX_HTTP_V3XY_UPSTREAM_PRIMARY) {
        /*
         * An error page of the primary's location that no upstream caused
         * (limit_req's 503, say): not a failover.
         */
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    if (ctx->failover != NGX_HTTP_V3XY_FAILOVER_BREAKER) {
        rc = ngx_http_v3xy_failover_judge(r, b, ctx);

        if (rc != NGX_OK) {
            return rc;
        }
    }

    ctx->upstream = NGX_HTTP_V3XY_UPSTREAM_BACKUP;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "v3xy: failover: sent to the backup %V (%V)",
                   ngx_http_v3xy_backup_url(r, b),
                   &ngx_http_v3xy_reasons[ctx->failover]);

    return ngx_http_v3xy_failover_proceed(r);
}


/*
 * The primary failed: why, when no header said it; the breaker told; and
 * whether the request may be sent again (NGX_OK) or is refused.
 */

static ngx_int_t
ngx_http_v3xy_failover_judge(ngx_http_request_t *r,
    ngx_http_v3xy_backup_t *b, ngx_http_v3xy_ctx_t *ctx)
{
    ngx_int_t  rc;

    if (ctx->failover == NGX_HTTP_V3XY_FAILOVER_NONE) {
        rc = ngx_http_v3xy_failover_reason(r, ctx);

        if (rc != NGX_OK) {
            return rc;
        }
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "v3xy: failover: the primary failed (%V)",
                   &ngx_http_v3xy_reasons[ctx->failover]);

    ngx_http_v3xy_breaker_failed(r, b, ctx);

    if (!b->non_idempotent
        && (ctx->failover == NGX_HTTP_V3XY_FAILOVER_TIMEOUT
            || ctx->failover == NGX_HTTP_V3XY_FAILOVER_ERROR)
        && r->upstream->request_sent
        && (r->method & (NGX_HTTP_POST|NGX_HTTP_LOCK|NGX_HTTP_PATCH)))
    {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "v3xy: upstream_unanswered: the primary took the "
                      "%V request and did not answer (%V); not sent to "
                      "the backup, it may have been processed",
                      &r->method_name,
                      &ngx_http_v3xy_reasons[ctx->failover]);

        return ngx_http_v3xy_refuse(r, NGX_HTTP_V3XY_ERR_UPSTREAM_UNANSWERED);
    }

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "v3xy: failover to the backup %V: the primary failed (%V)",
                  ngx_http_v3xy_backup_url(r, b),
                  &ngx_http_v3xy_reasons[ctx->failover]);

    return NGX_OK;
}


/*
 * Both halves: the request goes on to the location's upstream with the
 * error page free again.  nginx allows one per request, and ours must
 * still lead on when the request came through one: another's to the
 * primary's location (error_page 404 = @api, say), or ours to the
 * backup's, whose failure needs the error page once more.
 */

static ngx_int_t
ngx_http_v3xy_failover_proceed(ngx_http_request_t *r)
{
    r->error_page = 0;

    return NGX_DECLINED;
}

/* the backup's URL for a log line: its variables evaluated */

static ngx_str_t *
ngx_http_v3xy_backup_url(ngx_http_request_t *r, ngx_http_v3xy_backup_t *b)
{
    ngx_str_t  *url;

    if (b->url_cv.lengths == NULL) {
        return &b->url;
    }

    url = ngx_palloc(r->pool, sizeof(ngx_str_t));

    if (url == NULL || ngx_http_complex_value(r, &b->url_cv, url) != NGX_OK)
    {
        return &b->url;
    }

    return url;
}


/* straight to the backup, from the primary's access phase */

static ngx_int_t
ngx_http_v3xy_failover_jump(ngx_http_request_t *r, ngx_http_v3xy_backup_t *b)
{
    (void) ngx_http_named_location(r, &b->name);

    ngx_http_finalize_request(r, NGX_DONE);

    return NGX_DONE;
}


/* why the primary's upstream ended, when no header said it */

static ngx_int_t
ngx_http_v3xy_failover_reason(ngx_http_request_t *r,
    ngx_http_v3xy_ctx_t *ctx)
{
    ngx_http_upstream_t        *u;
    ngx_http_upstream_state_t  *st;

    u = r->upstream;

    if (u == NULL) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    st = u->state;

    if (st == NULL || st->connect_time == (ngx_msec_t) -1) {
        /* refused, connect timeout, TLS handshake, no address */
        ctx->failover = NGX_HTTP_V3XY_FAILOVER_CONNECT;

    } else if (st->header_time != (ngx_msec_t) -1
               && (st->status == NGX_HTTP_BAD_GATEWAY
                   || st->status == NGX_HTTP_SERVICE_UNAVAILABLE
                   || st->status == NGX_HTTP_GATEWAY_TIME_OUT))
    {
        /* it answered so, and proxy_intercept_errors took the answer */
        ctx->failover = NGX_HTTP_V3XY_FAILOVER_502
                        + (st->status - NGX_HTTP_BAD_GATEWAY);

    } else if (st->status == NGX_HTTP_GATEWAY_TIME_OUT) {
        ctx->failover = NGX_HTTP_V3XY_FAILOVER_TIMEOUT;

    } else {
        /* connection broken, or a response nginx could not read */
        ctx->failover = NGX_HTTP_V3XY_FAILOVER_ERROR;
    }

    return NGX_OK;
}


static v3xy_breaker_t *
ngx_http_v3xy_breaker(ngx_http_v3xy_backup_t *b)
{
    return (v3xy_breaker_t *) b->zone->data + b->index;
}


/* closed 0, open 1, half-open 2: for the metrics */

ngx_uint_t
ngx_http_v3xy_breaker_state(ngx_http_v3xy_backup_t *b)
{
    return ngx_http_v3xy_breaker(b)->state;
}


/*
 * The breaker's name in the metrics: breaker=NAME, or the backup's URL
 * (made unique with "#N" if two unnamed breakers share a URL), escaped
 * for a label value of Prometheus's text format.
 */

static ngx_int_t
ngx_http_v3xy_breaker_label(ngx_conf_t *cf, ngx_http_v3xy_main_conf_t *vmcf,
    ngx_http_v3xy_backup_t *b)
{
    u_char                   *p;
    ngx_str_t                *src;
    ngx_uint_t                i, same;
    ngx_http_v3xy_backup_t  **bp;

    src = b->breaker.len ? &b->breaker : &b->url;
    bp = vmcf->backups.elts;
    same = 0;

    for (i = 0; i < vmcf->backups.nelts; i++) {
        if (bp[i]->index == b->index) {
            b->label = bp[i]->label;
            return NGX_OK;
        }

        if (b->breaker.len == 0 && bp[i]->breaker.len == 0
            && bp[i]->url.len == b->url.len
            && ngx_strncmp(bp[i]->url.data, b->url.data, b->url.len) == 0)
        {
            same = 1;
        }
    }

    p = ngx_pnalloc(cf->pool, 2 * src->len + 1 + NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    b->label.data = p;

    for (i = 0; i < src->len; i++) {
        if (src->data[i] == '"' || src->data[i] == '\\') {
            *p++ = '\\';
        }

        *p++ = src->data[i];
    }

    if (same) {
        p = ngx_sprintf(p, "#%ui", b->index);
    }

    b->label.len = p - b->label.data;

    return NGX_OK;
}


static void
ngx_http_v3xy_breaker_failed(ngx_http_request_t *r,
    ngx_http_v3xy_backup_t *b, ngx_http_v3xy_ctx_t *ctx)
{
    v3xy_breaker_t  *br;

    br = ngx_http_v3xy_breaker(b);

    if (v3xy_breaker_failure(br, ctx->probe, ngx_current_msec, b->fails,
                             b->cooldown))
    {
        ngx_http_v3xy_count(b->metrics, 0);

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "v3xy: breaker %V: %s -> open", &b->label,
                       ctx->probe ? "half-open" : "closed");

        if (ctx->probe) {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "v3xy: breaker open again: the probe failed; "
                          "requests go to the backup %V for %M ms",
                          ngx_http_v3xy_backup_url(r, b), b->cooldown);

        } else {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "v3xy: breaker open: %ui consecutive failures of "
                          "the primary; requests go to the backup %V for "
                          "%M ms", b->fails, ngx_http_v3xy_backup_url(r, b),
                          b->cooldown);
        }
    }

    ctx->probe = 0;
}


/*
 * A response of the primary or of the backup.  502, 503 and 504 go to the
 * error page (the backup's location, or upstream_unavailable) before any
 * byte is sent; anything else tells the breaker that the primary answers.
 */

static ngx_int_t
ngx_http_v3xy_failover_header_filter(ngx_http_request_t *r)
{
    ngx_uint_t                 status;
    v3xy_breaker_t            *br;
    ngx_http_v3xy_ctx_t       *ctx;
    ngx_http_v3xy_backup_t    *b;
    ngx_http_v3xy_loc_conf_t  *vlcf;

    if (r != r->main || r->upstream == NULL) {
        return ngx_http_next_header_filter(r);
    }

    vlcf = ngx_http_get_module_loc_conf(r, ngx_http_v3xy_module);
    b = vlcf->backup;

    if (b == NULL) {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_v3xy_find_ctx(r);

    if (ctx == NULL || ctx->error != NGX_HTTP_V3XY_ERR_NONE) {
        return ngx_http_next_header_filter(r);
    }

    status = r->headers_out.status;

    /*
     * Only a response that nginx will replace by the error page is
     * dropped: not nginx's own page, sent when error pages are used up
     * (it comes through here too).
     */

    if ((status == NGX_HTTP_BAD_GATEWAY
         || status == NGX_HTTP_SERVICE_UNAVAILABLE
         || status == NGX_HTTP_GATEWAY_TIME_OUT)
        && !r->error_page && r->uri_changes)
    {
        if (ctx->upstream == NGX_HTTP_V3XY_UPSTREAM_PRIMARY
            && ctx->failover == NGX_HTTP_V3XY_FAILOVER_NONE)
        {
            ctx->failover = (status == NGX_HTTP_BAD_GATEWAY)
                            ? NGX_HTTP_V3XY_FAILOVER_502
                            : (status == NGX_HTTP_SERVICE_UNAVAILABLE)
                              ? NGX_HTTP_V3XY_FAILOVER_503
                              : NGX_HTTP_V3XY_FAILOVER_504;
        }

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "v3xy: upstream answered %ui: to the error page",
                       status);

        ngx_http_v3xy_clean_header(r);

        return status;
    }

    if (ctx->upstream != NGX_HTTP_V3XY_UPSTREAM_PRIMARY) {
        return ngx_http_next_header_filter(r);
    }

    br = ngx_http_v3xy_breaker(b);

    /* a cached copy (proxy_cache) is not the primary answering */

    if (r->upstream->peer.connection == NULL) {
        if (ctx->probe) {
            v3xy_breaker_unprobe(br, ngx_current_msec);
            ctx->probe = 0;

            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "v3xy: breaker %V: half-open, the probe given "
                           "up (a cached answer): the next request probes",
                           &b->label);
        }

        return ngx_http_next_header_filter(r);
    }

    if (v3xy_breaker_success(br, ctx->probe)) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "v3xy: breaker %V: half-open -> closed", &b->label);

        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "v3xy: breaker closed: the probe found the primary "
                      "answering again");
    }

    ctx->probe = 0;

    return ngx_http_next_header_filter(r);
}


/* the response's headers dropped, as nginx does for an error page */

static void
ngx_http_v3xy_clean_header(ngx_http_request_t *r)
{
    ngx_memzero(&r->headers_out.status,
                sizeof(ngx_http_headers_out_t)
                    - offsetof(ngx_http_headers_out_t, status));

    r->headers_out.headers.part.nelts = 0;
    r->headers_out.headers.part.next = NULL;
    r->headers_out.headers.last = &r->headers_out.headers.part;

    r->headers_out.trailers.part.nelts = 0;
    r->headers_out.trailers.part.next = NULL;
    r->headers_out.trailers.last = &r->headers_out.trailers.part;

    r->headers_out.content_length_n = -1;
    r->headers_out.last_modified_time = -1;
}


/* $v3xy_upstream, $v3xy_failover */

ngx_str_t *
ngx_http_v3xy_failover_var(ngx_http_request_t *r, ngx_uint_t which)
{
    ngx_http_v3xy_ctx_t  *ctx;

    static ngx_str_t  primary = ngx_string("primary");
    static ngx_str_t  backup = ngx_string("backup");

    ctx = ngx_http_v3xy_find_ctx(r);

    if (ctx == NULL || ctx->upstream == NGX_HTTP_V3XY_UPSTREAM_NONE) {
        return NULL;
    }

    if (which == 0) {
        return (ctx->upstream == NGX_HTTP_V3XY_UPSTREAM_BACKUP)
               ? &backup : &primary;
    }

    if (ctx->failover == NGX_HTTP_V3XY_FAILOVER_NONE) {
        return NULL;
    }

    return &ngx_http_v3xy_reasons[ctx->failover];
}


/*
 * One cache line per v3xy_backup, at most NGX_HTTP_V3XY_BACKUPS_MAX.  A
 * reload starts every breaker closed again (the locations may have moved).
 */

static ngx_int_t
ngx_http_v3xy_breaker_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    size_t            size;
    v3xy_breaker_t   *br;
    ngx_slab_pool_t  *shpool;

    size = sizeof(v3xy_breaker_t) * NGX_HTTP_V3XY_BACKUPS_MAX;

    if (data != NULL) {
        br = data;

    } else {
        shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

        if (shm_zone->shm.exists) {
            br = shpool->data;

        } else {
            br = ngx_slab_alloc(shpool, size);
            if (br == NULL) {
                return NGX_ERROR;
            }

            shpool->data = br;
        }
    }

    ngx_memzero(br, size);

    shm_zone->data = br;

    return NGX_OK;
}


/* the metrics: failovers by reason, each breaker's state and openings */

ngx_int_t
ngx_http_v3xy_failover_metrics(ngx_http_v3xy_mout_t *out,
    ngx_http_v3xy_main_conf_t *vmcf)
{
    u_char                   *p;
    ngx_uint_t                i, j, k, state;
    ngx_atomic_t             *v;
    ngx_http_v3xy_backup_t  **bp;

    if (vmcf->backups.nelts == 0) {
        return NGX_OK;
    }

    v = vmcf->metrics.failover;

    if (ngx_http_v3xy_mfamily(out, "v3xy_failover_total", "counter",
                              "Requests sent to the backup base URL, by "
                              "reason.")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 1; v != NULL && i <= NGX_HTTP_V3XY_FAILOVER_BREAKER; i++) {
        p = ngx_http_v3xy_mreserve(out, 128);
        if (p == NULL) {
            return NGX_ERROR;
        }

        out->b->last = ngx_sprintf(p,
                                   "v3xy_failover_total{reason=\"%V\"} "
                                   "%uA\n", &ngx_http_v3xy_reasons[i], v[i]);
    }

    bp = vmcf->backups.elts;

    for (k = 0; k < 2; k++) {
        if (ngx_http_v3xy_mfamily(out,
                                  k ? "v3xy_breaker_openings_total"
                                    : "v3xy_breaker_state",
                                  k ? "counter" : "gauge",
                                  k ? "Times the breaker opened."
                                    : "The breaker of a backup: closed "
                                      "0, open 1, half-open 2.")
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        for (i = 0; i < vmcf->backups.nelts; i++) {

            /* locations that share a breaker: it once */

            for (j = 0; j < i; j++) {
                if (bp[j]->index == bp[i]->index) {
                    break;
                }
            }

            if (j < i || (k && bp[i]->metrics == NULL)) {
                continue;
            }

            p = ngx_http_v3xy_mreserve(out, 128 + bp[i]->label.len);
            if (p == NULL) {
                return NGX_ERROR;
            }

            if (k) {
                out->b->last = ngx_sprintf(p,
                                           "v3xy_breaker_openings_total"
                                           "{breaker=\"%V\"} %uA\n",
                                           &bp[i]->label, bp[i]->metrics[0]);
                continue;
            }

            state = ngx_http_v3xy_breaker_state(bp[i]);

            out->b->last = ngx_sprintf(p,
                                       "v3xy_breaker_state"
                                       "{breaker=\"%V\"} %ui\n",
                                       &bp[i]->label, state);
        }
    }

    return NGX_OK;
}
