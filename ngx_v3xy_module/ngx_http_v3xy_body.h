/*
 * ngx_http_v3xy_body: the request body, read without blocking, and the
 * canonical recipient of its "email".
 */

#ifndef _NGX_HTTP_V3XY_BODY_H_INCLUDED_
#define _NGX_HTTP_V3XY_BODY_H_INCLUDED_


#include "ngx_http_v3xy_module.h"

ngx_int_t ngx_http_v3xy_body_read(ngx_http_request_t *r,
    ngx_http_v3xy_ctx_t *ctx);
ngx_int_t ngx_http_v3xy_body_email(ngx_http_request_t *r,
    ngx_http_v3xy_ctx_t *ctx);


#endif /* _NGX_HTTP_V3XY_BODY_H_INCLUDED_ */
