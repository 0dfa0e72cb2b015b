/*
 * ngx_http_v3xy_redis: hiredis's async API on nginx's event loop.
 *
 * The adapter attaches the hiredis socket to an ngx_connection_t and maps
 * hiredis's addRead/delRead/addWrite/delWrite/cleanup onto level-triggered
 * nginx events: a write wanted in one pass of the event loop happens in
 * the next, so the commands of every request of that pass go out in one
 * write (pipelining without a queue of our own).  Connect timeouts and
 * reconnects with backoff are nginx timers; hiredis 0.14 has no timer hook
 * and none is needed.  Nothing here blocks: every address is numeric
 * (resolved at configuration time, or checked to be numeric when a Cluster
 * or the sentinels name it), every connect is non-blocking.
 *
 * A node is one server and this worker's connection to it.  The handshake
 * (AUTH, SELECT, ROLE where the master must be checked, else PING) is
 * written right after the connect, before any command, so that a
 * Cluster's node takes commands while its connection is being made.
 *
 * Cluster: the slot map comes from CLUSTER SLOTS of any node (the seeds
 * first), again after a MOVED, a node's failure or CLUSTERDOWN, at most
 * every 100 ms.  A MOVED also points its slot at the new owner at once;
 * an ASK sends ASKING and the command to the node named, once.
 *
 * Sentinel: the master is what SENTINEL get-master-addr-by-name says, asked
 * at start, every sentinel_poll, and at once when the master's connection
 * is lost, a command finds it read-only, or the sentinel publishes
 * +switch-master (a subscribed connection of its own).  The sentinels are
 * asked in the order given, the one that answered again.  A server named
 * becomes the master only after ROLE says "master", so nothing is written
 * to a replica; until then the master in use stays.
 */

#include "ngx_http_v3xy_module.h"
#include "ngx_http_v3xy_key.h"
#include "ngx_http_v3xy_metrics.h"
#include "ngx_http_v3xy_redis.h"
#include "v3xy_cluster.h"
#include "v3xy_resp.h"

#include <hiredis/async.h>
#include <openssl/sha.h>


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


static ngx_int_t ngx_http_v3xy_redis_parse_seeds(ngx_conf_t *cf,
    ngx_http_v3xy_redis_conf_t *rcf, ngx_str_t *list);
static ngx_http_v3xy_redis_node_t *ngx_http_v3xy_redis_node(u_char *host,
    size_t len, int port, ngx_uint_t kind);
static ngx_int_t ngx_http_v3xy_redis_numeric(u_char *host, size_t len);
static void ngx_http_v3xy_redis_connect(ngx_http_v3xy_redis_node_t *node);
static void ngx_http_v3xy_redis_close(ngx_http_v3xy_redis_node_t *node);
static void ngx_http_v3xy_redis_down(ngx_http_v3xy_redis_node_t *node,
    const char *reason);
static void ngx_http_v3xy_redis_trouble(ngx_http_v3xy_redis_node_t *node,
    const char *reason);
static void ngx_http_v3xy_redis_fine(ngx_http_v3xy_redis_node_t *node);
static void ngx_http_v3xy_redis_gauge(void);
static ngx_uint_t ngx_http_v3xy_redis_first(ngx_http_v3xy_redis_node_t *node);
static void ngx_http_v3xy_redis_timer_handler(ngx_event_t *ev);
static void ngx_http_v3xy_redis_on_connect(const redisAsyncContext *ac,
    int status);
static void ngx_http_v3xy_redis_on_disconnect(const redisAsyncContext *ac,
    int status);
static void ngx_http_v3xy_redis_handshake_done(redisAsyncContext *ac,
    void *r, void *privdata);
static void ngx_http_v3xy_redis_refused(ngx_http_v3xy_redis_node_t *node,
    redisReply *reply);
static void ngx_http_v3xy_redis_not_master(ngx_http_v3xy_redis_node_t *node,
    redisReply *reply);
static void ngx_http_v3xy_redis_promote(ngx_http_v3xy_redis_node_t *node);
static ngx_int_t ngx_http_v3xy_redis_usable(
    ngx_http_v3xy_redis_node_t *node);
static void ngx_http_v3xy_redis_reply(redisAsyncContext *ac, void *r,
    void *privdata);
static ngx_int_t ngx_http_v3xy_redis_redirect(ngx_http_v3xy_redis_cmd_t *cmd,
    redisReply *reply);
static ngx_int_t ngx_http_v3xy_redis_send(ngx_http_v3xy_redis_cmd_t *cmd);
static ngx_http_v3xy_redis_cmd_t *ngx_http_v3xy_redis_cmd(ngx_uint_t argc,
    size_t extra, ngx_str_t *key);

static void ngx_http_v3xy_redis_refresh_soon(void);
static void ngx_http_v3xy_redis_refresh_handler(ngx_event_t *ev);
static void ngx_http_v3xy_redis_refresh_failed(void);
static void ngx_http_v3xy_redis_pass_over(
    ngx_http_v3xy_redis_node_t *sentinel);
static void ngx_http_v3xy_redis_refresh_done(ngx_msec_t next);
static void ngx_http_v3xy_redis_slots_done(redisAsyncContext *ac, void *r,
    void *privdata);
static ngx_int_t ngx_http_v3xy_redis_slots_apply(
    ngx_http_v3xy_redis_node_t *from, redisReply *reply);
static void ngx_http_v3xy_redis_master_done(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_http_v3xy_redis_subscribe(
    ngx_http_v3xy_redis_node_t *sentinel);
static void ngx_http_v3xy_redis_switch_master(redisAsyncContext *ac,
    void *r, void *privdata);

static ngx_int_t ngx_http_v3xy_redis_attach(
    ngx_http_v3xy_redis_node_t *node);
static void ngx_http_v3xy_redis_event_handler(ngx_event_t *ev);
static void ngx_http_v3xy_redis_add_read(void *privdata);
static void ngx_http_v3xy_redis_del_read(void *privdata);
static void ngx_http_v3xy_redis_add_write(void *privdata);
static void ngx_http_v3xy_redis_del_write(void *privdata);
static void ngx_http_v3xy_redis_cleanup(void *privdata);


static ngx_http_v3xy_redis_t  ngx_http_v3xy_redis;


/* configuration */

char *
ngx_http_v3xy_redis_parse(ngx_conf_t *cf, ngx_http_v3xy_redis_conf_t *rcf)
{
    u_char     *p;
    ngx_int_t   n;
    ngx_str_t  *value, s, path;
    ngx_url_t   u;
    ngx_uint_t  i;

    value = cf->args->elts;

    rcf->addr = value[1];
    rcf->connect_timeout = 1000;
    rcf->timeout = 100;
    rcf->sentinel_poll = NGX_HTTP_V3XY_REDIS_SENTINEL_POLL;

    if (value[1].len > 8 && ngx_strncmp(value[1].data, "cluster=", 8) == 0) {
        rcf->mode = NGX_HTTP_V3XY_REDIS_CLUSTER;
        s.data = value[1].data + 8;
        s.len = value[1].len - 8;

        if (ngx_http_v3xy_redis_parse_seeds(cf, rcf, &s) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

    } else if (value[1].len > 9
               && ngx_strncmp(value[1].data, "sentinel=", 9) == 0)
    {
        rcf->mode = NGX_HTTP_V3XY_REDIS_SENTINEL;
        s.data = value[1].data + 9;
        s.len = value[1].len - 9;

        if (ngx_http_v3xy_redis_parse_seeds(cf, rcf, &s) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

    } else if (value[1].len > 5
               && ngx_strncmp(value[1].data, "unix:", 5) == 0)
    {
        rcf->unix_path.len = value[1].len - 5;
        rcf->unix_path.data = ngx_pnalloc(cf->pool, rcf->unix_path.len + 1);
        if (rcf->unix_path.data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_cpystrn(rcf->unix_path.data, value[1].data + 5,
                    rcf->unix_path.len + 1);

    } else if (ngx_strlchr(value[1].data, value[1].data + value[1].len, '=')
               != NULL)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "v3xy_redis: the first parameter is where Redis "
                           "is (host:port, unix:path, cluster= or "
                           "sentinel=), not \"%V\"", &value[1]);
        return NGX_CONF_ERROR;

    } else {
        ngx_memzero(&u, sizeof(ngx_url_t));

        u.url = value[1];
        u.default_port = 6379;

        if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "%s in v3xy_redis \"%V\"", u.err, &value[1]);
            return NGX_CONF_ERROR;
        }

        if (u.naddrs == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "v3xy_redis: no address for \"%V\"",
                               &value[1]);
            return NGX_CONF_ERROR;
        }

        /* numeric, so that hiredis's connect never resolves a name */

        p = ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1);
        if (p == NULL) {
            return NGX_CONF_ERROR;
        }

        rcf->host.data = p;
        rcf->host.len = ngx_sock_ntop(u.addrs[0].sockaddr,
                                      u.addrs[0].socklen, p,
                                      NGX_SOCKADDR_STRLEN, 0);
        p[rcf->host.len] = '\0';
        rcf->port = ngx_inet_get_port(u.addrs[0].sockaddr);
    }

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "db=", 3) == 0) {
            n = ngx_atoi(value[i].data + 3, value[i].len - 3);
            if (n == NGX_ERROR) {
                goto invalid;
            }

            if (n != 0 && rcf->mode == NGX_HTTP_V3XY_REDIS_CLUSTER) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "v3xy_redis: a Redis Cluster has "
                                   "database 0 only");
                return NGX_CONF_ERROR;
            }

            rcf->db = n;
            continue;
        }

        if ((ngx_strncmp(value[i].data, "master=", 7) == 0
             || ngx_strncmp(value[i].data, "sentinel_poll=", 14) == 0)
            && rcf->mode != NGX_HTTP_V3XY_REDIS_SENTINEL)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "v3xy_redis: \"%V\" needs sentinel=",
                               &value[i]);
            return NGX_CONF_ERROR;
        }

        if (ngx_strncmp(value[i].data, "master=", 7) == 0
            && value[i].len > 7)
        {
            rcf->master.data = value[i].data + 7;
            rcf->master.len = value[i].len - 7;
            continue;
        }

        if (ngx_strncmp(value[i].data, "connect_timeout=", 16) == 0) {
            s.data = value[i].data + 16;
            s.len = value[i].len - 16;

            rcf->connect_timeout = ngx_parse_time(&s, 0);
            if (rcf->connect_timeout == (ngx_msec_t) NGX_ERROR
                || rcf->connect_timeout == 0)
            {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "sentinel_poll=", 14) == 0) {
            s.data = value[i].data + 14;
            s.len = value[i].len - 14;

            rcf->sentinel_poll = ngx_parse_time(&s, 0);
            if (rcf->sentinel_poll == (ngx_msec_t) NGX_ERROR) {
                goto invalid;
            }

            if (rcf->sentinel_poll < NGX_HTTP_V3XY_REDIS_REFRESH_MIN) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "v3xy_redis: \"%V\": at least %dms",
                                   &value[i],
                                   NGX_HTTP_V3XY_REDIS_REFRESH_MIN);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "timeout=", 8) == 0) {
            s.data = value[i].data + 8;
            s.len = value[i].len - 8;

            rcf->timeout = ngx_parse_time(&s, 0);
            if (rcf->timeout == (ngx_msec_t) NGX_ERROR || rcf->timeout == 0)
            {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "sentinel_password_file=", 23) == 0) {

            if (rcf->mode != NGX_HTTP_V3XY_REDIS_SENTINEL) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "v3xy_redis: sentinel_password_file= "
                                   "needs sentinel=");
                return NGX_CONF_ERROR;
            }

            path.data = value[i].data + 23;
            path.len = value[i].len - 23;

            if (ngx_http_v3xy_secret_file(cf,
                                          "v3xy_redis sentinel_password_file",
                                          &path, &rcf->sentinel_password)
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "password_file=", 14) == 0) {
            path.data = value[i].data + 14;
            path.len = value[i].len - 14;

            if (ngx_http_v3xy_secret_file(cf, "v3xy_redis password_file",
                                          &path, &rcf->password)
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        goto invalid;
    }

    if (rcf->mode == NGX_HTTP_V3XY_REDIS_SENTINEL && rcf->master.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "v3xy_redis sentinel= needs master=NAME");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);
    return NGX_CONF_ERROR;
}


