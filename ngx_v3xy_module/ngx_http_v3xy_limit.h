/*
 * ngx_http_v3xy_limit: rate limits and the webhook replay guard: zones,
 * decisions (in Redis or in shared memory), headers.
 */

#ifndef _NGX_HTTP_V3XY_LIMIT_H_INCLUDED_
#define _NGX_HTTP_V3XY_LIMIT_H_INCLUDED_


#include "ngx_http_v3xy_module.h"

char *ngx_http_v3xy_limit_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_v3xy_limit_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_v3xy_limit_dry_run(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_v3xy_limit_init(ngx_conf_t *cf);
char *ngx_http_v3xy_limit_merge(ngx_conf_t *cf,
    ngx_http_v3xy_loc_conf_t *conf);
/* the replay guard's zone of a window (ms): found or made */
ngx_http_v3xy_zone_t *ngx_http_v3xy_limit_replay_zone(ngx_conf_t *cf,
    uint64_t window_ms);
ngx_http_v3xy_zone_t *ngx_http_v3xy_zone_new(ngx_conf_t *cf,
    ngx_str_t *name, v3xy_rate_t *rate, ngx_array_t *tiers, ngx_str_t *key,
    size_t size);

ngx_int_t ngx_http_v3xy_limit(ngx_http_request_t *r,
    ngx_http_v3xy_loc_conf_t *vlcf, ngx_http_v3xy_ctx_t *ctx);
/* the tier of the key in use ($v3xy_tier, the zones' rates), or NULL */
ngx_str_t *ngx_http_v3xy_tier(ngx_http_request_t *r,
    ngx_http_v3xy_ctx_t *ctx);

ngx_int_t ngx_http_v3xy_limit_metrics(ngx_http_v3xy_mout_t *out,
    ngx_http_v3xy_main_conf_t *vmcf);


/* v3xy_limit_fail's values, NGX_HTTP_V3XY_FAIL_* */
extern ngx_conf_enum_t  ngx_http_v3xy_limit_fail_modes[];

/*
 * $v3xy_limit_status, as nginx's $limit_req_status: what the limits said
 * (the worst of the request's locations); 0: no limit decided
 */
#define NGX_HTTP_V3XY_LIMIT_PASSED            1
#define NGX_HTTP_V3XY_LIMIT_REJECTED_DRY_RUN  2
#define NGX_HTTP_V3XY_LIMIT_REJECTED          3

extern ngx_str_t  ngx_http_v3xy_limit_status_names[];


#endif /* _NGX_HTTP_V3XY_LIMIT_H_INCLUDED_ */
