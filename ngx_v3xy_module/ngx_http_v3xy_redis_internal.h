/*
 * ngx_http_v3xy_redis_internal: what the Redis files share, and no one
 * else (the rest of the module includes ngx_http_v3xy_redis.h only).
 *
 *   ngx_http_v3xy_redis_conf.c      the v3xy_redis directive
 *   ngx_http_v3xy_redis_node.c      a worker's nodes: connect, handshake,
 *                                   outages, reconnects with backoff,
 *                                   errors of replies
 *   ngx_http_v3xy_redis.c           commands: scripts, replies, timeouts
 *   ngx_http_v3xy_redis_topology.c  Cluster (the slot map, MOVED, ASK)
 *                                   and Sentinel (the master, ROLE,
 *                                   +switch-master)
 *   ngx_http_v3xy_redis_adapter.c   hiredis's async API on nginx's events
 *
 * The state of the worker's Redis is one structure,
 * ngx_http_v3xy_redis, made at the worker's start and gone at its exit.
 */

#ifndef _NGX_HTTP_V3XY_REDIS_INTERNAL_H_INCLUDED_
#define _NGX_HTTP_V3XY_REDIS_INTERNAL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <hiredis/async.h>

#include "ngx_http_v3xy_redis.h"
#include "v3xy_cluster.h"


#define NGX_HTTP_V3XY_REDIS_DOWN        0
#define NGX_HTTP_V3XY_REDIS_CONNECTING  1
#define NGX_HTTP_V3XY_REDIS_READY       2

#define NGX_HTTP_V3XY_REDIS_BACKOFF_MIN  100
#define NGX_HTTP_V3XY_REDIS_BACKOFF_MAX  2000

/* consecutive command timeouts after which the connection is dropped */
#define NGX_HTTP_V3XY_REDIS_MAX_TIMEOUTS  3

/* MOVED and ASK followed for one command */
#define NGX_HTTP_V3XY_REDIS_MAX_REDIRECTS  5

/* the slot map or the master asked for again at most this often */
#define NGX_HTTP_V3XY_REDIS_REFRESH_MIN  100

/*
 * The sentinels asked for the master this often when nothing happens (the
 * default of sentinel_poll=), and at most this far apart after failures
 */
#define NGX_HTTP_V3XY_REDIS_SENTINEL_POLL  1000

/* the kind of a node */
#define NGX_HTTP_V3XY_REDIS_KIND_DATA      0
#define NGX_HTTP_V3XY_REDIS_KIND_SENTINEL  1
#define NGX_HTTP_V3XY_REDIS_KIND_EVENTS    2  /* a sentinel, subscribed */


typedef struct ngx_http_v3xy_redis_node_s  ngx_http_v3xy_redis_node_t;

struct ngx_http_v3xy_redis_node_s {
    ngx_str_t                      addr;      /* for logs */
    u_char                         host[NGX_SOCKADDR_STRLEN + 1];
    int                            port;
    ngx_uint_t                     kind;
    redisAsyncContext             *ac;
    ngx_connection_t              *conn;
    ngx_event_t                    timer;     /* connect timeout, backoff */
    ngx_uint_t                     state;
    ngx_uint_t                     handshake; /* replies still awaited */
    ngx_uint_t                     timeouts;
    ngx_msec_t                     backoff;
    ngx_http_v3xy_redis_node_t    *next;
    unsigned                       logged:1;  /* outage already logged */
    unsigned                       was_ready:1;  /* for the reconnects */
    unsigned                       tried:1;   /* a first connect ended */
    unsigned                       eager:1;   /* commands while connecting */
    unsigned                       role:1;    /* ROLE in the handshake */
    unsigned                       lied:1;    /* a sentinel that named a
                                                 replica, logged */
};


