/*
 * ngx_http_v3xy_redis: hiredis's async API on nginx's event loop.
 *
 * The adapter attaches the hiredis socket to an ngx_connection_t and maps
 * hiredis's addRead/delRead/addWrite/delWrite/cleanup onto level-triggered
 * nginx events: a write wanted in one pass of the event loop happens in
 * the next, so the commands of every request of that pass go out in one
 * write (pipelining without a queue of our own).  Connect timeouts and
 * reconnects with backoff are nginx timers; hiredis 0.14 has no timer hook
 * and none is needed.  Nothing here blocks: the address is numeric
 * (resolved at configuration time), the connect is non-blocking.
 */

#include "ngx_http_v3xy_module.h"
#include "ngx_http_v3xy_redis.h"

#include <hiredis/async.h>
#include <openssl/sha.h>


#define NGX_HTTP_V3XY_REDIS_DOWN        0
#define NGX_HTTP_V3XY_REDIS_CONNECTING  1
#define NGX_HTTP_V3XY_REDIS_READY       2

#define NGX_HTTP_V3XY_REDIS_BACKOFF_MIN  100
#define NGX_HTTP_V3XY_REDIS_BACKOFF_MAX  2000

/* consecutive command timeouts after which the connection is dropped */
#define NGX_HTTP_V3XY_REDIS_MAX_TIMEOUTS  3


struct ngx_http_v3xy_redis_cmd_s {
    ngx_http_v3xy_redis_done_pt    done;     /* NULL: cancelled */
    void                          *data;
    ngx_http_v3xy_redis_script_t  *script;   /* NULL: a plain command */
    ngx_uint_t                     evalsha;  /* EVALSHA sent, not EVAL */
    int                            argc;
    const char                   **argv;
    size_t                        *argvlen;
    uint64_t                       sent;     /* us, for the metrics */
};


typedef struct {
    ngx_http_v3xy_redis_conf_t    *conf;
    redisAsyncContext             *ac;
    ngx_connection_t              *conn;
    ngx_event_t                    timer;     /* connect timeout, backoff */
    ngx_log_t                     *log;
    ngx_uint_t                     state;
    ngx_uint_t                     handshake; /* replies still awaited */
    ngx_uint_t                     timeouts;
    ngx_uint_t                     outage;    /* number of outages */
    ngx_uint_t                     logged;    /* outage already logged */
    ngx_uint_t                     connections;  /* made ready */
    ngx_msec_t                     backoff;
    time_t                         error_logged;
} ngx_http_v3xy_redis_t;


static void ngx_http_v3xy_redis_connect(ngx_http_v3xy_redis_t *rd);
static void ngx_http_v3xy_redis_down(ngx_http_v3xy_redis_t *rd,
    const char *reason);
static void ngx_http_v3xy_redis_trouble(ngx_http_v3xy_redis_t *rd,
    const char *reason);
static void ngx_http_v3xy_redis_fine(ngx_http_v3xy_redis_t *rd);
static void ngx_http_v3xy_redis_timer_handler(ngx_event_t *ev);
static void ngx_http_v3xy_redis_on_connect(const redisAsyncContext *ac,
    int status);
static void ngx_http_v3xy_redis_on_disconnect(const redisAsyncContext *ac,
    int status);
static void ngx_http_v3xy_redis_handshake_done(redisAsyncContext *ac,
    void *r, void *privdata);
static void ngx_http_v3xy_redis_reply(redisAsyncContext *ac, void *r,
    void *privdata);
static ngx_int_t ngx_http_v3xy_redis_send(ngx_http_v3xy_redis_cmd_t *cmd);

