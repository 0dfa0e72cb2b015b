/*
 * ngx_http_v3xy_failover: the backup base URL and its circuit breaker
 * (v3xy_backup), what the module, the pipeline, the variables and the
 * metrics ask of it.
 */

#ifndef _NGX_HTTP_V3XY_FAILOVER_H_INCLUDED_
#define _NGX_HTTP_V3XY_FAILOVER_H_INCLUDED_


#include "ngx_http_v3xy_module.h"


/* the v3xy_backup directive; after the merge, its error pages and filter */
char *ngx_http_v3xy_backup(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_v3xy_failover_init(ngx_conf_t *cf);

/* the pipeline's last step, in the primary's location or the backup's */
ngx_int_t ngx_http_v3xy_failover(ngx_http_request_t *r,
    ngx_http_v3xy_loc_conf_t *vlcf, ngx_http_v3xy_ctx_t *ctx);

/* $v3xy_upstream (which 0), $v3xy_failover (which 1); NULL: not found */
ngx_str_t *ngx_http_v3xy_failover_var(ngx_http_request_t *r,
    ngx_uint_t which);

/* closed 0, open 1, half-open 2: for the metrics */
ngx_uint_t ngx_http_v3xy_breaker_state(ngx_http_v3xy_backup_t *b);

/* the metrics: failovers by reason, each breaker's state and openings */
ngx_int_t ngx_http_v3xy_failover_metrics(ngx_http_v3xy_mout_t *out,
    ngx_http_v3xy_main_conf_t *vmcf);


#endif /* _NGX_HTTP_V3XY_FAILOVER_H_INCLUDED_ */
