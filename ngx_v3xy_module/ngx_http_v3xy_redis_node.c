/*
 * ngx_http_v3xy_redis_node: a worker's nodes and their connections.
 *
 * A node is one server and this worker's connection to it.  The handshake
 * (AUTH, SELECT, ROLE where the master must be checked, else PING) is
 * written right after the connect, before any command, so that a
 * Cluster's node takes commands while its connection is being made.
 * Nothing here blocks: every address is numeric (resolved at
 * configuration time, or checked to be numeric when a Cluster or the
 * sentinels name it), every connect is non-blocking
 * (ngx_http_v3xy_redis_adapter.c puts it on nginx's events).
 *
 * A node is DOWN, CONNECTING (handshake under way) or READY.  A lost
 * connection is logged once per outage and made again after a backoff
 * (an nginx timer) that doubles up to 2 s: one Redis and Sentinel's
 * master by the timer, a Cluster's node or a sentinel on demand; a
 * Cluster's map or Sentinel's master is asked for again
 * (ngx_http_v3xy_redis_topology.c).  A reply that is an error is not an
 * outage: counted, and logged at most once a minute.
 */

#include "ngx_http_v3xy_module.h"
#include "ngx_http_v3xy_redis_internal.h"
#include "ngx_http_v3xy_metrics.h"


static ngx_uint_t ngx_http_v3xy_redis_first(ngx_http_v3xy_redis_node_t *node);
#if (NGX_DEBUG)
static const char *ngx_http_v3xy_redis_kind(ngx_http_v3xy_redis_node_t *node);
#endif
static void ngx_http_v3xy_redis_timer_handler(ngx_event_t *ev);
static void ngx_http_v3xy_redis_on_connect(const redisAsyncContext *ac,
    int status);
static void ngx_http_v3xy_redis_on_disconnect(const redisAsyncContext *ac,
    int status);
static void ngx_http_v3xy_redis_handshake_done(redisAsyncContext *ac,
    void *r, void *privdata);
static void ngx_http_v3xy_redis_refused(ngx_http_v3xy_redis_node_t *node,
    redisReply *reply);


ngx_http_v3xy_redis_t  ngx_http_v3xy_redis;


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

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                       "v3xy redis: one Redis, %V", &rcf->addr);

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

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "v3xy redis: %s, %ui addresses",
                   rcf->mode == NGX_HTTP_V3XY_REDIS_CLUSTER
                   ? "a Cluster" : "Sentinel", rd->nseeds);

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

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "v3xy redis: the worker exits, every connection closed");

    if (rd->refresh.timer_set) {
        ngx_del_timer(&rd->refresh);
    }

    rd->conf = NULL;
    rd->master = NULL;
    rd->candidate = NULL;
    rd->named_by = NULL;
    rd->events = NULL;
    rd->map_known = 0;

    for (node = rd->nodes; node != NULL; node = node->next) {
        ngx_http_v3xy_redis_close(node);
    }

    ngx_destroy_pool(rd->pool);
    rd->pool = NULL;
    rd->nodes = NULL;

    if (rd->resp != NULL) {
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

    return rd->master != NULL
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
    return ngx_http_v3xy_redis.conf != NULL
           && ngx_http_v3xy_redis.conf->mode == NGX_HTTP_V3XY_REDIS_CLUSTER;
}


/* the node of this address, made once; host is numeric */

ngx_http_v3xy_redis_node_t *
ngx_http_v3xy_redis_node(u_char *host, size_t len, int port, ngx_uint_t kind)
{
    u_char                      *p;
    ngx_http_v3xy_redis_t       *rd = &ngx_http_v3xy_redis;
    ngx_http_v3xy_redis_node_t  *node;

    if (len > NGX_SOCKADDR_STRLEN) {
        return NULL;
    }

    for (node = rd->nodes; node != NULL; node = node->next) {
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

    if (ngx_strlchr(host, host + len, ':') != NULL) {
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

ngx_int_t
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


#if (NGX_DEBUG)

/* for the debug log: what a node is to us */

static const char *
ngx_http_v3xy_redis_kind(ngx_http_v3xy_redis_node_t *node)
{
    switch (node->kind) {

    case NGX_HTTP_V3XY_REDIS_KIND_SENTINEL:
        return "sentinel ";

    case NGX_HTTP_V3XY_REDIS_KIND_EVENTS:
        return "sentinel's subscription ";

    default:
        return "";
    }
}

#endif


void
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
                       "v3xy redis: connect: %s", ac->errstr);
        redisAsyncFree(ac);
        ngx_http_v3xy_redis_down(node, "cannot connect");
        return;
    }

    node->ac = ac;
    ac->data = node;

    if (ngx_http_v3xy_redis_attach(node, ngx_http_v3xy_redis.log) != NGX_OK) {
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

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, ngx_http_v3xy_redis.log, 0,
                   "v3xy redis: %s%V connecting, a handshake of %ui, "
                   "connect_timeout %Mms",
                   ngx_http_v3xy_redis_kind(node), &node->addr,
                   node->handshake, rcf->connect_timeout);
}


/* the connection goes, with no reconnect: the caller decides what next */

void
ngx_http_v3xy_redis_close(ngx_http_v3xy_redis_node_t *node)
{
    redisAsyncContext  *ac;

    node->state = NGX_HTTP_V3XY_REDIS_DOWN;

    if (node->timer.timer_set) {
        ngx_del_timer(&node->timer);
    }

    ac = node->ac;
    node->ac = NULL;

    if (ac != NULL) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_http_v3xy_redis.log, 0,
                       "v3xy redis: %s%V closed",
                       ngx_http_v3xy_redis_kind(node), &node->addr);

        /* pending commands get NULL replies: their handlers only post */
        redisAsyncFree(ac);
    }

    ngx_http_v3xy_redis_gauge();
}


/* v3xy_redis_up of this worker: commands can go (a Cluster: its map) */

void
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

void
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
        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                       "v3xy redis: %s%V down: %s, the worker exits",
                       ngx_http_v3xy_redis_kind(node), &node->addr, reason);
        return;
    }

    ngx_add_timer(&node->timer, node->backoff);

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "v3xy redis: %s%V down: %s, backoff %Mms",
                   ngx_http_v3xy_redis_kind(node), &node->addr, reason,
                   node->backoff);

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

void
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


void
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
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ev->log, 0,
                       "v3xy redis: %s%V backoff over, connecting again",
                       ngx_http_v3xy_redis_kind(node), &node->addr);

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

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "v3xy redis: %s%V ready%s",
                   ngx_http_v3xy_redis_kind(node), &node->addr,
                   node->was_ready ? " again" : "");

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


/*
 * May a command go to this node now?  A Cluster's node or a sentinel out
 * of its backoff is connected on demand; the command follows the
 * handshake.
 */

ngx_int_t
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
    if (ngx_http_v3xy_metrics.redis_up != NULL
        && ngx_worker < ngx_http_v3xy_metrics.workers)
    {
        ngx_http_v3xy_metrics.redis_up[ngx_worker] = up;
    }
}


void
ngx_http_v3xy_metrics_redis_rtt(uint64_t us)
{
    if (ngx_http_v3xy_metrics.redis_rtt != NULL) {
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

    for (i = 0; m->redis_up != NULL && i < m->workers; i++) {
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
