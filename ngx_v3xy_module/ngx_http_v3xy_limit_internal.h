/*
 * ngx_http_v3xy_limit_internal: what the files of the limits share.
 *
 *   ngx_http_v3xy_limit_conf.c      directives, zones, merge, metrics
 *   ngx_http_v3xy_limit.c           the decision and its verdict
 *   ngx_http_v3xy_limit_redis.c     decisions batched into Redis calls
 *   ngx_http_v3xy_limit_fallback.c  v3xy_limit_fail, the local store
 *   ngx_http_v3xy_limit_header.c    RateLimit headers, the replay release
 */

#ifndef _NGX_HTTP_V3XY_LIMIT_INTERNAL_H_INCLUDED_
#define _NGX_HTTP_V3XY_LIMIT_INTERNAL_H_INCLUDED_


#include "ngx_http_v3xy_module.h"
#include "ngx_http_v3xy_shm.h"


#define NGX_HTTP_V3XY_LIMIT_WAITING  1
#define NGX_HTTP_V3XY_LIMIT_REPLIED  2
#define NGX_HTTP_V3XY_LIMIT_FAILED   3
#define NGX_HTTP_V3XY_LIMIT_FULL     4

/* longer keys are replaced by their SHA-256 in hex */
#define NGX_HTTP_V3XY_LIMIT_KEY_MAX  128


typedef struct ngx_http_v3xy_limit_batch_s  ngx_http_v3xy_limit_batch_t;

/* where a part of a decision went: a batch and its place there */
typedef struct {
    ngx_http_v3xy_limit_batch_t *batch;      /* NULL: replied */
    ngx_uint_t                   index;
} ngx_http_v3xy_limit_ref_t;

struct ngx_http_v3xy_limit_ctx_s {
    ngx_http_request_t          *request;
    ngx_queue_t                  queue;      /* waiting for the batch */
    ngx_http_v3xy_limit_ref_t   *refs;       /* or sent in these (n max) */
    ngx_uint_t                   nrefs;
    ngx_uint_t                   waiting;    /* parts not replied yet */
    ngx_uint_t                   failed;     /* a part failed */
    ngx_event_t                  ev;         /* reply timeout and resume */
    ngx_uint_t                   state;
    ngx_uint_t                   admitted;
    ngx_uint_t                   n;
    ngx_http_v3xy_shm_item_t    *items;      /* zone, key, verdict */
    ngx_http_v3xy_zone_t       **zones;
    ngx_http_v3xy_zone_rate_t  **rates;      /* the rate each zone applies */
    ngx_str_t                   *keys;       /* v3xy:{zone:key} */
    void                        *lcf;        /* the location deciding */
    ngx_http_v3xy_limit_ctx_t   *prev;       /* an earlier location's */
    unsigned                     queued:1;
    unsigned                     judged:1;
};


/* the decision: Redis's reply or the local store's verdicts are in */
ngx_int_t ngx_http_v3xy_limit_verdict(ngx_http_request_t *r,
    ngx_http_v3xy_ctx_t *ctx);

/* Redis: the decision queued for the end of the event-loop pass */
ngx_int_t ngx_http_v3xy_limit_redis_init(ngx_conf_t *cf);
ngx_int_t ngx_http_v3xy_limit_redis(ngx_http_request_t *r,
    ngx_http_v3xy_limit_ctx_t *lctx);

/* Redis failed: v3xy_limit_fail; or no Redis: shared memory */
ngx_int_t ngx_http_v3xy_limit_fallback(ngx_http_request_t *r,
    ngx_http_v3xy_loc_conf_t *vlcf, ngx_http_v3xy_ctx_t *ctx);
ngx_int_t ngx_http_v3xy_limit_local(ngx_http_request_t *r,
    ngx_http_v3xy_ctx_t *ctx);

/* the header filter and the replay guard's log phase */
ngx_int_t ngx_http_v3xy_limit_header_init(ngx_conf_t *cf);


#endif /* _NGX_HTTP_V3XY_LIMIT_INTERNAL_H_INCLUDED_ */
