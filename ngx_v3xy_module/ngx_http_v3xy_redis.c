/*
 * ngx_http_v3xy_redis: commands, what the rest of the module calls
 * (ngx_http_v3xy_redis.h): a script's call (EVALSHA, EVAL after
 * NOSCRIPT), a command of its own, a DEL that nobody waits for.
 *
 * A command goes to the node that serves it now (one Redis, Sentinel's
 * master, the owner of its key's slot in a Cluster), formatted in RESP
 * by src/v3xy_resp.c, and its reply comes to the caller's handler; a
 * Cluster's MOVED or ASK sends it again where
 * ngx_http_v3xy_redis_topology.c says, a replica's READONLY fails it
 * and makes the sentinels be asked.  The connections, their handshakes
 * and outages are ngx_http_v3xy_redis_node.c's; the directive is
 * ngx_http_v3xy_redis_conf.c's.
 */

#include "ngx_http_v3xy_module.h"
#include "ngx_http_v3xy_redis_internal.h"
#include "v3xy_resp.h"

#include <openssl/sha.h>


static ngx_http_v3xy_redis_cmd_t *ngx_http_v3xy_redis_cmd(ngx_uint_t argc,
    size_t extra, ngx_str_t *key);
static ngx_int_t ngx_http_v3xy_redis_send(ngx_http_v3xy_redis_cmd_t *cmd);
static void ngx_http_v3xy_redis_reply(redisAsyncContext *ac, void *r,
    void *privdata);


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

    if (key != NULL && rd->conf->mode == NGX_HTTP_V3XY_REDIS_CLUSTER) {
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

    node = (cmd != NULL) ? cmd->node : ngx_http_v3xy_redis.master;

    if (node == NULL || node->state != NGX_HTTP_V3XY_REDIS_READY) {
        return;
    }

    ngx_http_v3xy_redis_trouble(node, "reply timed out");

    node->timeouts++;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, log, 0,
                   "v3xy redis: %V: no reply in time, %ui in a row",
                   &node->addr, node->timeouts);

    if (node->timeouts >= NGX_HTTP_V3XY_REDIS_MAX_TIMEOUTS) {
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

    if (cmd->ask != NULL) {
        node = cmd->ask;

    } else if (cmd->to != NULL) {
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

    if (cmd->script != NULL && cmd->evalsha) {
        cmd->argv[0] = "EVALSHA";
        cmd->argvlen[0] = sizeof("EVALSHA") - 1;
        cmd->argv[1] = (const char *) cmd->script->sha1;
        cmd->argvlen[1] = 40;

    } else if (cmd->script != NULL) {
        cmd->argv[0] = "EVAL";
        cmd->argvlen[0] = sizeof("EVAL") - 1;
        cmd->argv[1] = (const char *) cmd->script->text.data;
        cmd->argvlen[1] = cmd->script->text.len;
    }

    if (cmd->ask != NULL
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

        if (rd->resp != NULL) {
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

    if (reply != NULL && reply->type != REDIS_REPLY_ERROR) {
        ngx_http_v3xy_redis_fine(node);
    }

    if (reply != NULL && reply->type == REDIS_REPLY_ERROR
        && rd->conf != NULL)
    {

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
                /* MOVED or ASK: again, where the Cluster says */

                if (ngx_http_v3xy_redis_send(cmd) == NGX_OK) {
                    return;
                }

                cmd->ask = NULL;
                reply = NULL;

            } else if (rc == NGX_ERROR) {
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

    if (reply != NULL && cmd->sent) {
        ngx_http_v3xy_metrics_redis_rtt(ngx_http_v3xy_metrics_clock()
                                        - cmd->sent);
    }

    if (cmd->done != NULL) {
        cmd->done(cmd->data, reply);
    }

    ngx_free(cmd);
}
