/*
 * ngx_http_v3xy_webhook: inbound webhook signatures.
 */

#ifndef _NGX_HTTP_V3XY_WEBHOOK_H_INCLUDED_
#define _NGX_HTTP_V3XY_WEBHOOK_H_INCLUDED_


#include "ngx_http_v3xy_module.h"

char *ngx_http_v3xy_webhook_secret_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_v3xy_webhook_merge(ngx_conf_t *cf,
    ngx_http_v3xy_loc_conf_t *conf);
ngx_int_t ngx_http_v3xy_webhook(ngx_http_request_t *r,
    ngx_http_v3xy_loc_conf_t *vlcf, ngx_http_v3xy_ctx_t *ctx,
    ngx_http_v3xy_headers_t *hs);
ngx_int_t ngx_http_v3xy_webhook_metrics(ngx_http_v3xy_mout_t *out,
    ngx_http_v3xy_main_conf_t *vmcf);


#endif /* _NGX_HTTP_V3XY_WEBHOOK_H_INCLUDED_ */
