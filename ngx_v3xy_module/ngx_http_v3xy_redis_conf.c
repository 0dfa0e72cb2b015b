/*
 * ngx_http_v3xy_redis_conf: the v3xy_redis directive.
 *
 *   v3xy_redis host:port | unix:PATH | cluster=ADDR,... | sentinel=ADDR,...
 *              [master=NAME] [db=N] [password_file=PATH]
 *              [sentinel_password_file=PATH] [connect_timeout=TIME]
 *              [timeout=TIME] [sentinel_poll=TIME];
 *
 * Everything is settled here, at configuration time: every name is
 * resolved to a numeric address (hiredis's connect never resolves),
 * the password files are read (ngx_http_v3xy_secret_file), the times
 * parsed.  A worker's connections are made from the result
 * (ngx_http_v3xy_redis_node.c).
 */

#include "ngx_http_v3xy_module.h"
#include "ngx_http_v3xy_redis_internal.h"
#include "ngx_http_v3xy_key.h"


static char *ngx_http_v3xy_redis_parse(ngx_conf_t *cf,
    ngx_http_v3xy_redis_conf_t *rcf);
static ngx_int_t ngx_http_v3xy_redis_parse_seeds(ngx_conf_t *cf,
    ngx_http_v3xy_redis_conf_t *rcf, ngx_str_t *list);


char *
ngx_http_v3xy_redis_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_v3xy_main_conf_t *vmcf = conf;

    if (vmcf->redis != NULL) {
        return "is duplicate";
    }

    if (ngx_http_v3xy_conf_once(cf, 1, NULL) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    vmcf->redis = ngx_pcalloc(cf->pool, sizeof(ngx_http_v3xy_redis_conf_t));
    if (vmcf->redis == NULL) {
        return NGX_CONF_ERROR;
    }

    return ngx_http_v3xy_redis_parse(cf, vmcf->redis);
}


static char *
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
                           "invalid parameter \"%V\": the first parameter "
                           "is where Redis is (host:port, unix:path, "
                           "cluster= or sentinel=)", &value[1]);
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
                               "invalid address \"%V\"", &value[1]);
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
                                   "invalid parameter \"%V\": a Redis "
                                   "Cluster has database 0 only", &value[i]);
                return NGX_CONF_ERROR;
            }

            rcf->db = n;
            continue;
        }

        if ((ngx_strncmp(value[i].data, "master=", 7) == 0
             || ngx_strncmp(value[i].data, "sentinel_poll=", 14) == 0
             || ngx_strncmp(value[i].data, "sentinel_password_file=", 23)
                == 0)
            && rcf->mode != NGX_HTTP_V3XY_REDIS_SENTINEL)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" without sentinel=",
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
                                   "invalid parameter \"%V\": at least %dms",
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
                           "\"v3xy_redis\" with sentinel= must have "
                           "\"master=\" parameter");
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
                               "invalid address \"%V\"%s%s",
                               &u.url, (u.err != NULL) ? ": " : "",
                               (u.err != NULL) ? u.err : "");
            return NGX_ERROR;
        }

        if (u.family == AF_UNIX) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid address \"%V\": a Cluster's nodes "
                               "and sentinels are reached over TCP, not a "
                               "unix socket", &u.url);
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
                           "no address in \"%V\"", list);
        return NGX_ERROR;
    }

    return NGX_OK;
}
