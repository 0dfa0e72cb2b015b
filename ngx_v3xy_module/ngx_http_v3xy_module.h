/*
 * ngx_http_v3xy_module: what the glue files share.
 *
 *   ngx_http_v3xy_module.c    module, directives, configuration
 *   ngx_http_v3xy_pipeline.c  the access-phase pipeline: a request's way
 *   ngx_http_v3xy_key.c       the sidecar's key: file, memory, injection
 *   ngx_http_v3xy_error.c     every JSON refusal, one table of reasons
 *   ngx_http_v3xy_variables.c $v3xy_* variables
 */

#ifndef _NGX_HTTP_V3XY_MODULE_H_INCLUDED_
#define _NGX_HTTP_V3XY_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


#define NGX_HTTP_V3XY_BROWSER_REJECT  0
#define NGX_HTTP_V3XY_BROWSER_ALLOW   1


/* indexes into the table of refusals in ngx_http_v3xy_error.c */
typedef enum {
    NGX_HTTP_V3XY_ERR_NONE = 0,
    NGX_HTTP_V3XY_ERR_API_KEY_ORIGIN,
    NGX_HTTP_V3XY_ERR_LAST
} ngx_http_v3xy_err_e;


typedef struct {
    ngx_str_t                  key;        /* the secret; never logged */
    ngx_str_t                  key_id;     /* its fingerprint */
} ngx_http_v3xy_key_t;


typedef struct {
    ngx_http_v3xy_key_t       *api_key;    /* v3xy_api_key_file, or NULL */
    ngx_uint_t                 browser;    /* v3xy_browser */
} ngx_http_v3xy_loc_conf_t;


typedef struct {
    ngx_http_v3xy_err_e        error;      /* the refusal, if any */
} ngx_http_v3xy_ctx_t;


/* what one pass over the request headers found */
typedef struct {
    ngx_table_elt_t           *browser_mark;  /* the first browser mark */
    ngx_uint_t                 key_headers;   /* X-V3XY-API-Key headers */
} ngx_http_v3xy_headers_t;


ngx_int_t ngx_http_v3xy_access_handler(ngx_http_request_t *r);

ngx_http_v3xy_ctx_t *ngx_http_v3xy_get_ctx(ngx_http_request_t *r);

ngx_int_t ngx_http_v3xy_refuse(ngx_http_request_t *r,
    ngx_http_v3xy_err_e err);
ngx_str_t *ngx_http_v3xy_error_code(ngx_http_v3xy_err_e err);

char *ngx_http_v3xy_api_key_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
void ngx_http_v3xy_scan_headers(ngx_http_request_t *r,
    ngx_http_v3xy_headers_t *hs);
ngx_int_t ngx_http_v3xy_inject_key(ngx_http_request_t *r,
    ngx_http_v3xy_key_t *key, ngx_http_v3xy_headers_t *hs);
ngx_int_t ngx_http_v3xy_key_init(ngx_conf_t *cf);

ngx_int_t ngx_http_v3xy_add_variables(ngx_conf_t *cf);


extern ngx_module_t  ngx_http_v3xy_module;


#endif /* _NGX_HTTP_V3XY_MODULE_H_INCLUDED_ */