/* HOST:PORT[,HOST:PORT...], each resolved now, to numeric addresses */

static ngx_int_t
ngx_http_v3xy_redis_parse_seeds(ngx_conf_t *cf,
    ngx_http_v3xy_redis_conf_t *rcf, ngx_str_t *list)
{
    u_char                      *p, *last, *comma;
    ngx_url_t                    u;
    ngx_uint_t                   i;
    ngx_http_v3xy_redis_addr_t  *a;

    rcf->seeds = ngx_array_create(cf->pool, 4,
                                  sizeof(ngx_http_v3xy_redis_addr_t));
    if (rcf->seeds == NULL) {
        return NGX_ERROR;
    }

    p = list->data;
    last = list->data + list->len;

    while (p < last) {
        comma = ngx_strlchr(p, last, ',');
        if (comma == NULL) {
            comma = last;
        }

        ngx_memzero(&u, sizeof(ngx_url_t));

        u.url.data = p;
        u.url.len = comma - p;
        u.default_port = (rcf->mode == NGX_HTTP_V3XY_REDIS_SENTINEL)
                         ? 26379 : 6379;

        if (u.url.len == 0 || ngx_parse_url(cf->pool, &u) != NGX_OK
            || u.naddrs == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "v3xy_redis: invalid address \"%V\"%s%s",
                               &u.url, u.err ? ": " : "",
                               u.err ? u.err : "");
            return NGX_ERROR;
        }

        if (u.family == AF_UNIX) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "v3xy_redis: \"%V\": a Cluster's nodes and "
                               "sentinels are reached over TCP, not a unix "
                               "socket", &u.url);
            return NGX_ERROR;
        }

        for (i = 0; i < u.naddrs; i++) {
            a = ngx_array_push(rcf->seeds);
            if (a == NULL) {
                return NGX_ERROR;
            }

            a->host.data = ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1);
            a->addr.data = ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN);
            if (a->host.data == NULL || a->addr.data == NULL) {
                return NGX_ERROR;
            }

            a->host.len = ngx_sock_ntop(u.addrs[i].sockaddr,
                                        u.addrs[i].socklen, a->host.data,
                                        NGX_SOCKADDR_STRLEN, 0);
            a->host.data[a->host.len] = '\0';
            a->port = ngx_inet_get_port(u.addrs[i].sockaddr);
            a->addr.len = ngx_sock_ntop(u.addrs[i].sockaddr,
                                        u.addrs[i].socklen, a->addr.data,
                                        NGX_SOCKADDR_STRLEN, 1);
        }

        p = comma + 1;
    }

    if (rcf->seeds->nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "v3xy_redis: no address in \"%V\"", list);
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_v3xy_redis_script_init(ngx_http_v3xy_redis_script_t *s)
{
    u_char  md[SHA_DIGEST_LENGTH];

    if (SHA1(s->text.data, s->text.len, md) == NULL) {
        return NGX_ERROR;
    }

    ngx_hex_dump(s->sha1, md, SHA_DIGEST_LENGTH);

    return NGX_OK;
}


/* the worker's nodes */

ngx_int_t
ngx_http_v3xy_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_v3xy_redis_conf_t *rcf)
{
    ngx_uint_t                   i;
    ngx_http_v3xy_redis_t       *rd = &ngx_http_v3xy_redis;
    ngx_http_v3xy_redis_addr_t  *a;

    ngx_memzero(rd, sizeof(ngx_http_v3xy_redis_t));

    rd->conf = rcf;
    rd->log = cycle->log;

    rd->pool = ngx_create_pool(4096, cycle->log);
    if (rd->pool == NULL) {
        return NGX_ERROR;
    }

    rd->refresh.handler = ngx_http_v3xy_redis_refresh_handler;
    rd->refresh.data = rd;
    rd->refresh.log = cycle->log;
    rd->refresh.cancelable = 1;
    rd->refresh_backoff = NGX_HTTP_V3XY_REDIS_BACKOFF_MIN;

    if (rcf->mode == NGX_HTTP_V3XY_REDIS_SINGLE) {
        rd->master = ngx_http_v3xy_redis_node(rcf->host.data, rcf->host.len,
                                              rcf->port,
                                              NGX_HTTP_V3XY_REDIS_KIND_DATA);
        if (rd->master == NULL) {
            return NGX_ERROR;
        }

        /* as configured: host:port or unix:PATH */
        rd->master->addr = rcf->addr;

        ngx_http_v3xy_redis_connect(rd->master);

        return NGX_OK;
    }

    rd->nseeds = rcf->seeds->nelts;
    rd->seeds = ngx_palloc(rd->pool, rd->nseeds * sizeof(void *));
    if (rd->seeds == NULL) {
        return NGX_ERROR;
    }

    a = rcf->seeds->elts;

    for (i = 0; i < rd->nseeds; i++) {
        rd->seeds[i] = ngx_http_v3xy_redis_node(a[i].host.data, a[i].host.len,
                                   a[i].port,
                                   rcf->mode == NGX_HTTP_V3XY_REDIS_CLUSTER
                                   ? NGX_HTTP_V3XY_REDIS_KIND_DATA
                                   : NGX_HTTP_V3XY_REDIS_KIND_SENTINEL);
        if (rd->seeds[i] == NULL) {
            return NGX_ERROR;
        }
    }

    if (rcf->mode == NGX_HTTP_V3XY_REDIS_CLUSTER) {
        rd->slots = ngx_pcalloc(rd->pool,
                                V3XY_CLUSTER_SLOTS * sizeof(void *));
        rd->map = ngx_palloc(rd->pool, sizeof(v3xy_cluster_map_t));
        if (rd->slots == NULL || rd->map == NULL) {
            return NGX_ERROR;
        }
    }

    /*
     * A Cluster: each worker starts with another seed, the load is
     * spread.  Sentinels: in the order given, as Redis's guidelines for
     * clients have it.
     */
    rd->next_seed = (rcf->mode == NGX_HTTP_V3XY_REDIS_CLUSTER)
                    ? (ngx_uint_t) ngx_pid % rd->nseeds : 0;

    ngx_http_v3xy_redis_refresh_handler(&rd->refresh);

    return NGX_OK;
}


void
ngx_http_v3xy_redis_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_v3xy_redis_t       *rd = &ngx_http_v3xy_redis;
    ngx_http_v3xy_redis_node_t  *node;

    if (rd->conf == NULL) {
        return;
    }

    if (rd->refresh.timer_set) {
        ngx_del_timer(&rd->refresh);
    }

    rd->conf = NULL;
    rd->master = NULL;
    rd->candidate = NULL;
    rd->named_by = NULL;
    rd->events = NULL;
    rd->map_known = 0;

    for (node = rd->nodes; node; node = node->next) {
        ngx_http_v3xy_redis_close(node);
    }

    ngx_destroy_pool(rd->pool);
    rd->pool = NULL;
    rd->nodes = NULL;

    if (rd->resp) {
        ngx_free(rd->resp);
        rd->resp = NULL;
        rd->resp_size = 0;
    }
}


ngx_uint_t
ngx_http_v3xy_redis_ready(void)
{
    ngx_http_v3xy_redis_t  *rd = &ngx_http_v3xy_redis;

    if (rd->conf == NULL) {
        return 0;
    }

    if (rd->conf->mode == NGX_HTTP_V3XY_REDIS_CLUSTER) {
        return rd->map_known;
    }

    return rd->master
           && (rd->master->state == NGX_HTTP_V3XY_REDIS_READY
               || ngx_http_v3xy_redis_first(rd->master));
}