static ngx_int_t ngx_http_v3xy_redis_attach(ngx_http_v3xy_redis_t *rd);
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

    if (value[1].len > 5 && ngx_strncmp(value[1].data, "unix:", 5) == 0) {
        rcf->unix_path.len = value[1].len - 5;
        rcf->unix_path.data = ngx_pnalloc(cf->pool, rcf->unix_path.len + 1);
        if (rcf->unix_path.data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_cpystrn(rcf->unix_path.data, value[1].data + 5,
                    rcf->unix_path.len + 1);

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

            rcf->db = n;
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

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);
    return NGX_CONF_ERROR;
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


/* the connection */

ngx_int_t
ngx_http_v3xy_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_v3xy_redis_conf_t *rcf)
{
    ngx_http_v3xy_redis_t  *rd = &ngx_http_v3xy_redis;

    ngx_memzero(rd, sizeof(ngx_http_v3xy_redis_t));

    rd->conf = rcf;
    rd->log = cycle->log;
    rd->backoff = NGX_HTTP_V3XY_REDIS_BACKOFF_MIN;

    rd->timer.handler = ngx_http_v3xy_redis_timer_handler;
    rd->timer.data = rd;
    rd->timer.log = cycle->log;
    rd->timer.cancelable = 1;

    ngx_http_v3xy_redis_connect(rd);

    return NGX_OK;
}


void
ngx_http_v3xy_redis_exit_process(ngx_cycle_t *cycle)
{
    redisAsyncContext      *ac;
    ngx_http_v3xy_redis_t  *rd = &ngx_http_v3xy_redis;

    if (rd->conf == NULL) {
        return;
    }

    if (rd->timer.timer_set) {
        ngx_del_timer(&rd->timer);
    }

    ac = rd->ac;
    rd->ac = NULL;
    rd->state = NGX_HTTP_V3XY_REDIS_DOWN;
    rd->conf = NULL;

    if (ac) {
        redisAsyncFree(ac);
    }
}


ngx_uint_t
ngx_http_v3xy_redis_ready(void)
{
    return ngx_http_v3xy_redis.state == NGX_HTTP_V3XY_REDIS_READY;
}


ngx_uint_t
ngx_http_v3xy_redis_outage(void)
{
    return ngx_http_v3xy_redis.outage;
}


static void
ngx_http_v3xy_redis_connect(ngx_http_v3xy_redis_t *rd)
{
    redisAsyncContext           *ac;
    ngx_http_v3xy_redis_conf_t  *rcf = rd->conf;

    if (rcf->unix_path.len) {
        ac = redisAsyncConnectUnix((char *) rcf->unix_path.data);

    } else {
        ac = redisAsyncConnect((char *) rcf->host.data, rcf->port);
    }

    if (ac == NULL) {
        ngx_http_v3xy_redis_down(rd, "out of memory");
        return;
    }

    if (ac->err) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                       "v3xy: redis connect: %s", ac->errstr);
        redisAsyncFree(ac);
        ngx_http_v3xy_redis_down(rd, "cannot connect");
        return;
    }

    rd->ac = ac;
    ac->data = rd;

    if (ngx_http_v3xy_redis_attach(rd) != NGX_OK) {
        rd->ac = NULL;
        redisAsyncFree(ac);
        ngx_http_v3xy_redis_down(rd, "no free connection");
        return;
    }

    rd->state = NGX_HTTP_V3XY_REDIS_CONNECTING;

    redisAsyncSetConnectCallback(ac, ngx_http_v3xy_redis_on_connect);
    redisAsyncSetDisconnectCallback(ac, ngx_http_v3xy_redis_on_disconnect);

    ngx_add_timer(&rd->timer, rcf->connect_timeout);
}


/*
 * The connection is gone or never came: log once per outage, and try
 * again after a backoff that doubles up to 2 s.
 */

