/*
 * ngx_http_v3xy_hold: the API's own 429, honoured fleet-wide
 * (v3xy_upstream_429): what the module, the pipeline and the metrics ask
 * of it.
 */

#ifndef _NGX_HTTP_V3XY_HOLD_H_INCLUDED_
#define _NGX_HTTP_V3XY_HOLD_H_INCLUDED_


#include "ngx_http_v3xy_module.h"


char *ngx_http_v3xy_upstream_429(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_v3xy_hold_merge(ngx_conf_t *cf,
    ngx_http_v3xy_loc_conf_t *prev, ngx_http_v3xy_loc_conf_t *conf);

/* after the merge: the header filter that sees the API's 429s */
ngx_int_t ngx_http_v3xy_hold_init(ngx_conf_t *cf);

/* 1 if the location holds keys: the pipeline makes a context for it */
ngx_uint_t ngx_http_v3xy_hold_applies(ngx_http_v3xy_loc_conf_t *vlcf);

/*
 * The pipeline's step: NGX_OK to go on, NGX_AGAIN while Redis is asked,
 * NGX_DONE once a held key's request is refused (429 rate_limited), or
 * an HTTP status.
 */
ngx_int_t ngx_http_v3xy_hold(ngx_http_request_t *r,
    ngx_http_v3xy_loc_conf_t *vlcf, ngx_http_v3xy_ctx_t *ctx);

/* the metrics: the API's 429s, and the requests held in their stead */
ngx_int_t ngx_http_v3xy_hold_metrics(ngx_http_v3xy_mout_t *out,
    ngx_http_v3xy_main_conf_t *vmcf);


#endif /* _NGX_HTTP_V3XY_HOLD_H_INCLUDED_ */