/*
 * A worker's first connection, being made (a start, a reload): commands
 * wait behind its handshake, for at most their timeout, rather than fall
 * back at once, so that a reload under traffic does not send requests to
 * v3xy_limit_fail.  Not where the server must prove it is the master
 * (Sentinel's ROLE), and not after an outage, when falling back at once
 * is the point.
 */

static ngx_uint_t
ngx_http_v3xy_redis_first(ngx_http_v3xy_redis_node_t *node)
{
    return node->state == NGX_HTTP_V3XY_REDIS_CONNECTING
           && !node->tried && !node->role;
}


ngx_uint_t
ngx_http_v3xy_redis_outage(void)
{
    return ngx_http_v3xy_redis.outage;
}


ngx_uint_t
ngx_http_v3xy_redis_cluster(void)
{
    return ngx_http_v3xy_redis.conf
           && ngx_http_v3xy_redis.conf->mode == NGX_HTTP_V3XY_REDIS_CLUSTER;
}


/* the node of this address, made once; host is numeric */

static ngx_http_v3xy_redis_node_t *
ngx_http_v3xy_redis_node(u_char *host, size_t len, int port, ngx_uint_t kind)
{
    u_char                      *p;
    ngx_http_v3xy_redis_t       *rd = &ngx_http_v3xy_redis;
    ngx_http_v3xy_redis_node_t  *node;

    if (len > NGX_SOCKADDR_STRLEN) {
        return NULL;
    }

    for (node = rd->nodes; node; node = node->next) {
        if (node->port == port && node->kind == kind
            && ngx_strlen(node->host) == len
            && ngx_strncmp(node->host, host, len) == 0)
        {
            return node;
        }
    }

    node = ngx_pcalloc(rd->pool, sizeof(ngx_http_v3xy_redis_node_t));
    if (node == NULL) {
        return NULL;
    }

    p = ngx_pnalloc(rd->pool, len + sizeof("[]:65535") - 1);
    if (p == NULL) {
        return NULL;
    }

    ngx_memcpy(node->host, host, len);
    node->host[len] = '\0';
    node->port = port;
    node->kind = kind;

    node->addr.data = p;

    if (ngx_strlchr(host, host + len, ':')) {
        p = ngx_sprintf(p, "[%*s]:%d", len, host, port);

    } else {
        p = ngx_sprintf(p, "%*s:%d", len, host, port);
    }

    node->addr.len = p - node->addr.data;

    node->backoff = NGX_HTTP_V3XY_REDIS_BACKOFF_MIN;
    node->eager = (rd->conf->mode != NGX_HTTP_V3XY_REDIS_SINGLE)
                  && !(rd->conf->mode == NGX_HTTP_V3XY_REDIS_SENTINEL
                       && kind == NGX_HTTP_V3XY_REDIS_KIND_DATA);
    node->role = (rd->conf->mode == NGX_HTTP_V3XY_REDIS_SENTINEL
                  && kind == NGX_HTTP_V3XY_REDIS_KIND_DATA);

    node->timer.handler = ngx_http_v3xy_redis_timer_handler;
    node->timer.data = node;
    node->timer.log = rd->log;
    node->timer.cancelable = 1;

    node->next = rd->nodes;
    rd->nodes = node;

    return node;
}


/* a host that Redis names: used only if numeric (nothing ever resolves) */

static ngx_int_t
ngx_http_v3xy_redis_numeric(u_char *host, size_t len)
{
#if (NGX_HAVE_INET6)
    u_char  addr6[16];
#endif

    if (len == 0) {
        return NGX_DECLINED;
    }

    if (ngx_inet_addr(host, len) != INADDR_NONE) {
        return NGX_OK;
    }

#if (NGX_HAVE_INET6)
    if (ngx_inet6_addr(host, len, addr6) == NGX_OK) {
        return NGX_OK;
    }
#endif

    return NGX_DECLINED;
}


static void
ngx_http_v3xy_redis_connect(ngx_http_v3xy_redis_node_t *node)
{
    char                         db[NGX_INT_T_LEN + 1];
    redisAsyncContext           *ac;
    ngx_http_v3xy_redis_conf_t  *rcf = ngx_http_v3xy_redis.conf;

    if (node->kind == NGX_HTTP_V3XY_REDIS_KIND_DATA
        && rcf->unix_path.len)
    {
        ac = redisAsyncConnectUnix((char *) rcf->unix_path.data);

    } else {
        ac = redisAsyncConnect((char *) node->host, node->port);
    }

    if (ac == NULL) {
        ngx_http_v3xy_redis_down(node, "out of memory");
        return;
    }

    if (ac->err) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_http_v3xy_redis.log, 0,
                       "v3xy: redis connect: %s", ac->errstr);
        redisAsyncFree(ac);
        ngx_http_v3xy_redis_down(node, "cannot connect");
        return;
    }

    node->ac = ac;
    ac->data = node;

    if (ngx_http_v3xy_redis_attach(node) != NGX_OK) {
        node->ac = NULL;
        redisAsyncFree(ac);
        ngx_http_v3xy_redis_down(node, "no free connection");
        return;
    }

    node->state = NGX_HTTP_V3XY_REDIS_CONNECTING;
    node->timeouts = 0;

    redisAsyncSetConnectCallback(ac, ngx_http_v3xy_redis_on_connect);
    redisAsyncSetDisconnectCallback(ac, ngx_http_v3xy_redis_on_disconnect);

    /*
     * The handshake goes first, written with the connect: commands sent
     * while the connection is being made follow it.  AUTH and SELECT, or
     * a PING (a listener that never answers is down); ROLE where the
     * server must be the master; a sentinel's own AUTH.
     */

    node->handshake = 0;

    if (node->kind == NGX_HTTP_V3XY_REDIS_KIND_DATA) {

        if (rcf->password.len
            && redisAsyncCommand(ac, ngx_http_v3xy_redis_handshake_done, node,
                                 "AUTH %b", rcf->password.data,
                                 rcf->password.len)
               == REDIS_OK)
        {
            node->handshake++;
        }

        if (rcf->db) {
            *ngx_sprintf((u_char *) db, "%ui", rcf->db) = '\0';

            if (redisAsyncCommand(ac, ngx_http_v3xy_redis_handshake_done,
                                  node, "SELECT %s", db)
                == REDIS_OK)
            {
                node->handshake++;
            }
        }

        if (node->role
            && redisAsyncCommand(ac, ngx_http_v3xy_redis_handshake_done, node,
                                 "ROLE")
               == REDIS_OK)
        {
            node->handshake++;
        }
    }

    if (node->kind != NGX_HTTP_V3XY_REDIS_KIND_DATA
        && rcf->sentinel_password.len
        && redisAsyncCommand(ac, ngx_http_v3xy_redis_handshake_done, node,
                             "AUTH %b", rcf->sentinel_password.data,
                             rcf->sentinel_password.len)
           == REDIS_OK)
    {
        node->handshake++;
    }

    if (node->handshake == 0
        && redisAsyncCommand(ac, ngx_http_v3xy_redis_handshake_done, node,
                             "PING")
           == REDIS_OK)
    {
        node->handshake++;
    }

    /* the subscription's replies come after the handshake's */

    if (node->kind == NGX_HTTP_V3XY_REDIS_KIND_EVENTS
        && redisAsyncCommand(ac, ngx_http_v3xy_redis_switch_master, node,
                             "SUBSCRIBE +switch-master")
           != REDIS_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, ngx_http_v3xy_redis.log, 0,
                      "v3xy: redis sentinel %V: SUBSCRIBE failed",
                      &node->addr);
    }

    if (node->timer.timer_set) {
        ngx_del_timer(&node->timer);
    }

    ngx_add_timer(&node->timer, rcf->connect_timeout);
}


/* the connection goes, with no reconnect: the caller decides what next */

static void
ngx_http_v3xy_redis_close(ngx_http_v3xy_redis_node_t *node)
{
    redisAsyncContext  *ac;

    node->state = NGX_HTTP_V3XY_REDIS_DOWN;

    if (node->timer.timer_set) {
        ngx_del_timer(&node->timer);
    }

    ac = node->ac;
    node->ac = NULL;

    if (ac) {
        /* pending commands get NULL replies: their handlers only post */
        redisAsyncFree(ac);
    }

    ngx_http_v3xy_redis_gauge();
}


/* v3xy_redis_up of this worker: commands can go (a Cluster: its map) */

static void
ngx_http_v3xy_redis_gauge(void)
{
    ngx_http_v3xy_metrics_redis_up(ngx_http_v3xy_redis_ready() ? 1 : 0);
}


/*
 * The connection is gone or never came: log once per outage, and try
 * again after a backoff that doubles up to 2 s.  A Cluster's node or a
 * sentinel is then connected again on demand; the map or the master is
 * asked for again.
 */

