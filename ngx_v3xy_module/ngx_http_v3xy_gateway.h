/*
 * ngx_http_v3xy_gateway: developer keys checked against a key store, and
 * session tokens against a session store.
 */

#ifndef _NGX_HTTP_V3XY_GATEWAY_H_INCLUDED_
#define _NGX_HTTP_V3XY_GATEWAY_H_INCLUDED_


#include "ngx_http_v3xy_module.h"

char *ngx_http_v3xy_key_store(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_v3xy_scope(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_v3xy_session_store(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_v3xy_gateway_init(ngx_conf_t *cf);
ngx_int_t ngx_http_v3xy_gateway(ngx_http_request_t *r,
    ngx_http_v3xy_loc_conf_t *vlcf, ngx_http_v3xy_ctx_t *ctx,
    ngx_http_v3xy_headers_t *hs);
ngx_int_t ngx_http_v3xy_session(ngx_http_request_t *r,
    ngx_http_v3xy_loc_conf_t *vlcf, ngx_http_v3xy_ctx_t *ctx,
    ngx_http_v3xy_headers_t *hs);


#endif /* _NGX_HTTP_V3XY_GATEWAY_H_INCLUDED_ */
