/*
 * ngx_http_v3xy_metrics: counters in shared memory, served in
 * Prometheus's text format.
 *
 * Each capability prints its own metric families (its names, its labels)
 * with these helpers; the handler of v3xy_metrics prints the requests and
 * nginx's own families and calls the capabilities' printers in the order
 * of the module's table (ngx_http_v3xy_module.c).
 */

#ifndef _NGX_HTTP_V3XY_METRICS_H_INCLUDED_
#define _NGX_HTTP_V3XY_METRICS_H_INCLUDED_


#include "ngx_http_v3xy_module.h"


/* the text being made: a chain of buffers */
struct ngx_http_v3xy_mout_s {
    ngx_chain_t               *first;
    ngx_chain_t              **last;
    ngx_buf_t                 *b;
    ngx_pool_t                *pool;
};


char *ngx_http_v3xy_metrics_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_v3xy_metrics_init(ngx_conf_t *cf);
void ngx_http_v3xy_metrics_init_process(ngx_http_v3xy_main_conf_t *vmcf);

/* Room for n bytes at out->b->last, or NULL. */
u_char *ngx_http_v3xy_mreserve(ngx_http_v3xy_mout_t *out, size_t n);

/* A family's HELP and TYPE lines. */
ngx_int_t ngx_http_v3xy_mfamily(ngx_http_v3xy_mout_t *out, char *name,
    char *type, char *help);

/*
 * A histogram of nb buckets (the last +Inf) and a sum, counted in units of
 * 1/scale second; labels is "" or "a=\"b\"".
 */
ngx_int_t ngx_http_v3xy_mprint_histogram(ngx_http_v3xy_mout_t *out,
    char *name, char *labels, ngx_atomic_t *h, uint64_t *bounds,
    ngx_uint_t nb, ngx_uint_t scale);

/* One value into a histogram of nb buckets with bounds[nb - 1]. */
void ngx_http_v3xy_metrics_histogram(ngx_atomic_t *h, uint64_t *bounds,
    ngx_uint_t nb, uint64_t value);


#endif /* _NGX_HTTP_V3XY_METRICS_H_INCLUDED_ */