static void
ngx_http_v3xy_redis_down(ngx_http_v3xy_redis_node_t *node,
    const char *reason)
{
    ngx_http_v3xy_redis_t  *rd = &ngx_http_v3xy_redis;

    if (node->state == NGX_HTTP_V3XY_REDIS_READY) {
        node->backoff = NGX_HTTP_V3XY_REDIS_BACKOFF_MIN;
    }

    ngx_http_v3xy_redis_trouble(node, reason);

    node->tried = 1;
    ngx_http_v3xy_redis_close(node);
    node->timeouts = 0;

    if (rd->conf == NULL || ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    ngx_add_timer(&node->timer, node->backoff);

    node->backoff = ngx_min(node->backoff * 2,
                            NGX_HTTP_V3XY_REDIS_BACKOFF_MAX);

    if (rd->conf->mode == NGX_HTTP_V3XY_REDIS_CLUSTER
        || (rd->conf->mode == NGX_HTTP_V3XY_REDIS_SENTINEL
            && node == rd->master))
    {
        ngx_http_v3xy_redis_refresh_soon();
    }
}


/* the first sign of an outage is logged, once, until the node answers */

static void
ngx_http_v3xy_redis_trouble(ngx_http_v3xy_redis_node_t *node,
    const char *reason)
{
    if (node->logged) {
        return;
    }

    node->logged = 1;

    if (node->kind == NGX_HTTP_V3XY_REDIS_KIND_EVENTS) {
        /* not an outage: failovers are followed by the poll meanwhile */
        ngx_log_error(NGX_LOG_INFO, ngx_http_v3xy_redis.log, 0,
                      "v3xy: redis sentinel %V: no subscription to "
                      "+switch-master: %s", &node->addr, reason);
        return;
    }

    ngx_http_v3xy_redis.outage++;

    ngx_log_error(NGX_LOG_WARN, ngx_http_v3xy_redis.log, 0,
                  "v3xy: redis %s%V unavailable: %s",
                  node->kind == NGX_HTTP_V3XY_REDIS_KIND_SENTINEL
                  ? "sentinel " : "", &node->addr, reason);
}


static void
ngx_http_v3xy_redis_fine(ngx_http_v3xy_redis_node_t *node)
{
    node->timeouts = 0;

    if (!node->logged) {
        return;
    }

    node->logged = 0;

    if (node->kind == NGX_HTTP_V3XY_REDIS_KIND_EVENTS) {
        ngx_log_error(NGX_LOG_INFO, ngx_http_v3xy_redis.log, 0,
                      "v3xy: redis sentinel %V: subscribed to "
                      "+switch-master again", &node->addr);
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, ngx_http_v3xy_redis.log, 0,
                  "v3xy: redis %s%V is back",
                  node->kind == NGX_HTTP_V3XY_REDIS_KIND_SENTINEL
                  ? "sentinel " : "", &node->addr);
}


static void
ngx_http_v3xy_redis_timer_handler(ngx_event_t *ev)
{
    ngx_http_v3xy_redis_node_t  *node = ev->data;

    if (node->state == NGX_HTTP_V3XY_REDIS_CONNECTING) {
        ngx_http_v3xy_redis_down(node, "connect timed out");
        return;
    }

    /* the backoff is over: one Redis, the master or the candidate */

    if (node->state == NGX_HTTP_V3XY_REDIS_DOWN
        && (node == ngx_http_v3xy_redis.master
            || node == ngx_http_v3xy_redis.candidate
            || node == ngx_http_v3xy_redis.events))
    {
        ngx_http_v3xy_redis_connect(node);
    }
}


static void
ngx_http_v3xy_redis_on_connect(const redisAsyncContext *cac, int status)
{
    ngx_http_v3xy_redis_node_t  *node = cac->data;

    if (status != REDIS_OK) {
        /* hiredis frees the context after this callback */
        node->ac = NULL;
        ngx_http_v3xy_redis_down(node, cac->errstr);
    }
}


static void
ngx_http_v3xy_redis_handshake_done(redisAsyncContext *ac, void *r,
    void *privdata)
{
    ngx_http_v3xy_redis_node_t  *node = privdata;

    redisReply             *reply = r;
    ngx_http_v3xy_redis_t  *rd = &ngx_http_v3xy_redis;

    if (node->ac != ac || node->state != NGX_HTTP_V3XY_REDIS_CONNECTING) {
        return;
    }

    if (reply == NULL) {
        /* the context is being freed: the disconnect callback follows */
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        if (!node->logged) {
            ngx_http_v3xy_redis_refused(node, reply);
        }

        ngx_http_v3xy_redis_down(node, "handshake refused");
        return;
    }

    /* ROLE's first element: "master", or "slave" (or "sentinel") */

    if (node->role && reply->type == REDIS_REPLY_ARRAY) {
        if (reply->elements == 0
            || reply->element[0]->type != REDIS_REPLY_STRING
            || reply->element[0]->len != 6
            || ngx_strncmp(reply->element[0]->str, "master", 6) != 0)
        {
            ngx_http_v3xy_redis_not_master(node, reply);
            return;
        }
    }

    if (--node->handshake) {
        return;
    }

    if (node->timer.timer_set) {
        ngx_del_timer(&node->timer);
    }

    node->state = NGX_HTTP_V3XY_REDIS_READY;
    node->backoff = NGX_HTTP_V3XY_REDIS_BACKOFF_MIN;
    node->tried = 1;

    if (node == rd->candidate) {
        ngx_http_v3xy_redis_promote(node);
    }

    if (node->kind == NGX_HTTP_V3XY_REDIS_KIND_DATA) {
        if (node->was_ready) {
            ngx_http_v3xy_count(ngx_http_v3xy_metrics.redis,
                                NGX_HTTP_V3XY_REDIS_RECONNECTS);
        }

        node->was_ready = 1;
        ngx_http_v3xy_redis_gauge();
    }

    ngx_http_v3xy_redis_fine(node);
}


/*
 * The first refusal of an outage, with Redis's message (Redis never
 * repeats a password) and, where a password was refused or is missing,
 * the parameter to look at.
 */

static void
ngx_http_v3xy_redis_refused(ngx_http_v3xy_redis_node_t *node,
    redisReply *reply)
{
    size_t                       len;
    ngx_str_t                   *password;
    ngx_uint_t                   sentinel;
    const char                  *hint;
    ngx_http_v3xy_redis_conf_t  *rcf = ngx_http_v3xy_redis.conf;

    sentinel = (node->kind != NGX_HTTP_V3XY_REDIS_KIND_DATA);
    password = sentinel ? &rcf->sentinel_password : &rcf->password;
    len = reply->len;
    hint = "";

    if ((len >= 6 && ngx_strncmp(reply->str, "NOAUTH", 6) == 0)
        || (len >= 9 && ngx_strncmp(reply->str, "WRONGPASS", 9) == 0)
        || (len >= 8 && ngx_strncmp(reply->str, "ERR AUTH", 8) == 0)
        || (len >= 20
            && ngx_strncmp(reply->str, "ERR invalid password", 20) == 0))
    {
        if (sentinel) {
            hint = password->len ? " (check sentinel_password_file)"
                                 : " (sentinel_password_file is not set)";

        } else {
            hint = password->len ? " (check password_file)"
                                 : " (password_file is not set)";
        }
    }

    ngx_log_error(NGX_LOG_WARN, ngx_http_v3xy_redis.log, 0,
                  "v3xy: redis %s%V refused the handshake: %*s%s",
                  sentinel ? "sentinel " : "", &node->addr,
                  ngx_min(len, 200), reply->str, hint);
}


/*
 * ROLE says a server that a sentinel named is not the master: a stale or
 * lying sentinel, or a failover under way.  Nothing is written there;
 * that sentinel is passed over, the next one asked.  A candidate is
 * dropped and the master in use (if any) kept; the master itself, found
 * a replica when connected again, is down until the sentinels name
 * another.
 */

static void
ngx_http_v3xy_redis_not_master(ngx_http_v3xy_redis_node_t *node,
    redisReply *reply)
{
    ngx_str_t                    role;
    ngx_http_v3xy_redis_t       *rd = &ngx_http_v3xy_redis;
    ngx_http_v3xy_redis_node_t  *sentinel;

    ngx_str_set(&role, "?");

    if (reply->elements && reply->element[0]->type == REDIS_REPLY_STRING) {
        role.data = (u_char *) reply->element[0]->str;
        role.len = ngx_min(reply->element[0]->len, 16);
    }

    sentinel = rd->named_by;
    rd->named_by = NULL;

    if (sentinel && !sentinel->lied) {
        sentinel->lied = 1;
        ngx_log_error(NGX_LOG_WARN, rd->log, 0,
                      "v3xy: redis sentinel %V names %V as the master "
                      "\"%V\", but its ROLE is \"%V\": not used, the next "
                      "sentinel asked", &sentinel->addr, &node->addr,
                      &rd->conf->master, &role);

    } else {
        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                       "v3xy: redis %V is not the master \"%V\" (%V)",
                       &node->addr, &rd->conf->master, &role);
    }

    if (sentinel) {
        ngx_http_v3xy_redis_pass_over(sentinel);
    }

    if (node != rd->candidate) {
        ngx_http_v3xy_redis_down(node, "not a master");
        return;
    }

    /* asked again only when a sentinel names it again */

    rd->candidate = NULL;
    node->tried = 1;
    ngx_http_v3xy_redis_close(node);

    ngx_http_v3xy_redis_refresh_soon();
}


/* the candidate said it is the master: used from now on */

static void
ngx_http_v3xy_redis_promote(ngx_http_v3xy_redis_node_t *node)
{
    ngx_http_v3xy_redis_t       *rd = &ngx_http_v3xy_redis;
    ngx_http_v3xy_redis_node_t  *old;

    old = rd->master;

    rd->master = node;
    rd->candidate = NULL;

    if (rd->named_by) {
        rd->named_by->lied = 0;
        rd->named_by = NULL;
    }

    if (old) {
        ngx_log_error(NGX_LOG_NOTICE, rd->log, 0,
                      "v3xy: redis sentinel: the master \"%V\" is %V, "
                      "was %V", &rd->conf->master, &node->addr, &old->addr);

        /* its commands under way fail and fall back */
        ngx_http_v3xy_redis_close(old);

    } else {
        ngx_log_error(NGX_LOG_NOTICE, rd->log, 0,
                      "v3xy: redis sentinel: the master \"%V\" is %V",
                      &rd->conf->master, &node->addr);
    }
}


static void
ngx_http_v3xy_redis_on_disconnect(const redisAsyncContext *cac, int status)
{
    ngx_http_v3xy_redis_node_t  *node = cac->data;

    if (node->ac != cac) {
        /* we dropped it ourselves */
        return;
    }

    /* hiredis frees the context after this callback */
    node->ac = NULL;
    ngx_http_v3xy_redis_down(node, status == REDIS_OK ? "connection closed"
                                                      : cac->errstr);
}


