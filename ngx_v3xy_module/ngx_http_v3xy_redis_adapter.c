/*
 * ngx_http_v3xy_redis_adapter: hiredis's async API on nginx's event loop.
 *
 * The adapter attaches the hiredis socket to an ngx_connection_t and maps
 * hiredis's addRead/delRead/addWrite/delWrite/cleanup onto level-triggered
 * nginx events: a write wanted in one pass of the event loop happens in
 * the next, so the commands of every request of that pass go out in one
 * write (pipelining without a queue of our own).  hiredis 0.14 has no
 * timer hook and none is needed: connect timeouts and reconnects are the
 * nodes' nginx timers (ngx_http_v3xy_redis_node.c).
 */

#include "ngx_http_v3xy_redis_internal.h"


static void ngx_http_v3xy_redis_event_handler(ngx_event_t *ev);
static void ngx_http_v3xy_redis_add_read(void *privdata);
static void ngx_http_v3xy_redis_del_read(void *privdata);
static void ngx_http_v3xy_redis_add_write(void *privdata);
static void ngx_http_v3xy_redis_del_write(void *privdata);
static void ngx_http_v3xy_redis_cleanup(void *privdata);


ngx_int_t
ngx_http_v3xy_redis_attach(ngx_http_v3xy_redis_node_t *node, ngx_log_t *log)
{
    ngx_connection_t   *c;
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
