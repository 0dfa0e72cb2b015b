/*
 * ngx_http_v3xy_pipeline: the phase handlers that take a request through
 * the module.
 */

#ifndef _NGX_HTTP_V3XY_PIPELINE_H_INCLUDED_
#define _NGX_HTTP_V3XY_PIPELINE_H_INCLUDED_


#include "ngx_http_v3xy_module.h"

ngx_int_t ngx_http_v3xy_access_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_v3xy_enter_handler(ngx_http_request_t *r);


#endif /* _NGX_HTTP_V3XY_PIPELINE_H_INCLUDED_ */