/* commands */

/*
 * May a command go to this node now?  A Cluster's node or a sentinel out
 * of its backoff is connected on demand; the command follows the
 * handshake.
 */

static ngx_int_t
ngx_http_v3xy_redis_usable(ngx_http_v3xy_redis_node_t *node)
{
    if (node == NULL) {
        return NGX_DECLINED;
    }

    if (node->state == NGX_HTTP_V3XY_REDIS_READY
        || ngx_http_v3xy_redis_first(node))
    {
        return NGX_OK;
    }

    if (!node->eager) {
        return NGX_DECLINED;
    }

    if (node->state == NGX_HTTP_V3XY_REDIS_DOWN && !node->timer.timer_set) {
        ngx_http_v3xy_redis_connect(node);
    }

    return node->state == NGX_HTTP_V3XY_REDIS_CONNECTING ? NGX_OK
                                                         : NGX_DECLINED;
}


/* argc arguments and "extra" bytes for their text, one allocation */

static ngx_http_v3xy_redis_cmd_t *
ngx_http_v3xy_redis_cmd(ngx_uint_t argc, size_t extra, ngx_str_t *key)
{
    ngx_http_v3xy_redis_t      *rd = &ngx_http_v3xy_redis;
    ngx_http_v3xy_redis_cmd_t  *cmd;

    if (!ngx_http_v3xy_redis_ready()) {
        return NULL;
    }

    cmd = ngx_alloc(sizeof(ngx_http_v3xy_redis_cmd_t)
                    + argc * (sizeof(char *) + sizeof(size_t)) + extra,
                    rd->log);
    if (cmd == NULL) {
        return NULL;
    }

    ngx_memzero(cmd, sizeof(ngx_http_v3xy_redis_cmd_t));

    cmd->sent = ngx_http_v3xy_metrics_clock();

    cmd->argc = argc;
    cmd->argv = (const char **) (cmd + 1);
    cmd->argvlen = (size_t *) (cmd->argv + argc);

    if (key && rd->conf->mode == NGX_HTTP_V3XY_REDIS_CLUSTER) {
        cmd->slot = v3xy_cluster_key_slot(key->data, key->len);
    }

    return cmd;
}


/* a Cluster: the node that serves a key's slot now, if any */

void *
ngx_http_v3xy_redis_key_node(ngx_str_t *key)
{
    ngx_http_v3xy_redis_t  *rd = &ngx_http_v3xy_redis;

    if (rd->conf == NULL || rd->conf->mode != NGX_HTTP_V3XY_REDIS_CLUSTER
        || !rd->map_known)
    {
        return NULL;
    }

    return rd->slots[v3xy_cluster_key_slot(key->data, key->len)];
}


ngx_http_v3xy_redis_cmd_t *
ngx_http_v3xy_redis_eval(ngx_http_v3xy_redis_script_t *script,
    ngx_uint_t nkeys, ngx_str_t *args, ngx_uint_t nargs,
    ngx_http_v3xy_redis_done_pt done, void *data)
{
    return ngx_http_v3xy_redis_eval_at(NULL, script, nkeys, args, nargs,
                                       done, data);
}


/*
 * A script call to one node of a Cluster (a node of
 * ngx_http_v3xy_redis_key_node()), whichever slots its keys are of: they
 * are not declared, so nothing redirects the call itself.
 */

ngx_http_v3xy_redis_cmd_t *
ngx_http_v3xy_redis_eval_at(void *to, ngx_http_v3xy_redis_script_t *script,
    ngx_uint_t nkeys, ngx_str_t *args, ngx_uint_t nargs,
    ngx_http_v3xy_redis_done_pt done, void *data)
{
    u_char                     *p;
    size_t                      size;
    ngx_uint_t                  i;
    ngx_http_v3xy_redis_cmd_t  *cmd;

    /* EVALSHA sha numkeys args...: one allocation for all of it */

    size = NGX_INT_T_LEN;

    for (i = 0; i < nargs; i++) {
        size += args[i].len;
    }

    cmd = ngx_http_v3xy_redis_cmd(3 + nargs, size, nkeys ? &args[0] : NULL);
    if (cmd == NULL) {
        return NULL;
    }

    cmd->done = done;
    cmd->data = data;
    cmd->script = script;
    cmd->evalsha = 1;
    cmd->to = to;

    p = (u_char *) (cmd->argvlen + cmd->argc);

    cmd->argv[2] = (const char *) p;
    p = ngx_sprintf(p, "%ui", nkeys);
    cmd->argvlen[2] = p - (u_char *) cmd->argv[2];

    for (i = 0; i < nargs; i++) {
        cmd->argv[3 + i] = (const char *) p;
        cmd->argvlen[3 + i] = args[i].len;
        p = ngx_cpymem(p, args[i].data, args[i].len);
    }

    if (ngx_http_v3xy_redis_send(cmd) != NGX_OK) {
        ngx_free(cmd);
        return NULL;
    }

    return cmd;
}


/* a command of its own (HMGET key ...): argv as given, one allocation */

ngx_http_v3xy_redis_cmd_t *
ngx_http_v3xy_redis_command(ngx_str_t *args, ngx_uint_t nargs,
    ngx_http_v3xy_redis_done_pt done, void *data)
{
    u_char                     *p;
    size_t                      size;
    ngx_uint_t                  i;
    ngx_http_v3xy_redis_cmd_t  *cmd;

    size = 0;

    for (i = 0; i < nargs; i++) {
        size += args[i].len;
    }

    cmd = ngx_http_v3xy_redis_cmd(nargs, size, nargs > 1 ? &args[1] : NULL);
    if (cmd == NULL) {
        return NULL;
    }

    cmd->done = done;
    cmd->data = data;

    p = (u_char *) (cmd->argvlen + nargs);

    for (i = 0; i < nargs; i++) {
        cmd->argv[i] = (const char *) p;
        cmd->argvlen[i] = args[i].len;
        p = ngx_cpymem(p, args[i].data, args[i].len);
    }

    if (ngx_http_v3xy_redis_send(cmd) != NGX_OK) {
        ngx_free(cmd);
        return NULL;
    }

    return cmd;
}


/* a reply that is an error or not of the expected shape */

void
ngx_http_v3xy_redis_error(ngx_log_t *log, redisReply *reply)
{
    ngx_http_v3xy_redis_t  *rd = &ngx_http_v3xy_redis;

    /*
     * Redis is up and answers, but not as it should for this request (a
     * key of the wrong type, say): not an outage, and other keys work.
     * Logged at most once a minute per worker, with Redis's message.
     */

    ngx_http_v3xy_count(ngx_http_v3xy_metrics.redis,
                        NGX_HTTP_V3XY_REDIS_ERRORS);

    if (ngx_time() - rd->error_logged < 60) {
        return;
    }

    rd->error_logged = ngx_time();

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_WARN, log, 0, "v3xy: redis %V replied: %*s",
                      &rd->conf->addr, (size_t) ngx_min(reply->len, 200),
                      reply->str);

    } else {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "v3xy: redis %V: unexpected reply of type %d",
                      &rd->conf->addr, reply->type);
    }
}


/* DEL key, without waiting for the reply: a best effort */

void
ngx_http_v3xy_redis_del(ngx_str_t *key)
{
    const char                  *argv[2];
    size_t                       argvlen[2];
    ngx_http_v3xy_redis_t       *rd = &ngx_http_v3xy_redis;
    ngx_http_v3xy_redis_node_t  *node;

    if (!ngx_http_v3xy_redis_ready()) {
        return;
    }

    if (rd->conf->mode == NGX_HTTP_V3XY_REDIS_CLUSTER) {
        node = rd->slots[v3xy_cluster_key_slot(key->data, key->len)];

    } else {
        node = rd->master;
    }

    if (ngx_http_v3xy_redis_usable(node) != NGX_OK) {
        return;
    }

    argv[0] = "DEL";
    argvlen[0] = 3;
    argv[1] = (const char *) key->data;
    argvlen[1] = key->len;

    (void) redisAsyncCommandArgv(node->ac, NULL, NULL, 2, argv, argvlen);
}


void
ngx_http_v3xy_redis_cancel(ngx_http_v3xy_redis_cmd_t *cmd)
{
    cmd->done = NULL;
}


/*
 * A caller waited "timeout" for a reply in vain.  A few in a row and the
 * connection is dropped: a black-holed or stuck Redis would otherwise
 * collect commands forever.
 */

void
ngx_http_v3xy_redis_timed_out(ngx_http_v3xy_redis_cmd_t *cmd,
    ngx_log_t *log)
{
    ngx_http_v3xy_redis_node_t  *node;

    ngx_http_v3xy_count(ngx_http_v3xy_metrics.redis,
                        NGX_HTTP_V3XY_REDIS_TIMEOUTS);

    node = cmd ? cmd->node : ngx_http_v3xy_redis.master;

    if (node == NULL || node->state != NGX_HTTP_V3XY_REDIS_READY) {
        return;
    }

    ngx_http_v3xy_redis_trouble(node, "reply timed out");

    if (++node->timeouts >= NGX_HTTP_V3XY_REDIS_MAX_TIMEOUTS) {
        ngx_http_v3xy_redis_down(node, "replies timed out");
    }
}