struct ngx_http_v3xy_redis_cmd_s {
    ngx_http_v3xy_redis_done_pt    done;     /* NULL: cancelled */
    void                          *data;
    ngx_http_v3xy_redis_script_t  *script;   /* NULL: a plain command */
    ngx_uint_t                     evalsha;  /* EVALSHA sent, not EVAL */
    ngx_http_v3xy_redis_node_t    *node;     /* sent there */
    ngx_http_v3xy_redis_node_t    *ask;      /* ASK: send there, once */
    ngx_http_v3xy_redis_node_t    *to;       /* this node, whatever the
                                                slot (cluster) */
    ngx_uint_t                     slot;
    ngx_uint_t                     redirects;
    int                            argc;
    const char                   **argv;
    size_t                        *argvlen;
    uint64_t                       sent;     /* us, for the metrics */
};


typedef struct {
    ngx_http_v3xy_redis_conf_t    *conf;
    ngx_log_t                     *log;
    ngx_pool_t                    *pool;     /* nodes, the slot table */
    ngx_http_v3xy_redis_node_t    *nodes;    /* every node known */
    ngx_http_v3xy_redis_node_t    *master;   /* single, sentinel */

    /* sentinel: named, not yet proven the master by ROLE; who named it */
    ngx_http_v3xy_redis_node_t    *candidate;
    ngx_http_v3xy_redis_node_t    *named_by;

    /* sentinel: subscribed to +switch-master on the sentinel asked */
    ngx_http_v3xy_redis_node_t    *events;

    /* cluster: the owner of each slot, the map being read */
    ngx_http_v3xy_redis_node_t   **slots;
    v3xy_cluster_map_t            *map;
    ngx_uint_t                     map_known;

    /* cluster: the slot map; sentinel: the master's address */
    ngx_event_t                    refresh;
    ngx_http_v3xy_redis_node_t    *asked;    /* the request under way */
    ngx_msec_t                     refreshed;
    ngx_msec_t                     refresh_backoff;
    ngx_uint_t                     next_seed;
    ngx_http_v3xy_redis_node_t   **seeds;
    ngx_uint_t                     nseeds;
    unsigned                       wanted:1;
    unsigned                       master_logged:1;

    ngx_uint_t                     outage;   /* number of outages */
    time_t                         error_logged;

    /* a script call in RESP, before hiredis copies it to its buffer */
    u_char                        *resp;
    size_t                         resp_size;
} ngx_http_v3xy_redis_t;


extern ngx_http_v3xy_redis_t  ngx_http_v3xy_redis;


/* ngx_http_v3xy_redis_node.c */
ngx_http_v3xy_redis_node_t *ngx_http_v3xy_redis_node(u_char *host,
    size_t len, int port, ngx_uint_t kind);
ngx_int_t ngx_http_v3xy_redis_numeric(u_char *host, size_t len);
void ngx_http_v3xy_redis_connect(ngx_http_v3xy_redis_node_t *node);
void ngx_http_v3xy_redis_close(ngx_http_v3xy_redis_node_t *node);
void ngx_http_v3xy_redis_down(ngx_http_v3xy_redis_node_t *node,
    const char *reason);
void ngx_http_v3xy_redis_trouble(ngx_http_v3xy_redis_node_t *node,
    const char *reason);
void ngx_http_v3xy_redis_fine(ngx_http_v3xy_redis_node_t *node);
void ngx_http_v3xy_redis_gauge(void);
ngx_int_t ngx_http_v3xy_redis_usable(ngx_http_v3xy_redis_node_t *node);

/* ngx_http_v3xy_redis_topology.c */
void ngx_http_v3xy_redis_refresh_soon(void);
void ngx_http_v3xy_redis_refresh_handler(ngx_event_t *ev);
ngx_int_t ngx_http_v3xy_redis_redirect(ngx_http_v3xy_redis_cmd_t *cmd,
    redisReply *reply);
void ngx_http_v3xy_redis_not_master(ngx_http_v3xy_redis_node_t *node,
    redisReply *reply);
void ngx_http_v3xy_redis_promote(ngx_http_v3xy_redis_node_t *node);
void ngx_http_v3xy_redis_switch_master(redisAsyncContext *ac, void *r,
    void *privdata);

/* ngx_http_v3xy_redis_adapter.c */
ngx_int_t ngx_http_v3xy_redis_attach(ngx_http_v3xy_redis_node_t *node,
    ngx_log_t *log);


#endif /* _NGX_HTTP_V3XY_REDIS_INTERNAL_H_INCLUDED_ */