static void
ngx_http_v3xy_redis_down(ngx_http_v3xy_redis_t *rd, const char *reason)
{
    redisAsyncContext  *ac;

    if (rd->state == NGX_HTTP_V3XY_REDIS_READY) {
        rd->backoff = NGX_HTTP_V3XY_REDIS_BACKOFF_MIN;
    }

    ngx_http_v3xy_redis_trouble(rd, reason);
    ngx_http_v3xy_metrics_redis_up(0);

    rd->state = NGX_HTTP_V3XY_REDIS_DOWN;
    rd->timeouts = 0;

    ac = rd->ac;
    rd->ac = NULL;

    if (ac) {
        /* pending commands get NULL replies: their handlers only post */
        redisAsyncFree(ac);
    }

    if (rd->timer.timer_set) {
        ngx_del_timer(&rd->timer);
    }

    if (rd->conf == NULL || ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    ngx_add_timer(&rd->timer, rd->backoff);

    rd->backoff = ngx_min(rd->backoff * 2, NGX_HTTP_V3XY_REDIS_BACKOFF_MAX);
}


/* the first sign of an outage is logged, once, until Redis answers again */

static void
ngx_http_v3xy_redis_trouble(ngx_http_v3xy_redis_t *rd, const char *reason)
{
    if (rd->logged) {
        return;
    }

    rd->logged = 1;
    rd->outage++;

    ngx_log_error(NGX_LOG_WARN, rd->log, 0,
                  "v3xy: redis %V unavailable: %s", &rd->conf->addr, reason);
}


static void
ngx_http_v3xy_redis_fine(ngx_http_v3xy_redis_t *rd)
{
    rd->timeouts = 0;

    if (rd->logged) {
        rd->logged = 0;
        ngx_log_error(NGX_LOG_NOTICE, rd->log, 0,
                      "v3xy: redis %V is back", &rd->conf->addr);
    }
}


static void
ngx_http_v3xy_redis_timer_handler(ngx_event_t *ev)
{
    ngx_http_v3xy_redis_t  *rd = ev->data;

    if (rd->state == NGX_HTTP_V3XY_REDIS_CONNECTING) {
        ngx_http_v3xy_redis_down(rd, "connect timed out");
        return;
    }

    if (rd->state == NGX_HTTP_V3XY_REDIS_DOWN) {
        ngx_http_v3xy_redis_connect(rd);
    }
}


static void
ngx_http_v3xy_redis_on_connect(const redisAsyncContext *cac, int status)
{
    ngx_http_v3xy_redis_t  *rd = cac->data;

    char                        db[NGX_INT_T_LEN + 1];
    redisAsyncContext          *ac;
    ngx_http_v3xy_redis_conf_t *rcf;

    if (status != REDIS_OK) {
        /* hiredis frees the context after this callback */
        rd->ac = NULL;
        ngx_http_v3xy_redis_down(rd, cac->errstr);
        return;
    }

    ac = rd->ac;
    rcf = rd->conf;

    /* AUTH and SELECT, or a PING: a listener that never answers is down */

    rd->handshake = 0;

    if (rcf->password.len) {
        if (redisAsyncCommand(ac, ngx_http_v3xy_redis_handshake_done, rd,
                              "AUTH %b", rcf->password.data,
                              rcf->password.len)
            == REDIS_OK)
        {
            rd->handshake++;
        }
    }

    if (rcf->db) {
        *ngx_sprintf((u_char *) db, "%ui", rcf->db) = '\0';

        if (redisAsyncCommand(ac, ngx_http_v3xy_redis_handshake_done, rd,
                              "SELECT %s", db)
            == REDIS_OK)
        {
            rd->handshake++;
        }
    }

    if (rd->handshake == 0) {
        if (redisAsyncCommand(ac, ngx_http_v3xy_redis_handshake_done, rd,
                              "PING")
            == REDIS_OK)
        {
            rd->handshake++;
        }
    }
}


static void
ngx_http_v3xy_redis_handshake_done(redisAsyncContext *ac, void *r,
    void *privdata)
{
    ngx_http_v3xy_redis_t  *rd = privdata;

    redisReply  *reply = r;

    if (rd->ac != ac || rd->state != NGX_HTTP_V3XY_REDIS_CONNECTING) {
        return;
    }

    if (reply == NULL) {
        /* the context is being freed: the disconnect callback follows */
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_WARN, rd->log, 0,
                      "v3xy: redis %V refused the handshake: %*s",
                      &rd->conf->addr, (size_t) reply->len, reply->str);
        ngx_http_v3xy_redis_down(rd, "handshake refused");
        return;
    }

    if (--rd->handshake) {
        return;
    }

    if (rd->timer.timer_set) {
        ngx_del_timer(&rd->timer);
    }

    rd->state = NGX_HTTP_V3XY_REDIS_READY;
    rd->backoff = NGX_HTTP_V3XY_REDIS_BACKOFF_MIN;

    if (rd->connections++) {
        ngx_http_v3xy_count(ngx_http_v3xy_metrics.redis,
                            NGX_HTTP_V3XY_REDIS_RECONNECTS);
    }

    ngx_http_v3xy_metrics_redis_up(1);

    ngx_http_v3xy_redis_fine(rd);
}