static ngx_int_t
ngx_http_v3xy_redis_send(ngx_http_v3xy_redis_cmd_t *cmd)
{
    u_char                      *p;
    size_t                       len;
    ngx_http_v3xy_redis_t       *rd = &ngx_http_v3xy_redis;
    ngx_http_v3xy_redis_node_t  *node;

    if (rd->conf == NULL) {
        return NGX_ERROR;
    }

    if (cmd->ask) {
        node = cmd->ask;

    } else if (cmd->to) {
        node = cmd->to;

    } else if (rd->conf->mode == NGX_HTTP_V3XY_REDIS_CLUSTER) {
        node = rd->slots[cmd->slot];

    } else {
        node = rd->master;
    }

    if (ngx_http_v3xy_redis_usable(node) != NGX_OK) {
        return NGX_ERROR;
    }

    /* a script's call is EVALSHA, or EVAL after NOSCRIPT */

    if (cmd->script && cmd->evalsha) {
        cmd->argv[0] = "EVALSHA";
        cmd->argvlen[0] = sizeof("EVALSHA") - 1;
        cmd->argv[1] = (const char *) cmd->script->sha1;
        cmd->argvlen[1] = 40;

    } else if (cmd->script) {
        cmd->argv[0] = "EVAL";
        cmd->argvlen[0] = sizeof("EVAL") - 1;
        cmd->argv[1] = (const char *) cmd->script->text.data;
        cmd->argvlen[1] = cmd->script->text.len;
    }

    if (cmd->ask
        && redisAsyncCommand(node->ac, NULL, NULL, "ASKING") != REDIS_OK)
    {
        return NGX_ERROR;
    }

    /*
     * Formatted here (src/v3xy_resp.c), not by redisAsyncCommandArgv():
     * hiredis 0.14's sdscatfmt() costs some 400 instructions an argument,
     * and a batch of decisions has five arguments each.
     */

    len = v3xy_resp_len(cmd->argc, cmd->argv, cmd->argvlen);

    if (len > rd->resp_size) {
        p = ngx_alloc(ngx_max(len, 2 * rd->resp_size), ngx_cycle->log);
        if (p == NULL) {
            return NGX_ERROR;
        }

        if (rd->resp) {
            ngx_free(rd->resp);
        }

        rd->resp = p;
        rd->resp_size = ngx_max(len, 2 * rd->resp_size);
    }

    (void) v3xy_resp_write(rd->resp, cmd->argc, cmd->argv, cmd->argvlen);

    if (redisAsyncFormattedCommand(node->ac, ngx_http_v3xy_redis_reply, cmd,
                                   (const char *) rd->resp, len)
        != REDIS_OK)
    {
        return NGX_ERROR;
    }

    cmd->node = node;
    cmd->ask = NULL;

    return NGX_OK;
}


static void
ngx_http_v3xy_redis_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    ngx_http_v3xy_redis_cmd_t  *cmd = privdata;

    ngx_int_t                    rc;
    redisReply                  *reply = r;
    ngx_http_v3xy_redis_t       *rd = &ngx_http_v3xy_redis;
    ngx_http_v3xy_redis_node_t  *node;

    node = ac->data;

    if (reply && reply->type != REDIS_REPLY_ERROR) {
        ngx_http_v3xy_redis_fine(node);
    }

    if (reply && reply->type == REDIS_REPLY_ERROR && rd->conf) {

        /* SCRIPT FLUSH, a restart or a new Redis: load the script again */

        if (cmd->evalsha
            && reply->len >= 8
            && ngx_strncmp(reply->str, "NOSCRIPT", 8) == 0
            && node->ac == ac)
        {
            cmd->evalsha = 0;

            if (ngx_http_v3xy_redis_send(cmd) == NGX_OK) {
                return;
            }

            reply = NULL;

        } else if (rd->conf->mode == NGX_HTTP_V3XY_REDIS_CLUSTER) {
            rc = ngx_http_v3xy_redis_redirect(cmd, reply);

            if (rc == NGX_OK) {
                return;
            }

            if (rc == NGX_ERROR) {
                reply = NULL;
            }

        } else if (rd->conf->mode == NGX_HTTP_V3XY_REDIS_SENTINEL
                   && reply->len >= 8
                   && ngx_strncmp(reply->str, "READONLY", 8) == 0)
        {
            /* a replica now: the sentinels know the new master */

            if (node == rd->master && node->ac == ac) {
                ngx_http_v3xy_redis_down(node, "read-only (a replica now)");
            }

            reply = NULL;
        }
    }

    if (reply && cmd->sent) {
        ngx_http_v3xy_metrics_redis_rtt(ngx_http_v3xy_metrics_clock()
                                        - cmd->sent);
    }

    if (cmd->done) {
        cmd->done(cmd->data, reply);
    }

    ngx_free(cmd);
}


/*
 * Cluster errors.  NGX_OK: the command went again, elsewhere; NGX_ERROR:
 * it failed as a lost connection would (the caller falls back);
 * NGX_DECLINED: an error of the command's own, for its caller.
 */

