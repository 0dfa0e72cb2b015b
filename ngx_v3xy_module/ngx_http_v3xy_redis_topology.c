/*
 * ngx_http_v3xy_redis_topology: where commands go, as a Redis Cluster or
 * the sentinels say.
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
 *
 * One request (the slot map or the master's address) is under way at a
 * time, on the refresh timer: asked, answered (the next at sentinel_poll,
 * or when wanted), or failed (again after a backoff, another seed first).
 */

#include "ngx_http_v3xy_redis_internal.h"


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


/* the slot map (Cluster), the master's address (Sentinel) */

void
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

    if (rd->asked != NULL) {
        /* under way: once more when it is done */
        rd->wanted = 1;

        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                       "v3xy redis: topology wanted again, after the "
                       "request under way");
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

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "v3xy redis: topology asked again in %Mms", delay);
}


void
ngx_http_v3xy_redis_refresh_handler(ngx_event_t *ev)
{
    ngx_int_t                    rc;
    ngx_uint_t                   i, cluster;
    ngx_http_v3xy_redis_t       *rd = ev->data;
    ngx_http_v3xy_redis_node_t  *node, *asked;

    if (rd->conf == NULL) {
        return;
    }

    if (rd->asked != NULL) {
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
        for (node = rd->nodes; node != NULL; node = node->next) {
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

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "v3xy redis: %s asked of %V",
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

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "v3xy redis: topology request failed, again in %Mms",
                   rd->refresh_backoff);

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

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                       "v3xy redis: sentinel %V passed over, %V next",
                       &sentinel->addr,
                       &rd->seeds[rd->next_seed % rd->nseeds]->addr);
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
        if (reply != NULL) {
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

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "v3xy redis: cluster: slot map from %V, %uz masters, "
                   "%uz slots, %s", &from->addr, map->nnodes, map->covered,
                   changed ? "changed" : "as it was");

    if (changed) {
        ngx_log_error(NGX_LOG_INFO, rd->log, 0,
                      "v3xy: redis cluster: %uz masters own %uz of %d slots "
                      "(map from %V)", map->nnodes, map->covered,
                      V3XY_CLUSTER_SLOTS, &from->addr);
    }

    return NGX_OK;
}


/*
 * Cluster errors.  NGX_OK: the command is to go again, to the node that
 * cmd->ask or the slot map names now; NGX_ERROR: it failed as a lost
 * connection would (the caller falls back); NGX_DECLINED: an error of
 * the command's own, for its caller.
 */

ngx_int_t
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

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                       "v3xy redis: cluster: %*s, the slot map asked again",
                       (size_t) ngx_min(reply->len, 100), reply->str);

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
                   "v3xy redis: cluster: %s slot %ui to %V",
                   rr.type == V3XY_REDIRECT_MOVED ? "MOVED" : "ASK",
                   (ngx_uint_t) rr.slot, &to->addr);

    if (rr.type == V3XY_REDIRECT_MOVED) {
        /* the slot has a new owner for good: the map is behind */
        rd->slots[rr.slot] = to;
        ngx_http_v3xy_redis_refresh_soon();

    } else {
        cmd->ask = to;
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

        if (rd->candidate != NULL) {
            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                           "v3xy redis: sentinel: candidate %V dropped",
                           &rd->candidate->addr);

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

        if (rd->candidate != NULL) {
            ngx_http_v3xy_redis_close(rd->candidate);
        }

        rd->candidate = master;
        rd->named_by = node;

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                       "v3xy redis: sentinel %V names %V, checking its ROLE",
                       &node->addr, &master->addr);

        ngx_http_v3xy_redis_close(master);
        master->backoff = NGX_HTTP_V3XY_REDIS_BACKOFF_MIN;
        ngx_http_v3xy_redis_connect(master);

    } else {
        rd->named_by = node;

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                       "v3xy redis: sentinel %V names %V again, its ROLE "
                       "not known yet", &node->addr, &master->addr);

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
 * ROLE says a server that a sentinel named is not the master: a stale or
 * lying sentinel, or a failover under way.  Nothing is written there;
 * that sentinel is passed over, the next one asked.  A candidate is
 * dropped and the master in use (if any) kept; the master itself, found
 * a replica when connected again, is down until the sentinels name
 * another.
 */

void
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

    if (sentinel != NULL && !sentinel->lied) {
        sentinel->lied = 1;
        ngx_log_error(NGX_LOG_WARN, rd->log, 0,
                      "v3xy: redis sentinel %V names %V as the master "
                      "\"%V\", but its ROLE is \"%V\": not used, the next "
                      "sentinel asked", &sentinel->addr, &node->addr,
                      &rd->conf->master, &role);

    } else {
        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                       "v3xy redis: %V is not the master \"%V\" (%V)",
                       &node->addr, &rd->conf->master, &role);
    }

    if (sentinel != NULL) {
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

void
ngx_http_v3xy_redis_promote(ngx_http_v3xy_redis_node_t *node)
{
    ngx_http_v3xy_redis_t       *rd = &ngx_http_v3xy_redis;
    ngx_http_v3xy_redis_node_t  *old;

    old = rd->master;

    rd->master = node;
    rd->candidate = NULL;

    if (rd->named_by != NULL) {
        rd->named_by->lied = 0;
        rd->named_by = NULL;
    }

    if (old != NULL) {
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
        if (rd->events != NULL) {
            ngx_http_v3xy_redis_close(rd->events);
        }

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                       "v3xy redis: sentinel %V: subscribing to "
                       "+switch-master", &events->addr);

        rd->events = events;
        ngx_http_v3xy_redis_connect(events);

    } else if (events->state == NGX_HTTP_V3XY_REDIS_DOWN
               && !events->timer.timer_set)
    {
        ngx_http_v3xy_redis_connect(events);
    }
}


/* ["message", "+switch-master", "NAME OLD-IP OLD-PORT NEW-IP NEW-PORT"] */

void
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
