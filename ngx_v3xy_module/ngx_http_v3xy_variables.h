/*
 * ngx_http_v3xy_variables: the $v3xy_* variables.
 */

#ifndef _NGX_HTTP_V3XY_VARIABLES_H_INCLUDED_
#define _NGX_HTTP_V3XY_VARIABLES_H_INCLUDED_


#include "ngx_http_v3xy_module.h"

ngx_int_t ngx_http_v3xy_add_variables(ngx_conf_t *cf);


#endif /* _NGX_HTTP_V3XY_VARIABLES_H_INCLUDED_ */