static ngx_int_t
ngx_http_v3xy_redis_redirect(ngx_http_v3xy_redis_cmd_t *cmd,
    redisReply *reply)
{
    u_char                      *host;
    size_t                       len;
    v3xy_redirect_t              rr;
    ngx_http_v3xy_redis_t       *rd = &ngx_http_v3xy_redis;
    ngx_http_v3xy_redis_node_t  *to;

    if ((reply->len >= 11 && ngx_strncmp(reply->str, "CLUSTERDOWN", 11) == 0)
        || (reply->len >= 8 && ngx_strncmp(reply->str, "TRYAGAIN", 8) == 0))
    {
        /* a slot without a master, or a key split by a migration */
        ngx_http_v3xy_redis_refresh_soon();
        return NGX_ERROR;
    }

    if (v3xy_cluster_redirect_parse(reply->str, reply->len, &rr) != 0) {
        return NGX_ERROR;
    }

    if (rr.type == V3XY_REDIRECT_NONE) {
        return NGX_DECLINED;
    }

    if (++cmd->redirects > NGX_HTTP_V3XY_REDIS_MAX_REDIRECTS) {
        ngx_log_error(NGX_LOG_WARN, rd->log, 0,
                      "v3xy: redis cluster: slot %ui redirected %ui times",
                      cmd->slot, cmd->redirects - 1);
        return NGX_ERROR;
    }

    /* an empty host: the node that answered */

    host = (u_char *) rr.addr.host;
    len = ngx_strlen(host);

    if (len == 0) {
        host = cmd->node->host;
        len = ngx_strlen(host);
    }

    if (ngx_http_v3xy_redis_numeric(host, len) != NGX_OK) {
        ngx_log_error(NGX_LOG_WARN, rd->log, 0,
                      "v3xy: redis cluster: not a numeric address in "
                      "\"%*s\"", (size_t) ngx_min(reply->len, 200),
                      reply->str);
        return NGX_ERROR;
    }

    to = ngx_http_v3xy_redis_node(host, len, rr.addr.port,
                                  NGX_HTTP_V3XY_REDIS_KIND_DATA);
    if (to == NULL) {
        return NGX_ERROR;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "v3xy: redis cluster: %s slot %ui to %V",
                   rr.type == V3XY_REDIRECT_MOVED ? "MOVED" : "ASK",
                   (ngx_uint_t) rr.slot, &to->addr);

    if (rr.type == V3XY_REDIRECT_MOVED) {
        /* the slot has a new owner for good: the map is behind */
        rd->slots[rr.slot] = to;
        ngx_http_v3xy_redis_refresh_soon();

    } else {
        cmd->ask = to;
    }

    if (ngx_http_v3xy_redis_send(cmd) != NGX_OK) {
        cmd->ask = NULL;
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the slot map (Cluster), the master's address (Sentinel) */

static void
ngx_http_v3xy_redis_refresh_soon(void)
{
    ngx_msec_t              elapsed, delay;
    ngx_msec_int_t          sooner;
    ngx_http_v3xy_redis_t  *rd = &ngx_http_v3xy_redis;

    if (rd->conf == NULL || rd->conf->mode == NGX_HTTP_V3XY_REDIS_SINGLE
        || ngx_exiting || ngx_terminate || ngx_quit)
    {
        return;
    }

    if (rd->asked) {
        /* under way: once more when it is done */
        rd->wanted = 1;
        return;
    }

    elapsed = ngx_current_msec - rd->refreshed;
    delay = (elapsed >= NGX_HTTP_V3XY_REDIS_REFRESH_MIN)
            ? 0 : NGX_HTTP_V3XY_REDIS_REFRESH_MIN - elapsed;

    if (rd->refresh.timer_set) {
        sooner = (ngx_msec_int_t)
                     (rd->refresh.timer.key - (ngx_current_msec + delay));

        if (sooner <= 0) {
            return;
        }

        ngx_del_timer(&rd->refresh);
    }

    ngx_add_timer(&rd->refresh, delay);
}


static void
ngx_http_v3xy_redis_refresh_handler(ngx_event_t *ev)
{
    ngx_int_t                    rc;
    ngx_uint_t                   i, cluster;
    ngx_http_v3xy_redis_t       *rd = ev->data;
    ngx_http_v3xy_redis_node_t  *node, *asked;

    if (rd->conf == NULL) {
        return;
    }

    if (rd->asked) {
        /* no answer in time */
        asked = rd->asked;
        rd->asked = NULL;
        ngx_http_v3xy_redis_trouble(asked, "no answer to the topology "
                                           "request");
        ngx_http_v3xy_redis_pass_over(asked);
        ngx_http_v3xy_redis_refresh_failed();
        return;
    }

    cluster = (rd->conf->mode == NGX_HTTP_V3XY_REDIS_CLUSTER);

    rd->refreshed = ngx_current_msec;
    rd->wanted = 0;

    /* one being asked blocks any other refresh meanwhile */
    rd->asked = (ngx_http_v3xy_redis_node_t *) -1;

    node = NULL;

    /*
     * A Cluster's node already connected, else the seeds in turn; the
     * sentinel that answered last, else the next in the list.
     */

    if (cluster) {
        for (node = rd->nodes; node; node = node->next) {
            if (node->state == NGX_HTTP_V3XY_REDIS_READY) {
                break;
            }
        }
    }

    for (i = 0; node == NULL && i < rd->nseeds; i++) {
        node = rd->seeds[rd->next_seed % rd->nseeds];

        if (ngx_http_v3xy_redis_usable(node) != NGX_OK) {
            node = NULL;
            rd->next_seed++;

        } else if (cluster) {
            rd->next_seed++;
        }
    }

    rd->asked = NULL;

    if (node == NULL) {
        ngx_http_v3xy_redis_refresh_failed();
        return;
    }

    if (cluster) {
        rc = redisAsyncCommand(node->ac, ngx_http_v3xy_redis_slots_done,
                               node, "CLUSTER SLOTS");

    } else {
        rc = redisAsyncCommand(node->ac, ngx_http_v3xy_redis_master_done,
                               node, "SENTINEL get-master-addr-by-name %b",
                               rd->conf->master.data, rd->conf->master.len);
    }

    if (rc != REDIS_OK) {
        ngx_http_v3xy_redis_pass_over(node);
        ngx_http_v3xy_redis_refresh_failed();
        return;
    }

    rd->asked = node;

    if (rd->refresh.timer_set) {
        ngx_del_timer(&rd->refresh);
    }

    ngx_add_timer(&rd->refresh, rd->conf->connect_timeout
                                + rd->conf->timeout);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, rd->log, 0, "v3xy: redis: %s asked %V",
                   cluster ? "CLUSTER SLOTS" : "the master", &node->addr);
}


/* again after a backoff, another seed first */

static void
ngx_http_v3xy_redis_refresh_failed(void)
{
    ngx_http_v3xy_redis_t  *rd = &ngx_http_v3xy_redis;

    rd->asked = NULL;

    if (rd->refresh.timer_set) {
        ngx_del_timer(&rd->refresh);
    }

    if (rd->conf == NULL || ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    ngx_add_timer(&rd->refresh, rd->refresh_backoff);

    rd->refresh_backoff = ngx_min(rd->refresh_backoff * 2,
                                  NGX_HTTP_V3XY_REDIS_SENTINEL_POLL);
}


/*
 * A sentinel that failed, or named a server that is not the master: the
 * next one is asked from now on (a Cluster's seeds go in turn anyway).
 */

static void
ngx_http_v3xy_redis_pass_over(ngx_http_v3xy_redis_node_t *sentinel)
{
    ngx_http_v3xy_redis_t  *rd = &ngx_http_v3xy_redis;

    if (rd->conf->mode == NGX_HTTP_V3XY_REDIS_SENTINEL
        && rd->seeds[rd->next_seed % rd->nseeds] == sentinel)
    {
        rd->next_seed++;
    }
}


static void
ngx_http_v3xy_redis_refresh_done(ngx_msec_t next)
{
    ngx_http_v3xy_redis_t  *rd = &ngx_http_v3xy_redis;

    rd->asked = NULL;
    rd->refresh_backoff = NGX_HTTP_V3XY_REDIS_BACKOFF_MIN;

    if (rd->refresh.timer_set) {
        ngx_del_timer(&rd->refresh);
    }

    if (next) {
        ngx_add_timer(&rd->refresh, next);
    }

    if (rd->wanted) {
        rd->wanted = 0;
        ngx_http_v3xy_redis_refresh_soon();
    }
}


static void
ngx_http_v3xy_redis_slots_done(redisAsyncContext *ac, void *r,
    void *privdata)
{
    ngx_http_v3xy_redis_node_t  *node = privdata;

    redisReply             *reply = r;
    ngx_http_v3xy_redis_t  *rd = &ngx_http_v3xy_redis;

    if (rd->conf == NULL || rd->asked != node) {
        return;
    }

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || ngx_http_v3xy_redis_slots_apply(node, reply) != NGX_OK)
    {
        if (reply) {
            ngx_http_v3xy_redis_error(rd->log, reply);
        }

        ngx_http_v3xy_redis_refresh_failed();
        return;
    }

    ngx_http_v3xy_redis_refresh_done(0);
}


/*
 * CLUSTER SLOTS: [[start, end, [host, port, id, ...], replicas...], ...].
 * Only masters are used; an empty host or "?" is the node that answered.
 */

static ngx_int_t
ngx_http_v3xy_redis_slots_apply(ngx_http_v3xy_redis_node_t *from,
    redisReply *reply)
{
    u_char                      *host;
    size_t                       i, len, n;
    redisReply                  *e, *m;
    ngx_uint_t                   s, changed;
    v3xy_cluster_map_t          *map;
    ngx_http_v3xy_redis_t       *rd = &ngx_http_v3xy_redis;
    ngx_http_v3xy_redis_node_t  *nodes[V3XY_CLUSTER_MAX_NODES], *node;

    map = rd->map;
    v3xy_cluster_map_init(map);

    for (i = 0; i < reply->elements; i++) {
        e = reply->element[i];

        if (e->type != REDIS_REPLY_ARRAY || e->elements < 3
            || e->element[0]->type != REDIS_REPLY_INTEGER
            || e->element[1]->type != REDIS_REPLY_INTEGER
            || e->element[2]->type != REDIS_REPLY_ARRAY
            || e->element[2]->elements < 2
            || e->element[0]->integer < 0
            || e->element[1]->integer < 0)
        {
            return NGX_ERROR;
        }

        m = e->element[2];

        if (m->element[0]->type != REDIS_REPLY_STRING
            || m->element[1]->type != REDIS_REPLY_INTEGER)
        {
            return NGX_ERROR;
        }

        host = (u_char *) m->element[0]->str;
        len = m->element[0]->len;

        if (len == 0 || (len == 1 && host[0] == '?')) {
            host = from->host;
            len = ngx_strlen(host);
        }

        if (ngx_http_v3xy_redis_numeric(host, len) != NGX_OK) {
            ngx_log_error(NGX_LOG_WARN, rd->log, 0,
                          "v3xy: redis cluster: \"%*s\" is not a numeric "
                          "address (cluster-preferred-endpoint-type ip)",
                          ngx_min(len, 100), host);
            return NGX_ERROR;
        }

        if (v3xy_cluster_map_add(map, (unsigned) e->element[0]->integer,
                                 (unsigned) e->element[1]->integer,
                                 (char *) host, len,
                                 (int) m->element[1]->integer)
            < 0)
        {
            return NGX_ERROR;
        }
    }

    if (map->covered == 0) {
        return NGX_ERROR;
    }

    for (n = 0; n < map->nnodes; n++) {
        nodes[n] = ngx_http_v3xy_redis_node((u_char *) map->nodes[n].host,
                                            ngx_strlen(map->nodes[n].host),
                                            map->nodes[n].port,
                                            NGX_HTTP_V3XY_REDIS_KIND_DATA);
        if (nodes[n] == NULL) {
            return NGX_ERROR;
        }
    }

    changed = !rd->map_known;

    for (s = 0; s < V3XY_CLUSTER_SLOTS; s++) {
        node = (map->owner[s] == V3XY_CLUSTER_NO_NODE)
               ? NULL : nodes[map->owner[s]];

        if (rd->slots[s] != node) {
            rd->slots[s] = node;
            changed = 1;
        }
    }

    rd->map_known = 1;
    ngx_http_v3xy_redis_gauge();

    if (changed) {
        ngx_log_error(NGX_LOG_INFO, rd->log, 0,
                      "v3xy: redis cluster: %uz masters own %uz of %d slots "
                      "(map from %V)", map->nnodes, map->covered,
                      V3XY_CLUSTER_SLOTS, &from->addr);
    }

    return NGX_OK;
}


/* SENTINEL get-master-addr-by-name: [ip, port], or nil for a wrong name */

static void
ngx_http_v3xy_redis_master_done(redisAsyncContext *ac, void *r,
    void *privdata)
{
    ngx_http_v3xy_redis_node_t  *node = privdata;

    ngx_int_t                    port;
    redisReply                  *reply = r;
    ngx_http_v3xy_redis_t       *rd = &ngx_http_v3xy_redis;
    ngx_http_v3xy_redis_node_t  *master;

    if (rd->conf == NULL || rd->asked != node) {
        return;
    }

    if (reply == NULL) {
        ngx_http_v3xy_redis_pass_over(node);
        ngx_http_v3xy_redis_refresh_failed();
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[1]->type != REDIS_REPLY_STRING
        || ngx_http_v3xy_redis_numeric((u_char *) reply->element[0]->str,
                                       reply->element[0]->len)
           != NGX_OK)
    {
        if (!rd->master_logged) {
            rd->master_logged = 1;
            ngx_log_error(NGX_LOG_WARN, rd->log, 0,
                          "v3xy: redis sentinel %V does not name a master "
                          "\"%V\"", &node->addr, &rd->conf->master);
        }

        ngx_http_v3xy_redis_pass_over(node);
        ngx_http_v3xy_redis_refresh_failed();
        return;
    }

    port = ngx_atoi((u_char *) reply->element[1]->str,
                    reply->element[1]->len);

    if (port <= 0 || port > 65535) {
        ngx_http_v3xy_redis_pass_over(node);
        ngx_http_v3xy_redis_refresh_failed();
        return;
    }

    rd->master_logged = 0;

    master = ngx_http_v3xy_redis_node((u_char *) reply->element[0]->str,
                                      reply->element[0]->len, (int) port,
                                      NGX_HTTP_V3XY_REDIS_KIND_DATA);
    if (master == NULL) {
        ngx_http_v3xy_redis_pass_over(node);
        ngx_http_v3xy_redis_refresh_failed();
        return;
    }

    if (master == rd->master) {

        /* the sentinels' word now: no other candidate */

        if (rd->candidate) {
            ngx_http_v3xy_redis_close(rd->candidate);
            rd->candidate = NULL;
        }

        if (master->state == NGX_HTTP_V3XY_REDIS_READY) {
            node->lied = 0;
            rd->named_by = NULL;

        } else {
            rd->named_by = node;

            if (master->state == NGX_HTTP_V3XY_REDIS_DOWN
                && !master->timer.timer_set)
            {
                ngx_http_v3xy_redis_connect(master);
            }
        }

    } else if (master != rd->candidate) {

        /*
         * Another server: used only once its ROLE says "master"; the
         * master in use (if any) meanwhile stays.
         */

        if (rd->candidate) {
            ngx_http_v3xy_redis_close(rd->candidate);
        }

        rd->candidate = master;
        rd->named_by = node;

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                       "v3xy: redis sentinel %V names %V, checking its ROLE",
                       &node->addr, &master->addr);

        ngx_http_v3xy_redis_close(master);
        master->backoff = NGX_HTTP_V3XY_REDIS_BACKOFF_MIN;
        ngx_http_v3xy_redis_connect(master);

    } else {
        rd->named_by = node;

        if (master->state == NGX_HTTP_V3XY_REDIS_DOWN
            && !master->timer.timer_set)
        {
            ngx_http_v3xy_redis_connect(master);
        }
    }

    ngx_http_v3xy_redis_subscribe(node);

    ngx_http_v3xy_redis_refresh_done(rd->conf->sentinel_poll);
}


