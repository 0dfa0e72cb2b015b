/*
 * ngx_http_v3xy_redis: pipelined Redis connections of a worker, driven by
 * nginx's event loop (hiredis's async API on an ngx_connection_t, level
 * triggered), with nginx timers for connect timeouts and reconnects.
 * Three forms: one Redis (one connection); a Redis Cluster (a connection
 * per master, made on demand, each command routed by its key's slot,
 * MOVED and ASK followed); a primary found through Sentinel (one
 * connection, to whichever server the sentinels name and that says it is
 * the master).
 *
 * Commands are only accepted while a connection is ready (connected,
 * AUTH and SELECT done) or being made: a Cluster's node's, or a worker's
 * first (at its start, after a reload), behind its handshake; callers
 * fall back at once otherwise.  A command's key is its first argument
 * after the command's name (EVALSHA: the first of KEYS).  A reply
 * reaches the caller's handler inside hiredis's callback: the handler
 * must copy what it needs and must not run request phases from there
 * (post an event instead).  A caller whose request goes away cancels its
 * command, and the reply is dropped.
 *
 * This header is what the rest of the module calls; the files behind it
 * are listed in ngx_http_v3xy_redis_internal.h.
 */

#ifndef _NGX_HTTP_V3XY_REDIS_H_INCLUDED_
#define _NGX_HTTP_V3XY_REDIS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <hiredis/hiredis.h>


#define NGX_HTTP_V3XY_REDIS_SINGLE    0
#define NGX_HTTP_V3XY_REDIS_CLUSTER   1
#define NGX_HTTP_V3XY_REDIS_SENTINEL  2


/* an address of cluster= or sentinel= */
typedef struct {
    ngx_str_t                  addr;       /* host:port, numeric */
    ngx_str_t                  host;       /* NUL-terminated */
    int                        port;
} ngx_http_v3xy_redis_addr_t;


typedef struct {
    ngx_uint_t                 mode;
    ngx_array_t               *seeds;      /* cluster=, sentinel= */
    ngx_str_t                  master;     /* sentinel's master=NAME */
    ngx_str_t                  addr;       /* as configured, for logs */
    ngx_str_t                  host;       /* numeric address */
    int                        port;
    ngx_str_t                  unix_path;  /* or a unix socket */
    ngx_uint_t                 db;
    ngx_str_t                  password;   /* from password_file, secret */
    ngx_str_t                  sentinel_password;  /* the sentinels' */
    ngx_msec_t                 connect_timeout;
    ngx_msec_t                 timeout;
    ngx_msec_t                 sentinel_poll;
} ngx_http_v3xy_redis_conf_t;


typedef struct {
    ngx_str_t                  text;
    u_char                     sha1[40];
} ngx_http_v3xy_redis_script_t;


/* reply is NULL when the command failed (connection lost) */
typedef void (*ngx_http_v3xy_redis_done_pt)(void *data, redisReply *reply);

typedef struct ngx_http_v3xy_redis_cmd_s  ngx_http_v3xy_redis_cmd_t;


char *ngx_http_v3xy_redis_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_v3xy_redis_script_init(ngx_http_v3xy_redis_script_t *s);

ngx_int_t ngx_http_v3xy_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_v3xy_redis_conf_t *rcf);
void ngx_http_v3xy_redis_exit_process(ngx_cycle_t *cycle);

ngx_uint_t ngx_http_v3xy_redis_ready(void);
ngx_uint_t ngx_http_v3xy_redis_outage(void);

ngx_http_v3xy_redis_cmd_t *ngx_http_v3xy_redis_eval(
    ngx_http_v3xy_redis_script_t *script, ngx_uint_t nkeys,
    ngx_str_t *args, ngx_uint_t nargs, ngx_http_v3xy_redis_done_pt done,
    void *data);
ngx_http_v3xy_redis_cmd_t *ngx_http_v3xy_redis_eval_at(void *to,
    ngx_http_v3xy_redis_script_t *script, ngx_uint_t nkeys,
    ngx_str_t *args, ngx_uint_t nargs, ngx_http_v3xy_redis_done_pt done,
    void *data);
void *ngx_http_v3xy_redis_key_node(ngx_str_t *key);
ngx_http_v3xy_redis_cmd_t *ngx_http_v3xy_redis_command(ngx_str_t *args,
    ngx_uint_t nargs, ngx_http_v3xy_redis_done_pt done, void *data);
void ngx_http_v3xy_redis_cancel(ngx_http_v3xy_redis_cmd_t *cmd);
void ngx_http_v3xy_redis_del(ngx_str_t *key);
void ngx_http_v3xy_redis_error(ngx_log_t *log, redisReply *reply);
void ngx_http_v3xy_redis_timed_out(ngx_http_v3xy_redis_cmd_t *cmd,
    ngx_log_t *log);
ngx_uint_t ngx_http_v3xy_redis_cluster(void);

/* the metrics: this worker's state, a round trip, the clock of those */
struct ngx_http_v3xy_mout_s;
struct ngx_http_v3xy_main_conf_s;

ngx_int_t ngx_http_v3xy_redis_metrics(struct ngx_http_v3xy_mout_s *out,
    struct ngx_http_v3xy_main_conf_s *vmcf);
void ngx_http_v3xy_metrics_redis_up(ngx_uint_t up);
void ngx_http_v3xy_metrics_redis_rtt(uint64_t us);
uint64_t ngx_http_v3xy_metrics_clock(void);


#endif /* _NGX_HTTP_V3XY_REDIS_H_INCLUDED_ */