static void
ngx_http_v3xy_redis_on_disconnect(const redisAsyncContext *cac, int status)
{
    ngx_http_v3xy_redis_t  *rd = cac->data;

    if (rd->ac != cac) {
        /* we dropped it ourselves */
        return;
    }

    /* hiredis frees the context after this callback */
    rd->ac = NULL;
    ngx_http_v3xy_redis_down(rd, status == REDIS_OK ? "connection closed"
                                                    : cac->errstr);
}


/* commands */

ngx_http_v3xy_redis_cmd_t *
ngx_http_v3xy_redis_eval(ngx_http_v3xy_redis_script_t *script,
    ngx_uint_t nkeys, ngx_str_t *args, ngx_uint_t nargs,
    ngx_http_v3xy_redis_done_pt done, void *data)
{
    u_char                     *p;
    size_t                      size;
    ngx_uint_t                  i, argc;
    ngx_http_v3xy_redis_cmd_t  *cmd;

    if (ngx_http_v3xy_redis.state != NGX_HTTP_V3XY_REDIS_READY) {
        return NULL;
    }

    /* EVALSHA sha numkeys args...: one allocation for all of it */

    argc = 3 + nargs;
    size = sizeof(ngx_http_v3xy_redis_cmd_t)
           + argc * (sizeof(char *) + sizeof(size_t)) + NGX_INT_T_LEN;

    for (i = 0; i < nargs; i++) {
        size += args[i].len;
    }

    cmd = ngx_alloc(size, ngx_http_v3xy_redis.log);
    if (cmd == NULL) {
        return NULL;
    }

    cmd->done = done;
    cmd->data = data;
    cmd->sent = ngx_http_v3xy_metrics_clock();
    cmd->script = script;
    cmd->evalsha = 1;
    cmd->argc = argc;
    cmd->argv = (const char **) (cmd + 1);
    cmd->argvlen = (size_t *) (cmd->argv + argc);

    p = (u_char *) (cmd->argvlen + argc);

    cmd->argv[0] = "EVALSHA";
    cmd->argvlen[0] = sizeof("EVALSHA") - 1;
    cmd->argv[1] = (const char *) script->sha1;
    cmd->argvlen[1] = 40;
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


/* a command of its own (HMGET ...): argv as given, one allocation */

ngx_http_v3xy_redis_cmd_t *
ngx_http_v3xy_redis_command(ngx_str_t *args, ngx_uint_t nargs,
    ngx_http_v3xy_redis_done_pt done, void *data)
{
    u_char                     *p;
    size_t                      size;
    ngx_uint_t                  i;
    ngx_http_v3xy_redis_cmd_t  *cmd;

    if (ngx_http_v3xy_redis.state != NGX_HTTP_V3XY_REDIS_READY) {
        return NULL;
    }

    size = sizeof(ngx_http_v3xy_redis_cmd_t)
           + nargs * (sizeof(char *) + sizeof(size_t));

    for (i = 0; i < nargs; i++) {
        size += args[i].len;
    }

    cmd = ngx_alloc(size, ngx_http_v3xy_redis.log);
    if (cmd == NULL) {
        return NULL;
    }

    cmd->done = done;
    cmd->data = data;
    cmd->sent = ngx_http_v3xy_metrics_clock();
    cmd->script = NULL;
    cmd->evalsha = 0;
    cmd->argc = nargs;
    cmd->argv = (const char **) (cmd + 1);
    cmd->argvlen = (size_t *) (cmd->argv + nargs);

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
    const char  *argv[2];
    size_t       argvlen[2];

    if (ngx_http_v3xy_redis.state != NGX_HTTP_V3XY_REDIS_READY) {
        return;
    }

    argv[0] = "DEL";
    argvlen[0] = 3;
    argv[1] = (const char *) key->data;
    argvlen[1] = key->len;

    (void) redisAsyncCommandArgv(ngx_http_v3xy_redis.ac, NULL, NULL, 2, argv,
                                 argvlen);
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
ngx_http_v3xy_redis_timed_out(ngx_log_t *log)
{
    ngx_http_v3xy_redis_t  *rd = &ngx_http_v3xy_redis;

    ngx_http_v3xy_count(ngx_http_v3xy_metrics.redis,
                        NGX_HTTP_V3XY_REDIS_TIMEOUTS);

    if (rd->state != NGX_HTTP_V3XY_REDIS_READY) {
        return;
    }

    ngx_http_v3xy_redis_trouble(rd, "reply timed out");

    if (++rd->timeouts >= NGX_HTTP_V3XY_REDIS_MAX_TIMEOUTS) {
        ngx_http_v3xy_redis_down(rd, "replies timed out");
    }
}


static ngx_int_t
ngx_http_v3xy_redis_send(ngx_http_v3xy_redis_cmd_t *cmd)
{
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

    if (redisAsyncCommandArgv(ngx_http_v3xy_redis.ac,
                              ngx_http_v3xy_redis_reply, cmd, cmd->argc,
                              cmd->argv, cmd->argvlen)
        != REDIS_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_v3xy_redis_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    ngx_http_v3xy_redis_cmd_t  *cmd = privdata;

    redisReply  *reply = r;

    if (reply && reply->type != REDIS_REPLY_ERROR) {
        ngx_http_v3xy_redis_fine(&ngx_http_v3xy_redis);
    }

    if (reply) {

        /* SCRIPT FLUSH, a restart or a new Redis: load the script again */

        if (cmd->evalsha
            && reply->type == REDIS_REPLY_ERROR
            && reply->len >= 8
            && ngx_strncmp(reply->str, "NOSCRIPT", 8) == 0
            && ngx_http_v3xy_redis.ac == ac)
        {
            cmd->evalsha = 0;

            if (ngx_http_v3xy_redis_send(cmd) == NGX_OK) {
                return;
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


/* the adapter */

static ngx_int_t
ngx_http_v3xy_redis_attach(ngx_http_v3xy_redis_t *rd)
{
    ngx_connection_t   *c;
    redisAsyncContext  *ac = rd->ac;

    c = ngx_get_connection(ac->c.fd, rd->log);
    if (c == NULL) {
        return NGX_ERROR;
    }

    c->data = rd;
    c->log = rd->log;
    c->read->handler = ngx_http_v3xy_redis_event_handler;
    c->write->handler = ngx_http_v3xy_redis_event_handler;
    c->read->log = rd->log;
    c->write->log = rd->log;

    rd->conn = c;

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
    ngx_connection_t       *c = ev->data;
    ngx_http_v3xy_redis_t  *rd = c->data;

    if (rd->ac == NULL || rd->conn != c) {
        return;
    }

    if (ev->write) {
        redisAsyncHandleWrite(rd->ac);

    } else {
        redisAsyncHandleRead(rd->ac);
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
    ngx_connection_t       *c = privdata;
    ngx_http_v3xy_redis_t  *rd = c->data;

    ngx_http_v3xy_redis_del_read(c);
    ngx_http_v3xy_redis_del_write(c);

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    if (rd->conn == c) {
        rd->conn = NULL;
    }

    /* nginx's slot for the fd goes back with the connection; hiredis closes */
    ngx_free_connection(c);
    c->fd = (ngx_socket_t) -1;
}