/*
 * A connection of its own to the sentinel that answered, subscribed to
 * +switch-master: a failover is followed when the sentinels switch, not
 * at the next poll.  The poll goes on (a message can be lost with the
 * connection); the address is still asked for and proven by ROLE.
 */

static void
ngx_http_v3xy_redis_subscribe(ngx_http_v3xy_redis_node_t *sentinel)
{
    ngx_http_v3xy_redis_t       *rd = &ngx_http_v3xy_redis;
    ngx_http_v3xy_redis_node_t  *events;

    events = ngx_http_v3xy_redis_node(sentinel->host,
                                      ngx_strlen(sentinel->host),
                                      sentinel->port,
                                      NGX_HTTP_V3XY_REDIS_KIND_EVENTS);
    if (events == NULL) {
        return;
    }

    if (events != rd->events) {
        if (rd->events) {
            ngx_http_v3xy_redis_close(rd->events);
        }

        rd->events = events;
        ngx_http_v3xy_redis_connect(events);

    } else if (events->state == NGX_HTTP_V3XY_REDIS_DOWN
               && !events->timer.timer_set)
    {
        ngx_http_v3xy_redis_connect(events);
    }
}


/* ["message", "+switch-master", "NAME OLD-IP OLD-PORT NEW-IP NEW-PORT"] */

static void
ngx_http_v3xy_redis_switch_master(redisAsyncContext *ac, void *r,
    void *privdata)
{
    ngx_http_v3xy_redis_node_t  *node = privdata;

    redisReply             *reply = r, *msg;
    ngx_http_v3xy_redis_t  *rd = &ngx_http_v3xy_redis;

    if (reply == NULL || node->ac != ac || rd->conf == NULL
        || reply->type != REDIS_REPLY_ARRAY || reply->elements != 3
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[0]->len != 7
        || ngx_strncmp(reply->element[0]->str, "message", 7) != 0
        || reply->element[2]->type != REDIS_REPLY_STRING)
    {
        /* freed, the subscription's confirmation, or not for us */
        return;
    }

    msg = reply->element[2];

    if (msg->len <= rd->conf->master.len
        || msg->str[rd->conf->master.len] != ' '
        || ngx_strncmp(msg->str, rd->conf->master.data,
                       rd->conf->master.len)
           != 0)
    {
        return;
    }

    ngx_log_error(NGX_LOG_INFO, rd->log, 0,
                  "v3xy: redis sentinel %V: +switch-master %*s",
                  &node->addr, ngx_min(msg->len, 200), msg->str);

    ngx_http_v3xy_redis_refresh_soon();
}


/* the adapter */

static ngx_int_t
ngx_http_v3xy_redis_attach(ngx_http_v3xy_redis_node_t *node)
{
    ngx_connection_t   *c;
    ngx_log_t          *log = ngx_http_v3xy_redis.log;
    redisAsyncContext  *ac = node->ac;

    c = ngx_get_connection(ac->c.fd, log);
    if (c == NULL) {
        return NGX_ERROR;
    }

    c->data = node;
    c->log = log;
    c->read->handler = ngx_http_v3xy_redis_event_handler;
    c->write->handler = ngx_http_v3xy_redis_event_handler;
    c->read->log = log;
    c->write->log = log;

    node->conn = c;

    ac->ev.data = c;
    ac->ev.addRead = ngx_http_v3xy_redis_add_read;
    ac->ev.delRead = ngx_http_v3xy_redis_del_read;
    ac->ev.addWrite = ngx_http_v3xy_redis_add_write;
    ac->ev.delWrite = ngx_http_v3xy_redis_del_write;
    ac->ev.cleanup = ngx_http_v3xy_redis_cleanup;

    return NGX_OK;
}


static void
ngx_http_v3xy_redis_event_handler(ngx_event_t *ev)
{
    ngx_connection_t            *c = ev->data;
    ngx_http_v3xy_redis_node_t  *node = c->data;

    if (node->ac == NULL || node->conn != c) {
        return;
    }

    if (ev->write) {
        redisAsyncHandleWrite(node->ac);

    } else {
        redisAsyncHandleRead(node->ac);
    }
}


static void
ngx_http_v3xy_redis_add_read(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (!c->read->active) {
        if (ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT)
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                          "v3xy: redis: adding the read event failed");
        }
    }
}


static void
ngx_http_v3xy_redis_del_read(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (c->read->active) {
        ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }
}


static void
ngx_http_v3xy_redis_add_write(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (!c->write->active) {
        if (ngx_add_event(c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT)
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                          "v3xy: redis: adding the write event failed");
        }
    }
}


static void
ngx_http_v3xy_redis_del_write(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (c->write->active) {
        ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }
}


/* hiredis closes the socket after this: the connection only goes back */

static void
ngx_http_v3xy_redis_cleanup(void *privdata)
{
    ngx_connection_t            *c = privdata;
    ngx_http_v3xy_redis_node_t  *node = c->data;

    ngx_http_v3xy_redis_del_read(c);
    ngx_http_v3xy_redis_del_write(c);

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    if (node->conn == c) {
        node->conn = NULL;
    }

    /* nginx's slot for the fd goes back with the connection; hiredis closes */
    ngx_free_connection(c);
    c->fd = (ngx_socket_t) -1;
}


/*
 * The metrics: this worker's connection state, the round trips of
 * commands (microseconds, from 100 us to 1 s), reconnects, errors and
 * timeouts.
 */

static uint64_t  ngx_http_v3xy_rtt_bounds[NGX_HTTP_V3XY_RTT_BUCKETS - 1] = {
    100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000,
    500000, 1000000
};


void
ngx_http_v3xy_metrics_redis_up(ngx_uint_t up)
{
    if (ngx_http_v3xy_metrics.redis_up
        && ngx_worker < ngx_http_v3xy_metrics.workers)
    {
        ngx_http_v3xy_metrics.redis_up[ngx_worker] = up;
    }
}


void
ngx_http_v3xy_metrics_redis_rtt(uint64_t us)
{
    if (ngx_http_v3xy_metrics.redis_rtt) {
        ngx_http_v3xy_metrics_histogram(ngx_http_v3xy_metrics.redis_rtt,
                                        ngx_http_v3xy_rtt_bounds,
                                        NGX_HTTP_V3XY_RTT_BUCKETS, us);
    }
}


uint64_t
ngx_http_v3xy_metrics_clock(void)
{
    struct timespec  ts;

    if (ngx_http_v3xy_metrics.redis_rtt == NULL) {
        return 0;
    }

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}


ngx_int_t
ngx_http_v3xy_redis_metrics(ngx_http_v3xy_mout_t *out,
    ngx_http_v3xy_main_conf_t *vmcf)
{
    u_char                   *p;
    ngx_uint_t                i;
    ngx_http_v3xy_metrics_t  *m;

    m = &vmcf->metrics;

    if (m->redis == NULL) {
        return NGX_OK;
    }

    if (ngx_http_v3xy_mfamily(out, "v3xy_redis_up", "gauge",
                              "1 when the worker's Redis connection is "
                              "ready, 0 otherwise.")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; m->redis_up && i < m->workers; i++) {
        p = ngx_http_v3xy_mreserve(out, 128);
        if (p == NULL) {
            return NGX_ERROR;
        }

        out->b->last = ngx_sprintf(p, "v3xy_redis_up{worker=\"%ui\"} %uA\n",
                                   i, m->redis_up[i]);
    }

    p = ngx_http_v3xy_mreserve(out, 1024);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->b->last = ngx_sprintf(p,
        "# HELP v3xy_redis_reconnects_total Connections to Redis made "
        "again after one was lost.\n"
        "# TYPE v3xy_redis_reconnects_total counter\n"
        "v3xy_redis_reconnects_total %uA\n"
        "# HELP v3xy_redis_errors_total Redis replies that were errors "
        "or not of the expected shape.\n"
        "# TYPE v3xy_redis_errors_total counter\n"
        "v3xy_redis_errors_total %uA\n"
        "# HELP v3xy_redis_timeouts_total Requests whose Redis reply did "
        "not come within the timeout.\n"
        "# TYPE v3xy_redis_timeouts_total counter\n"
        "v3xy_redis_timeouts_total %uA\n",
        m->redis[0], m->redis[1], m->redis[2]);

    if (ngx_http_v3xy_mfamily(out, "v3xy_redis_rtt_seconds", "histogram",
                              "Round trips of Redis commands, from "
                              "sending to the reply.")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_v3xy_mprint_histogram(out, "v3xy_redis_rtt_seconds", "",
                                          m->redis_rtt,
                                          ngx_http_v3xy_rtt_bounds,
                                          NGX_HTTP_V3XY_RTT_BUCKETS, 1000000);
}
