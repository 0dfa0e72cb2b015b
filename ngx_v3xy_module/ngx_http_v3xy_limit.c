/*
 * ngx_http_v3xy_limit: rate limits.
 *
 * v3xy_limit_zone declares a zone (rate, key, algorithm, shared memory);
 * v3xy_limit names the zones a location must pass.  One decision covers
 * every zone of a request: with v3xy_redis, one EVALSHA of one Lua script
 * (Redis's own clock, check and count in one atomic call, a count only if
 * every zone admits), one call for all the decisions that one event-loop
 * pass of the worker brings (in a Redis Cluster: one call per master,
 * see ngx_http_v3xy_limit_flush); without it, or when Redis fails and
 * v3xy_limit_fail says "local", the shared-memory store of
 * ngx_http_v3xy_shm.c with the same math (src/v3xy_window.c).  A header
 * filter adds the RateLimit and RateLimit-Policy fields
 * (draft-ietf-httpapi-ratelimit-headers-10) of the tightest zone; a
 * log-phase handler gives the webhook replay guard's mark back when the
 * delivery's sender got no 2xx (ngx_http_v3xy_replay_log).
 */

#include "ngx_http_v3xy_module.h"
#include "ngx_http_v3xy_shm.h"

#include <openssl/sha.h>


#define NGX_HTTP_V3XY_LIMIT_WAITING  1
#define NGX_HTTP_V3XY_LIMIT_REPLIED  2
#define NGX_HTTP_V3XY_LIMIT_FAILED   3
#define NGX_HTTP_V3XY_LIMIT_FULL     4

/* longer keys are replaced by their SHA-256 in hex */
#define NGX_HTTP_V3XY_LIMIT_KEY_MAX  128


typedef struct ngx_http_v3xy_limit_batch_s  ngx_http_v3xy_limit_batch_t;

/* where a part of a decision went: a batch and its place there */
typedef struct {
    ngx_http_v3xy_limit_batch_t *batch;      /* NULL: replied */
    ngx_uint_t                   index;
} ngx_http_v3xy_limit_ref_t;

struct ngx_http_v3xy_limit_ctx_s {
    ngx_http_request_t          *request;
    ngx_queue_t                  queue;      /* waiting for the batch */
    ngx_http_v3xy_limit_ref_t   *refs;       /* or sent in these (n max) */
    ngx_uint_t                   nrefs;
    ngx_uint_t                   waiting;    /* parts not replied yet */
    ngx_uint_t                   failed;     /* a part failed */
    ngx_event_t                  ev;         /* reply timeout and resume */
    ngx_uint_t                   state;
    ngx_uint_t                   admitted;
    ngx_uint_t                   n;
    ngx_http_v3xy_shm_item_t    *items;      /* zone, key, verdict */
    ngx_http_v3xy_zone_t       **zones;
    ngx_str_t                   *keys;       /* v3xy:{zone:key} */
    void                        *lcf;        /* the location deciding */
    ngx_http_v3xy_limit_ctx_t   *prev;       /* an earlier location's */
    unsigned                     queued:1;
    unsigned                     judged:1;
};


/*
 * The decisions of one event-loop pass, sent as one script call: with one
 * Redis, every decision with all its zones; in a Cluster, the zones of one
 * hash tag (a part of each decision that has it).  A request that goes
 * away (or times out) meanwhile leaves a NULL slot.
 */

struct ngx_http_v3xy_limit_batch_s {
    ngx_uint_t                   n;
    ngx_http_v3xy_limit_ctx_t  **lctx;
    ngx_uint_t                  *first;      /* the first zone of each */
    ngx_uint_t                  *zones;      /* how many zones each */
    ngx_uint_t                  *ref;        /* the part's ref there */
    ngx_http_v3xy_redis_cmd_t   *cmd;
    void                        *node;       /* a Cluster node's call */
};


/* a part of a decision, while a pass's batches are made */
typedef struct {
    ngx_http_v3xy_limit_ctx_t   *lctx;
    ngx_uint_t                   first;
    ngx_uint_t                   zones;
    void                        *node;       /* Cluster: its key's node */
} ngx_http_v3xy_limit_part_t;


static ngx_int_t ngx_http_v3xy_limit_start(ngx_http_request_t *r,
    ngx_http_v3xy_loc_conf_t *vlcf, ngx_http_v3xy_ctx_t *ctx);
static ngx_int_t ngx_http_v3xy_limit_key(ngx_http_request_t *r,
    ngx_http_v3xy_zone_t *zone, ngx_str_t *key);
static ngx_int_t ngx_http_v3xy_limit_redis(ngx_http_request_t *r,
    ngx_http_v3xy_limit_ctx_t *lctx);
static void ngx_http_v3xy_limit_flush(ngx_event_t *ev);
static int ngx_libc_cdecl ngx_http_v3xy_limit_part_cmp(const void *one,
    const void *two);
static ngx_int_t ngx_http_v3xy_limit_send(ngx_http_v3xy_limit_part_t *parts,
    ngx_uint_t m, void *node, ngx_log_t *log);
static void ngx_http_v3xy_limit_resend(ngx_http_v3xy_limit_batch_t *batch,
    ngx_uint_t i);
static void ngx_http_v3xy_limit_reply(void *data, redisReply *reply);
static void ngx_http_v3xy_limit_forget(ngx_http_v3xy_limit_ctx_t *lctx);
static void ngx_http_v3xy_limit_event(ngx_event_t *ev);
static void ngx_http_v3xy_limit_cleanup(void *data);
static ngx_int_t ngx_http_v3xy_limit_fallback(ngx_http_request_t *r,
    ngx_http_v3xy_loc_conf_t *vlcf, ngx_http_v3xy_ctx_t *ctx);
static ngx_int_t ngx_http_v3xy_limit_local(ngx_http_request_t *r,
    ngx_http_v3xy_ctx_t *ctx);
static ngx_int_t ngx_http_v3xy_limit_verdict(ngx_http_request_t *r,
    ngx_http_v3xy_ctx_t *ctx);
static ngx_int_t ngx_http_v3xy_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_v3xy_replay_log(ngx_http_request_t *r);
static void ngx_http_v3xy_replay_release(ngx_http_request_t *r,
    ngx_http_v3xy_limit_ctx_t *lctx);
static ngx_int_t ngx_http_v3xy_push_header(ngx_http_request_t *r,
    const char *name, ngx_str_t *value);
static u_char *ngx_http_v3xy_uint(u_char *p, uint64_t n);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;

/* this worker's decisions waiting for the end of the event-loop pass */
static ngx_queue_t   ngx_http_v3xy_limit_pending;
static ngx_uint_t    ngx_http_v3xy_limit_npending;
static ngx_uint_t    ngx_http_v3xy_limit_nkeys;
static ngx_event_t   ngx_http_v3xy_limit_flush_ev;

/* the outage for which each v3xy_limit_fail mode was last logged */
static ngx_uint_t  ngx_http_v3xy_fail_logged[3] = {
    (ngx_uint_t) -1, (ngx_uint_t) -1, (ngx_uint_t) -1
};

static const char  *ngx_http_v3xy_fail_names[3] = {
    "open", "closed", "local"
};


/*
 * The limiter in Redis.  One call decides a batch of requests, in order,
 * each against the state that the ones before it left: ARGV[1] is the
 * number of decisions; then, for each decision, the number of its zones n
 * and, for each zone, its limit, window (ms) and burst (0: exact rolling
 * window); KEYS holds the zones' states in the same order.  Returns, for
 * each decision, {admitted, then for each zone: remaining, reset ms,
 * retry ms}.  Within a decision every zone is checked first and counted
 * only if all admit, so a refused request costs no zone anything.
 *
 * A Cluster's node gets the same body with another head: the keys are
 * not declared (ARGV[1] is their number, then the keys, then the numbers
 * as above) and may be of any slot of that node (the shebang's
 * allow-cross-slot-keys, Redis 7.0 and later).  Their GETs go through
 * redis.pcall: a key that this node cannot serve (a slot that moved, or
 * that is migrating and does not have the key) fails its GET before the
 * decision wrote anything, and the decision's admitted is 2: "not decided
 * here", sent again alone, its keys declared, through MOVED and ASK.
 * Once a decision's GETs succeeded, its writes touch the same keys in the
 * same atomic call, so they cannot fail that way.
 *
 * Exact window: a string of limit + 1 doubles, the index of the oldest
 * slot then a ring of the last "limit" admission times (ms), written with
 * SETRANGE (cheaper in Redis than building and setting the whole string
 * again: measured, a SET ... PX of the whole string built in Lua, one call
 * instead of up to DEL, three SETRANGEs and PEXPIRE, cost Redis 2-19 %
 * more per decision).  A request is admitted iff the oldest is out of the
 * window, i.e. fewer than "limit" admissions happened in the last "window"
 * ms.
 * GCRA: one number, the theoretical arrival time in microseconds.  The
 * arithmetic and the verdicts are those of src/v3xy_window.c (see there),
 * numbers stay below 2^53 so Lua's doubles are exact.  Time is Redis's
 * (TIME), the same for every nginx; a key whose newest admission is ahead
 * of it is judged at that instant (clamp).
 */

#define NGX_HTTP_V3XY_LIMIT_LUA_BODY                                          \
"local unpack, pack, floor, max = struct.unpack, struct.pack, math.floor,\n"  \
"                                 math.max\n"                                 \
"local t = redis.call('TIME')\n"                                              \
"local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"     \
"local out = {}\n"                                                            \
"for d = 1, m do\n"                                                           \
"local n = tonumber(ARGV[ai])\n"                                              \
"ai = ai + 1\n"                                                               \
"local base, todo, ok = #out + 1, {}, 1\n"                                    \
"out[base] = 0\n"                                                             \
"for i = 1, n do\n"                                                           \
"  local k = K[ki]\n"                                                         \
"  local limit = tonumber(ARGV[ai])\n"                                        \
"  local win = tonumber(ARGV[ai + 1])\n"                                      \
"  local burst = tonumber(ARGV[ai + 2])\n"                                    \
"  ki, ai = ki + 1, ai + 3\n"                                                 \
"  local rem, reset, retry = 0, 0, 0\n"                                       \
"  local s = ok ~= 2 and call('GET', k)\n"                                    \
"  if type(s) == 'table' then ok = 2 end\n"                                   \
"  if ok == 2 then\n"                                                         \
"  elseif burst == 0 then\n"                                                  \
"    if not s or #s ~= 8 * (limit + 1) then s = nil end\n"                    \
"    local idx = s and unpack('>d', s, 1) or 0\n"                             \
"    local tnow, lo, hi = now, 0, limit\n"                                    \
"    if s then\n"                                                             \
"      local newest = unpack('>d', s, 9 + 8 * ((idx + limit - 1) % limit))\n" \
"      tnow = max(now, newest)\n"                                             \
"      local edge = tnow - win\n"                                             \
"      while lo < hi do\n"                                                    \
"        local mid = floor((lo + hi) / 2)\n"                                  \
"        if unpack('>d', s, 9 + 8 * ((idx + mid) % limit)) > edge then\n"     \
"          hi = mid else lo = mid + 1 end\n"                                  \
"      end\n"                                                                 \
"    else\n"                                                                  \
"      lo = limit\n"                                                          \
"    end\n"                                                                   \
"    local count = limit - lo\n"                                              \
"    if count < limit then\n"                                                 \
"      rem = limit - count - 1\n"                                             \
"      if count > 0 then\n"                                                   \
"        reset = unpack('>d', s, 9 + 8 * ((idx + lo) % limit)) + win - tnow\n"\
"      else\n"                                                                \
"        reset = win\n"                                                       \
"      end\n"                                                                 \
"      todo[#todo + 1] = {k, 0, s == nil, idx, tnow, limit, win}\n"           \
"    else\n"                                                                  \
"      ok = 0\n"                                                              \
"      retry = unpack('>d', s, 9 + 8 * (idx % limit)) + win - tnow\n"         \
"      reset = retry\n"                                                       \
"    end\n"                                                                   \
"  else\n"                                                                    \
"    local tu = math.ceil(win * 1000 / limit)\n"                              \
"    local bt = burst * tu\n"                                                 \
"    local nowu = now * 1000\n"                                               \
"    local tat = tonumber(s or '0') or 0\n"                                   \
"    if tat > nowu + bt + win * 1000 then tat = nowu + bt end\n"              \
"    if tat > nowu + bt - tu then\n"                                          \
"      ok = 0\n"                                                              \
"      retry = math.ceil((tat - (bt - tu) - nowu) / 1000)\n"                  \
"      reset = retry\n"                                                       \
"    else\n"                                                                  \
"      local nt = math.max(tat, nowu) + tu\n"                                 \
"      local x = math.max(nowu + bt - nt, 0)\n"                               \
"      rem = math.floor(x / tu)\n"                                            \
"      reset = math.ceil(((rem + 1) * tu - x) / 1000)\n"                      \
"      todo[#todo + 1] = {k, 1, nt, math.ceil((nt - nowu) / 1000)}\n"         \
"    end\n"                                                                   \
"  end\n"                                                                     \
"  out[#out + 1] = rem\n"                                                     \
"  out[#out + 1] = reset\n"                                                   \
"  out[#out + 1] = retry\n"                                                   \
"end\n"                                                                       \
"if ok == 1 then\n"                                                           \
"  for _, e in ipairs(todo) do\n"                                             \
"    if e[2] == 0 then\n"                                                     \
"      local k, limit = e[1], e[6]\n"                                         \
"      if e[3] then\n"                                                        \
"        redis.call('DEL', k)\n"                                              \
"        redis.call('SETRANGE', k, 8 * limit, pack('>d', 0))\n"               \
"      end\n"                                                                 \
"      redis.call('SETRANGE', k, 8 + 8 * e[4], pack('>d', e[5]))\n"           \
"      redis.call('SETRANGE', k, 0, pack('>d', (e[4] + 1) % limit))\n"        \
"      redis.call('PEXPIRE', k, e[7])\n"                                      \
"    else\n"                                                                  \
"      redis.call('SET', e[1], string.format('%.0f', e[3]), 'PX',\n"          \
"                 math.max(e[4], 1))\n"                                       \
"    end\n"                                                                   \
"  end\n"                                                                     \
"end\n"                                                                       \
"out[base] = ok\n"                                                            \
"end\n"                                                                       \
"return out\n"

/* KEYS declared: one Redis, or one hash tag of a Cluster */
static u_char  ngx_http_v3xy_limit_lua[] =
"local K, ki, ai, call = KEYS, 1, 2, redis.call\n"
"local m = tonumber(ARGV[1])\n"
NGX_HTTP_V3XY_LIMIT_LUA_BODY;

/* a Cluster's node: the keys in ARGV, undeclared, of any of its slots */
static u_char  ngx_http_v3xy_limit_lua_node[] =
"#!lua flags=allow-cross-slot-keys\n"
"local K, ki, call = ARGV, 2, redis.pcall\n"
"local ai = tonumber(ARGV[1]) + 3\n"
"local m = tonumber(ARGV[ai - 1])\n"
NGX_HTTP_V3XY_LIMIT_LUA_BODY;


/* configuration */

char *
ngx_http_v3xy_limit_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_v3xy_main_conf_t *vmcf = conf;

    size_t                  size;
    ngx_int_t               n;
    ngx_str_t              *value, s, key;
    ngx_uint_t              i;
    v3xy_rate_t             rate;
    ngx_http_v3xy_zone_t   *zone, **zp;

    value = cf->args->elts;

    zp = vmcf->zones.elts;

    for (i = 0; i < vmcf->zones.nelts; i++) {
        if (zp[i]->name.len == value[1].len
            && ngx_strncmp(zp[i]->name.data, value[1].data, value[1].len)
               == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate v3xy_limit_zone \"%V\"",
                               &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    for (i = 0; i < value[1].len; i++) {
        if (!(value[1].data[i] >= 'a' && value[1].data[i] <= 'z')
            && !(value[1].data[i] >= 'A' && value[1].data[i] <= 'Z')
            && !(value[1].data[i] >= '0' && value[1].data[i] <= '9')
            && value[1].data[i] != '_' && value[1].data[i] != '-')
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "v3xy_limit_zone name \"%V\" may only have "
                               "letters, digits, \"_\" and \"-\"", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    ngx_memzero(&rate, sizeof(v3xy_rate_t));
    ngx_str_null(&key);
    size = 10 * 1024 * 1024;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "rate=", 5) == 0) {
            if (v3xy_rate_parse(value[i].data + 5, value[i].len - 5,
                                &rate.limit, &rate.window_ms)
                != 0)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid rate \"%V\": use Nr/s, Nr/m or "
                                   "Nr/h with N from 1 to 1000000",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "key=", 4) == 0) {
            key.data = value[i].data + 4;
            key.len = value[i].len - 4;
            continue;
        }

        if (ngx_strncmp(value[i].data, "burst=", 6) == 0) {
            n = ngx_atoi(value[i].data + 6, value[i].len - 6);
            if (n <= 0 || n > 1000000) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid burst \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            rate.burst = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "size=", 5) == 0) {
            s.data = value[i].data + 5;
            s.len = value[i].len - 5;

            n = ngx_parse_size(&s);
            if (n == NGX_ERROR || n < (ngx_int_t) (8 * ngx_pagesize)) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid size \"%V\": at least %uz",
                                   &value[i], 8 * ngx_pagesize);
                return NGX_CONF_ERROR;
            }

            size = n;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (rate.burst > rate.limit) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "v3xy_limit_zone \"%V\": burst may not exceed "
                           "the rate's N (%uL)", &value[1], rate.limit);
        return NGX_CONF_ERROR;
    }

    if (rate.limit == 0 || key.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "v3xy_limit_zone \"%V\" needs rate= and key=",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    zone = ngx_http_v3xy_zone_new(cf, &value[1], &rate, &key, size);
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    zp = ngx_array_push(&vmcf->zones);
    if (zp == NULL) {
        return NGX_CONF_ERROR;
    }

    *zp = zone;

    return NGX_CONF_OK;
}


/* a zone: its key compiled, its shared memory, its RateLimit-Policy */

ngx_http_v3xy_zone_t *
ngx_http_v3xy_zone_new(ngx_conf_t *cf, ngx_str_t *name, v3xy_rate_t *rate,
    ngx_str_t *key, size_t size)
{
    u_char                            *p;
    size_t                             i;
    ngx_str_t                          v;
    ngx_http_v3xy_zone_t              *zone;
    ngx_http_compile_complex_value_t   ccv;

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_http_v3xy_zone_t));
    if (zone == NULL) {
        return NULL;
    }

    zone->name = *name;
    zone->rate = *rate;

    /* the step that reads the body must run before the key */

    if (ngx_strlcasestrn(key->data, key->data + key->len,
                         (u_char *) "v3xy_body_email", 15 - 1)
        != NULL)
    {
        zone->body_email = 1;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = key;
    ccv.complex_value = &zone->key;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NULL;
    }

    /*
     * A key that is one variable alone ("$v3xy_key_id", "$http_x_user")
     * is read as that variable: the same value as the complex value's,
     * without its script run and copy into the request's pool.
     */

    zone->key_index = NGX_ERROR;

    v.data = key->data + 1;
    v.len = key->len - 1;

    if (key->len > 1 && key->data[0] == '$' && key->data[1] == '{'
        && key->data[key->len - 1] == '}')
    {
        v.data++;
        v.len -= 2;
    }

    for (i = 0; i < v.len; i++) {
        if (!(v.data[i] == '_' || (v.data[i] >= '0' && v.data[i] <= '9')
              || ((v.data[i] | 0x20) >= 'a' && (v.data[i] | 0x20) <= 'z')))
        {
            break;
        }
    }

    if (key->len > 1 && key->data[0] == '$' && v.len > 0 && i == v.len) {
        zone->key_index = ngx_http_get_variable_index(cf, &v);
        if (zone->key_index == NGX_ERROR) {
            return NULL;
        }
    }

    zone->shm_zone = ngx_http_v3xy_shm_zone_add(cf, &zone->name, size,
                                                &zone->rate);
    if (zone->shm_zone == NULL) {
        return NULL;
    }

    /* RateLimit-Policy: "name";q=60;w=60 */

    p = ngx_pnalloc(cf->pool, zone->name.len + 2 * NGX_INT64_LEN + 16);
    if (p == NULL) {
        return NULL;
    }

    zone->policy.data = p;
    p = ngx_sprintf(p, "\"%V\";q=%uL;w=%uL", &zone->name, zone->rate.limit,
                    zone->rate.window_ms / 1000);
    zone->policy.len = p - zone->policy.data;

    p = ngx_pnalloc(cf->pool, 3 * NGX_INT64_LEN);
    if (p == NULL) {
        return NULL;
    }

    zone->args[0].data = p;
    p = ngx_sprintf(p, "%uL", zone->rate.limit);
    zone->args[0].len = p - zone->args[0].data;

    zone->args[1].data = p;
    p = ngx_sprintf(p, "%uL", zone->rate.window_ms);
    zone->args[1].len = p - zone->args[1].data;

    zone->args[2].data = p;
    p = ngx_sprintf(p, "%uL", zone->rate.burst);
    zone->args[2].len = p - zone->args[2].data;

    return zone;
}


char *
ngx_http_v3xy_limit_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_v3xy_loc_conf_t *vlcf = conf;

    ngx_str_t                  *value;
    ngx_uint_t                  i, j, k;
    ngx_http_v3xy_zone_t      **zones, **zp;
    ngx_http_v3xy_main_conf_t  *vmcf;

    if (vlcf->limits != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        vlcf->limits = NULL;
        return NGX_CONF_OK;
    }

    vmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_v3xy_module);

    vlcf->limits = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                    sizeof(ngx_http_v3xy_zone_t *));
    if (vlcf->limits == NULL) {
        return NGX_CONF_ERROR;
    }

    zones = vmcf->zones.elts;

    for (i = 1; i < cf->args->nelts; i++) {

        for (j = 0; j < vmcf->zones.nelts; j++) {
            if (zones[j]->name.len == value[i].len
                && ngx_strncmp(zones[j]->name.data, value[i].data,
                               value[i].len) == 0)
            {
                break;
            }
        }

        if (j == vmcf->zones.nelts
            && ngx_strcmp(value[i].data, "off") == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "v3xy_limit: \"off\" stands alone");
            return NGX_CONF_ERROR;
        }

        if (j == vmcf->zones.nelts) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "unknown v3xy_limit_zone \"%V\" (declare it "
                               "at the http level, before its use)",
                               &value[i]);
            return NGX_CONF_ERROR;
        }

        zp = vlcf->limits->elts;

        for (k = 0; k < vlcf->limits->nelts; k++) {
            if (zp[k] == zones[j]) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "v3xy_limit zone \"%V\" is named twice",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }
        }

        zp = ngx_array_push(vlcf->limits);
        if (zp == NULL) {
            return NGX_CONF_ERROR;
        }

        *zp = zones[j];
    }

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_v3xy_limit_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;
    ngx_http_v3xy_main_conf_t  *vmcf;

    vmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_v3xy_module);

    vmcf->limit_script.text.data = ngx_http_v3xy_limit_lua;
    vmcf->limit_script.text.len = sizeof(ngx_http_v3xy_limit_lua) - 1;

    if (ngx_http_v3xy_redis_script_init(&vmcf->limit_script) != NGX_OK) {
        return NGX_ERROR;
    }

    vmcf->limit_script_node.text.data = ngx_http_v3xy_limit_lua_node;
    vmcf->limit_script_node.text.len = sizeof(ngx_http_v3xy_limit_lua_node)
                                       - 1;

    if (ngx_http_v3xy_redis_script_init(&vmcf->limit_script_node) != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_queue_init(&ngx_http_v3xy_limit_pending);
    ngx_http_v3xy_limit_npending = 0;
    ngx_http_v3xy_limit_nkeys = 0;

    ngx_memzero(&ngx_http_v3xy_limit_flush_ev, sizeof(ngx_event_t));
    ngx_http_v3xy_limit_flush_ev.handler = ngx_http_v3xy_limit_flush;

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_v3xy_header_filter;

    /* the locations are merged: only a replay guard needs the log phase */

    if (vmcf->replay_zones.nelts) {
        cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

        h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        *h = ngx_http_v3xy_replay_log;
    }

    return NGX_OK;
}


/*
 * What a location decides in one go: its v3xy_limit zones and, where
 * webhooks are verified with v3xy_webhook_replay on, the replay guard: a
 * zone that admits each delivery once in twice the tolerance (a signature
 * is valid from t - tolerance to t + tolerance), keyed on the delivery's
 * mark (SHA-256 over "<t>.<body>", $v3xy_webhook_delivery), not on a
 * signature: a delivery signed under two secrets is one delivery whichever
 * of its v1 values come again.  Counted with the limits, in Redis or in
 * shared memory, under the same fail modes; the log phase takes the mark
 * back from a delivery whose sender got no 2xx (ngx_http_v3xy_replay_log).
 */

char *
ngx_http_v3xy_limit_merge(ngx_conf_t *cf, ngx_http_v3xy_loc_conf_t *conf)
{
    ngx_str_t                   name, key;
    ngx_uint_t                  i, n;
    v3xy_rate_t                 rate;
    ngx_http_v3xy_zone_t      **zones, **zp, *replay;
    ngx_http_v3xy_main_conf_t  *vmcf;

    conf->body_email = 0;
    conf->decide = NULL;

    n = conf->limits ? conf->limits->nelts : 0;
    replay = NULL;

    if (conf->webhook_secrets && conf->webhook_replay) {
        vmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_v3xy_module);

        zones = vmcf->replay_zones.elts;

        for (i = 0; i < vmcf->replay_zones.nelts; i++) {
            if (zones[i]->rate.window_ms
                == (uint64_t) conf->webhook_tolerance * 2000)
            {
                replay = zones[i];
                break;
            }
        }

        if (replay == NULL) {
            /* a name that v3xy_limit_zone cannot give */

            name.data = ngx_pnalloc(cf->pool, NGX_TIME_T_LEN + 16);
            if (name.data == NULL) {
                return NGX_CONF_ERROR;
            }

            name.len = ngx_sprintf(name.data, "webhook.replay.%T",
                                   conf->webhook_tolerance)
                       - name.data;

            ngx_str_set(&key, "$v3xy_webhook_delivery");

            rate.limit = 1;
            rate.window_ms = (uint64_t) conf->webhook_tolerance * 2000;
            rate.burst = 0;

            if (rate.window_ms == 0 || rate.window_ms > V3XY_RATE_WINDOW_MAX)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "v3xy_webhook_tolerance must be from 1s "
                                   "to 30m with v3xy_webhook_replay on");
                return NGX_CONF_ERROR;
            }

            replay = ngx_http_v3xy_zone_new(cf, &name, &rate, &key,
                                            4 * 1024 * 1024);
            if (replay == NULL) {
                return NGX_CONF_ERROR;
            }

            replay->replay = 1;

            zp = ngx_array_push(&vmcf->replay_zones);
            if (zp == NULL) {
                return NGX_CONF_ERROR;
            }

            *zp = replay;
        }
    }

    if (n == 0 && replay == NULL) {
        return NGX_CONF_OK;
    }

    conf->decide = ngx_array_create(cf->pool, n + 1,
                                    sizeof(ngx_http_v3xy_zone_t *));
    if (conf->decide == NULL) {
        return NGX_CONF_ERROR;
    }

    if (n) {
        zones = conf->limits->elts;

        for (i = 0; i < n; i++) {
            if (zones[i]->body_email) {
                conf->body_email = 1;
            }

            zp = ngx_array_push(conf->decide);
            *zp = zones[i];
        }
    }

    if (replay) {
        zp = ngx_array_push(conf->decide);
        *zp = replay;
    }

    return NGX_CONF_OK;
}


/* the decision */

ngx_int_t
ngx_http_v3xy_limit(ngx_http_request_t *r, ngx_http_v3xy_loc_conf_t *vlcf,
    ngx_http_v3xy_ctx_t *ctx)
{
    ngx_http_v3xy_limit_ctx_t  *lctx;

    lctx = ctx->limit;

    /*
     * A location that an internal redirect found decides its own zones;
     * those that an earlier location counted are not counted again.
     */

    if (lctx == NULL || (lctx->lcf != vlcf && lctx->admitted)) {
        return ngx_http_v3xy_limit_start(r, vlcf, ctx);
    }

    switch (lctx->state) {

    case NGX_HTTP_V3XY_LIMIT_WAITING:
        return NGX_AGAIN;

    case NGX_HTTP_V3XY_LIMIT_REPLIED:
        return ngx_http_v3xy_limit_verdict(r, ctx);

    case NGX_HTTP_V3XY_LIMIT_FULL:
        return ngx_http_v3xy_refuse(r, NGX_HTTP_V3XY_ERR_LIMIT_UNAVAILABLE);

    default: /* NGX_HTTP_V3XY_LIMIT_FAILED */
        return ngx_http_v3xy_limit_fallback(r, vlcf, ctx);
    }
}


static ngx_int_t
ngx_http_v3xy_limit_start(ngx_http_request_t *r,
    ngx_http_v3xy_loc_conf_t *vlcf, ngx_http_v3xy_ctx_t *ctx)
{
    ngx_uint_t                  i, j, n;
    ngx_http_v3xy_zone_t      **zones;
    ngx_http_v3xy_limit_ctx_t  *lctx, *prev;
    ngx_http_v3xy_main_conf_t  *vmcf;

    zones = vlcf->decide->elts;
    n = vlcf->decide->nelts;

    lctx = ngx_pcalloc(r->pool, sizeof(ngx_http_v3xy_limit_ctx_t)
                                + n * sizeof(ngx_http_v3xy_shm_item_t)
                                + n * sizeof(ngx_http_v3xy_zone_t *));
    if (lctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    lctx->request = r;
    lctx->items = (ngx_http_v3xy_shm_item_t *) (lctx + 1);
    lctx->zones = (ngx_http_v3xy_zone_t **) (lctx->items + n);
    lctx->lcf = vlcf;
    lctx->prev = ctx->limit;

    /*
     * A zone whose key is empty for this request does not count it, nor
     * does one that an earlier location of the request counted.
     */

    for (i = 0; i < n; i++) {
        for (prev = lctx->prev; prev; prev = prev->prev) {
            for (j = 0; j < prev->n; j++) {
                if (prev->zones[j] == zones[i]) {
                    goto next;
                }
            }
        }

        if (ngx_http_v3xy_limit_key(r, zones[i],
                                    &lctx->items[lctx->n].key)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (lctx->items[lctx->n].key.len == 0) {
            continue;
        }

        lctx->items[lctx->n].shm_zone = zones[i]->shm_zone;
        lctx->items[lctx->n].rate = zones[i]->rate;
        lctx->zones[lctx->n] = zones[i];
        lctx->n++;

    next:

        continue;
    }

    ctx->limit = lctx;

    if (lctx->n == 0) {
        lctx->state = NGX_HTTP_V3XY_LIMIT_REPLIED;
        lctx->admitted = 1;
        return NGX_DECLINED;
    }

    vmcf = ngx_http_get_module_main_conf(r, ngx_http_v3xy_module);

    if (vmcf->redis == NULL) {
        return ngx_http_v3xy_limit_local(r, ctx);
    }

    if (ngx_http_v3xy_limit_redis(r, lctx) == NGX_OK) {
        return NGX_AGAIN;
    }

    lctx->state = NGX_HTTP_V3XY_LIMIT_FAILED;

    return ngx_http_v3xy_limit_fallback(r, vlcf, ctx);
}


static ngx_int_t
ngx_http_v3xy_limit_key(ngx_http_request_t *r, ngx_http_v3xy_zone_t *zone,
    ngx_str_t *key)
{
    u_char                      md[SHA256_DIGEST_LENGTH];
    ngx_http_variable_value_t  *vv;

    if (zone->key_index != NGX_ERROR) {
        vv = ngx_http_get_indexed_variable(r, zone->key_index);

        if (vv == NULL || vv->not_found) {
            ngx_str_null(key);

        } else {
            key->data = vv->data;
            key->len = vv->len;
        }

    } else if (ngx_http_complex_value(r, &zone->key, key) != NGX_OK) {
        return NGX_ERROR;
    }

    if (key->len <= NGX_HTTP_V3XY_LIMIT_KEY_MAX) {
        return NGX_OK;
    }

    if (ngx_http_v3xy_sha256(key->data, key->len, md) != NGX_OK) {
        return NGX_ERROR;
    }

    key->data = ngx_pnalloc(r->pool, 2 * SHA256_DIGEST_LENGTH);
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    key->len = ngx_hex_dump(key->data, md, SHA256_DIGEST_LENGTH) - key->data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_v3xy_limit_redis(ngx_http_request_t *r,
    ngx_http_v3xy_limit_ctx_t *lctx)
{
    u_char                     *p;
    ngx_uint_t                  i, n;
    ngx_pool_cleanup_t         *cln;
    ngx_http_v3xy_zone_t       *zone;
    ngx_http_v3xy_main_conf_t  *vmcf;

    if (!ngx_http_v3xy_redis_ready()) {
        return NGX_DECLINED;
    }

    vmcf = ngx_http_get_module_main_conf(r, ngx_http_v3xy_module);
    n = lctx->n;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    lctx->keys = ngx_palloc(r->pool, n * sizeof(ngx_str_t));
    if (lctx->keys == NULL) {
        return NGX_ERROR;
    }

    /*
     * One Redis: the decision goes whole, in one batch.  A Cluster: a part
     * per zone, and one sent to a node may go again, alone: 2n at most.
     */
    lctx->refs = ngx_palloc(r->pool, (ngx_http_v3xy_redis_cluster() ? 2 * n
                                                                     : 1)
                                     * sizeof(ngx_http_v3xy_limit_ref_t));
    if (lctx->refs == NULL) {
        return NGX_ERROR;
    }

    /* KEYS: v3xy:{zone:key}, one hash tag each, for Redis Cluster */

    for (i = 0; i < n; i++) {
        zone = lctx->zones[i];

        p = ngx_pnalloc(r->pool, sizeof("v3xy:{:}") - 1 + zone->name.len
                                 + lctx->items[i].key.len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        lctx->keys[i].data = p;
        p = ngx_sprintf(p, "v3xy:{%V:%V}", &zone->name, &lctx->items[i].key);
        lctx->keys[i].len = p - lctx->keys[i].data;
    }

    /*
     * The decision waits for the end of this event-loop pass, with the
     * other decisions that come meanwhile: one script call for all.
     */

    ngx_queue_insert_tail(&ngx_http_v3xy_limit_pending, &lctx->queue);
    ngx_http_v3xy_limit_npending++;
    ngx_http_v3xy_limit_nkeys += n;
    lctx->queued = 1;

    if (!ngx_http_v3xy_limit_flush_ev.posted) {
        /* the running cycle's log: the configuration's may be gone */
        ngx_http_v3xy_limit_flush_ev.log = ngx_cycle->log;
        ngx_post_event(&ngx_http_v3xy_limit_flush_ev, &ngx_posted_events);
    }

    lctx->state = NGX_HTTP_V3XY_LIMIT_WAITING;

    cln->handler = ngx_http_v3xy_limit_cleanup;
    cln->data = lctx;

    lctx->ev.handler = ngx_http_v3xy_limit_event;
    lctx->ev.data = lctx;
    lctx->ev.log = r->connection->log;

    ngx_add_timer(&lctx->ev, vmcf->redis->timeout);

    /* a client that goes away while we wait ends the request */
    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_request_empty_handler;

    return NGX_OK;
}


/*
 * The end of the event-loop pass: the waiting decisions in one call, or,
 * in a Redis Cluster, one call per master: the zones of the pass sorted
 * by the node that serves their slot (and by key, so that the decisions
 * of one key stay together), each node's run in one call of the node's
 * script, whose keys are undeclared (see ngx_http_v3xy_limit_lua_node).
 * A zone that this node turns out not to serve (a slot moved or
 * migrating) is sent again alone, its key declared, and follows MOVED
 * and ASK (ngx_http_v3xy_limit_resend).  In a Cluster a decision whose
 * zones have several tags is decided zone by zone: a zone that admits
 * counts the request even if another refuses it, a cost on the safe side.
 */

static void
ngx_http_v3xy_limit_flush(ngx_event_t *ev)
{
    ngx_uint_t                   i, j, m, nparts, cluster;
    ngx_queue_t                 *q;
    ngx_http_v3xy_limit_ctx_t   *lctx;
    ngx_http_v3xy_limit_part_t  *parts;

    m = ngx_http_v3xy_limit_npending;

    if (m == 0) {
        return;
    }

    cluster = ngx_http_v3xy_redis_cluster();
    nparts = cluster ? ngx_http_v3xy_limit_nkeys : m;

    parts = ngx_alloc(nparts * sizeof(ngx_http_v3xy_limit_part_t), ev->log);

    i = 0;

    while (!ngx_queue_empty(&ngx_http_v3xy_limit_pending)) {
        q = ngx_queue_head(&ngx_http_v3xy_limit_pending);
        lctx = ngx_queue_data(q, ngx_http_v3xy_limit_ctx_t, queue);

        ngx_queue_remove(q);
        lctx->queued = 0;
        lctx->nrefs = 0;
        lctx->waiting = 0;
        lctx->failed = 0;
        lctx->admitted = 1;

        if (parts == NULL) {
            /* no memory for the batches: it falls back now */
            lctx->state = NGX_HTTP_V3XY_LIMIT_FAILED;

            if (lctx->ev.timer_set) {
                ngx_del_timer(&lctx->ev);
            }

            ngx_post_event(&lctx->ev, &ngx_posted_events);
            continue;
        }

        for (j = 0; j < (cluster ? lctx->n : 1); j++) {
            parts[i].lctx = lctx;
            parts[i].first = j;
            parts[i].zones = cluster ? 1 : lctx->n;
            parts[i].node = cluster
                            ? ngx_http_v3xy_redis_key_node(&lctx->keys[j])
                            : NULL;
            i++;
        }
    }

    ngx_http_v3xy_limit_npending = 0;
    ngx_http_v3xy_limit_nkeys = 0;

    if (parts) {
        if (cluster) {
            ngx_qsort(parts, nparts, sizeof(ngx_http_v3xy_limit_part_t),
                      ngx_http_v3xy_limit_part_cmp);
        }

        /*
         * runs of one node (Cluster; of one key where the slot has no
         * node known), or all at once
         */

        for (i = 0; i < nparts; i = j) {
            for (j = i + 1; cluster && j < nparts; j++) {
                if (parts[j].node != parts[i].node
                    || (parts[i].node == NULL
                        && ngx_http_v3xy_limit_part_cmp(&parts[i], &parts[j])
                           != 0))
                {
                    break;
                }
            }

            if (!cluster) {
                j = nparts;
            }

            if (ngx_http_v3xy_limit_send(&parts[i], j - i, parts[i].node,
                                         ev->log)
                != NGX_OK)
            {
                while (i < j) {
                    parts[i++].lctx->failed = 1;
                }
            }
        }
    }

    /*
     * Redis went away since the decisions were queued: a decision of
     * which no part went falls back now; one with parts under way, when
     * they are answered.
     */

    for (i = 0; parts && i < nparts; i++) {
        lctx = parts[i].lctx;

        if (lctx->waiting == 0 && lctx->state == NGX_HTTP_V3XY_LIMIT_WAITING)
        {
            lctx->state = NGX_HTTP_V3XY_LIMIT_FAILED;

            if (lctx->ev.timer_set) {
                ngx_del_timer(&lctx->ev);
            }

            ngx_post_event(&lctx->ev, &ngx_posted_events);
        }
    }

    if (parts) {
        ngx_free(parts);
    }
}


/* by node, then by key */

static int ngx_libc_cdecl
ngx_http_v3xy_limit_part_cmp(const void *one, const void *two)
{
    ngx_int_t                    rc;
    ngx_str_t                   *k1, *k2;
    const ngx_http_v3xy_limit_part_t  *p1 = one, *p2 = two;

    if (p1->node != p2->node) {
        return (uintptr_t) p1->node < (uintptr_t) p2->node ? -1 : 1;
    }

    k1 = &p1->lctx->keys[p1->first];
    k2 = &p2->lctx->keys[p2->first];

    if (k1->len != k2->len) {
        return k1->len < k2->len ? -1 : 1;
    }

    rc = ngx_memcmp(k1->data, k2->data, k1->len);

    return rc < 0 ? -1 : (rc > 0 ? 1 : 0);
}


/*
 * One script call for m parts of decisions: its keys declared, or, to a
 * Cluster's node, in ARGV after their number (see the scripts).
 */

static ngx_int_t
ngx_http_v3xy_limit_send(ngx_http_v3xy_limit_part_t *parts, ngx_uint_t m,
    void *node, ngx_log_t *log)
{
    u_char                       *p;
    size_t                        size;
    ngx_str_t                    *args, *keys, *argv;
    ngx_uint_t                    i, j, z, nkeys, nargs;
    ngx_http_v3xy_zone_t         *zone;
    ngx_http_v3xy_limit_ctx_t    *lctx;
    ngx_http_v3xy_limit_ref_t    *ref;
    ngx_http_v3xy_limit_batch_t  *batch;
    ngx_http_v3xy_main_conf_t    *vmcf;

    vmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_v3xy_module);

    nkeys = 0;

    for (i = 0; i < m; i++) {
        nkeys += parts[i].zones;
    }

    /*
     * KEYS, then ARGV: m, and per decision n and 3 per zone; to a node,
     * the number of keys first
     */

    nargs = (node ? 1 : 0) + nkeys + 1 + m + 3 * nkeys;

    size = sizeof(ngx_http_v3xy_limit_batch_t)
           + m * (sizeof(ngx_http_v3xy_limit_ctx_t *) + 3 * sizeof(ngx_uint_t))
           + nargs * sizeof(ngx_str_t) + (2 + m) * NGX_INT_T_LEN;

    batch = ngx_alloc(size, log);
    if (batch == NULL) {
        return NGX_ERROR;
    }

    batch->n = m;
    batch->node = node;
    batch->lctx = (ngx_http_v3xy_limit_ctx_t **) (batch + 1);
    batch->first = (ngx_uint_t *) (batch->lctx + m);
    batch->zones = batch->first + m;
    batch->ref = batch->zones + m;
    args = (ngx_str_t *) (batch->ref + m);

    keys = node ? args + 1 : args;
    argv = keys + nkeys;

    /* the counts are written after the arguments, in the same allocation */
    p = (u_char *) (args + nargs);

    if (node) {
        args[0].data = p;
        p = ngx_sprintf(p, "%ui", nkeys);
        args[0].len = p - args[0].data;
    }

    argv[0].data = p;
    p = ngx_sprintf(p, "%ui", m);
    argv[0].len = p - argv[0].data;
    argv++;

    for (i = 0; i < m; i++) {
        lctx = parts[i].lctx;

        batch->lctx[i] = lctx;
        batch->first[i] = parts[i].first;
        batch->zones[i] = parts[i].zones;

        argv[0].data = p;
        p = ngx_sprintf(p, "%ui", parts[i].zones);
        argv[0].len = p - argv[0].data;
        argv++;

        for (j = 0; j < parts[i].zones; j++) {
            z = parts[i].first + j;
            zone = lctx->zones[z];

            *keys++ = lctx->keys[z];
            *argv++ = zone->args[0];
            *argv++ = zone->args[1];
            *argv++ = zone->args[2];
        }
    }

    /* the zones' own numbers were formatted at configuration time */

    if (node) {
        batch->cmd = ngx_http_v3xy_redis_eval_at(node,
                                                 &vmcf->limit_script_node, 0,
                                                 args, nargs,
                                                 ngx_http_v3xy_limit_reply,
                                                 batch);

    } else {
        batch->cmd = ngx_http_v3xy_redis_eval(&vmcf->limit_script, nkeys,
                                              args, nargs,
                                              ngx_http_v3xy_limit_reply,
                                              batch);
    }
    if (batch->cmd == NULL) {
        ngx_free(batch);
        return NGX_ERROR;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, log, 0,
                   "v3xy: %ui limit decisions, %ui keys in one script call",
                   m, nkeys);

    for (i = 0; i < m; i++) {
        lctx = parts[i].lctx;

        batch->ref[i] = lctx->nrefs;
        ref = &lctx->refs[lctx->nrefs++];
        ref->batch = batch;
        ref->index = i;
        lctx->waiting++;
    }

    return NGX_OK;
}


/*
 * Inside hiredis's callback: copy the verdicts, post the requests.  A
 * node's call that failed as a whole (an error reply: not a lost
 * connection) sends each of its parts again alone, as does a part that
 * the node did not decide.
 */

static void
ngx_http_v3xy_limit_reply(void *data, redisReply *reply)
{
    ngx_http_v3xy_limit_batch_t *batch = data;

    ngx_uint_t                  i, j, k, want, again;
    redisReply                **e;
    v3xy_verdict_t             *v;
    ngx_http_v3xy_limit_ctx_t  *lctx;

    want = 0;
    again = 0;

    for (i = 0; i < batch->n; i++) {
        want += 1 + 3 * batch->zones[i];
    }

    if (reply != NULL
        && (reply->type != REDIS_REPLY_ARRAY || reply->elements != want))
    {
        ngx_http_v3xy_redis_error(ngx_cycle->log, reply);
        again = (batch->node != NULL);
        reply = NULL;
    }

    if (reply != NULL) {
        e = reply->element;

        for (k = 0; k < want; k++) {
            if (e[k]->type != REDIS_REPLY_INTEGER || e[k]->integer < 0) {
                ngx_http_v3xy_redis_error(ngx_cycle->log, reply);
                again = (batch->node != NULL);
                reply = NULL;
                break;
            }
        }
    }

    k = 0;

    for (i = 0; i < batch->n; i++) {
        lctx = batch->lctx[i];

        if (lctx == NULL) {
            k += 1 + 3 * batch->zones[i];
            continue;
        }

        lctx->refs[batch->ref[i]].batch = NULL;

        if (again
            || (reply != NULL && batch->node != NULL
                && reply->element[k]->integer == 2))
        {
            ngx_http_v3xy_limit_resend(batch, i);

        } else if (reply != NULL) {
            e = reply->element + k;

            if (e[0]->integer != 1) {
                lctx->admitted = 0;
            }

            for (j = 0; j < batch->zones[i]; j++) {
                v = &lctx->items[batch->first[i] + j].verdict;

                v->remaining = e[1 + 3 * j]->integer;
                v->reset_ms = e[2 + 3 * j]->integer;
                v->retry_ms = e[3 + 3 * j]->integer;
                v->admitted = (v->retry_ms == 0);
            }

        } else {
            lctx->failed = 1;
        }

        k += 1 + 3 * batch->zones[i];

        if (--lctx->waiting) {
            continue;
        }

        lctx->state = lctx->failed ? NGX_HTTP_V3XY_LIMIT_FAILED
                                   : NGX_HTTP_V3XY_LIMIT_REPLIED;

        if (lctx->ev.timer_set) {
            ngx_del_timer(&lctx->ev);
        }

        ngx_post_event(&lctx->ev, &ngx_posted_events);
    }

    ngx_free(batch);
}


/* a part of a node's call, again alone: its key declared, redirected */

static void
ngx_http_v3xy_limit_resend(ngx_http_v3xy_limit_batch_t *batch,
    ngx_uint_t i)
{
    ngx_http_v3xy_limit_part_t  part;

    part.lctx = batch->lctx[i];
    part.first = batch->first[i];
    part.zones = batch->zones[i];
    part.node = NULL;

    if (ngx_http_v3xy_limit_send(&part, 1, NULL, ngx_cycle->log) != NGX_OK) {
        part.lctx->failed = 1;
    }
}


/* a decision that no longer waits: out of the queue, or of its batch */

static void
ngx_http_v3xy_limit_forget(ngx_http_v3xy_limit_ctx_t *lctx)
{
    ngx_uint_t  i;

    if (lctx->queued) {
        ngx_queue_remove(&lctx->queue);
        lctx->queued = 0;
        ngx_http_v3xy_limit_npending--;
        ngx_http_v3xy_limit_nkeys -= lctx->n;
    }

    for (i = 0; i < lctx->nrefs; i++) {
        if (lctx->refs[i].batch) {
            lctx->refs[i].batch->lctx[lctx->refs[i].index] = NULL;
            lctx->refs[i].batch = NULL;
        }
    }

    lctx->waiting = 0;
}


static void
ngx_http_v3xy_limit_event(ngx_event_t *ev)
{
    ngx_http_v3xy_limit_ctx_t  *lctx = ev->data;

    ngx_uint_t                  i;
    ngx_connection_t           *c;
    ngx_http_request_t         *r;
    ngx_http_v3xy_redis_cmd_t  *cmd;

    r = lctx->request;
    c = r->connection;

    if (ev->timedout) {
        ev->timedout = 0;

        if (lctx->state == NGX_HTTP_V3XY_LIMIT_WAITING) {

            /* a command still unanswered: its node is blamed */

            cmd = NULL;

            for (i = 0; i < lctx->nrefs; i++) {
                if (lctx->refs[i].batch) {
                    cmd = lctx->refs[i].batch->cmd;
                    break;
                }
            }

            ngx_http_v3xy_limit_forget(lctx);

            lctx->state = NGX_HTTP_V3XY_LIMIT_FAILED;

            /* last: this may drop a connection and answer other batches */
            ngx_http_v3xy_redis_timed_out(cmd, ev->log);
        }
    }

    ngx_http_set_log_request(c->log, r);

    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_core_run_phases;

    ngx_http_core_run_phases(r);
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_v3xy_limit_cleanup(void *data)
{
    ngx_http_v3xy_limit_ctx_t  *lctx = data;

    ngx_http_v3xy_limit_forget(lctx);

    if (lctx->ev.timer_set) {
        ngx_del_timer(&lctx->ev);
    }

    if (lctx->ev.posted) {
        ngx_delete_posted_event(&lctx->ev);
    }
}


/* Redis is down, slow or wrong: v3xy_limit_fail, logged once an outage */

static ngx_int_t
ngx_http_v3xy_limit_fallback(ngx_http_request_t *r,
    ngx_http_v3xy_loc_conf_t *vlcf, ngx_http_v3xy_ctx_t *ctx)
{
    ngx_uint_t  mode, outage;

    mode = vlcf->limit_fail;
    outage = ngx_http_v3xy_redis_outage();

    if (ctx->limit_fallback == 0) {
        ctx->limit_fallback = mode + 1;
        ngx_http_v3xy_count(ngx_http_v3xy_metrics.fallback, mode);
    }

    if (ngx_http_v3xy_fail_logged[mode] != outage) {
        ngx_http_v3xy_fail_logged[mode] = outage;

        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "v3xy: redis unavailable for limits: "
                      "v3xy_limit_fail %s in effect",
                      ngx_http_v3xy_fail_names[mode]);
    }

    switch (mode) {

    case NGX_HTTP_V3XY_FAIL_OPEN:
        ctx->limit->admitted = 1;
        return NGX_DECLINED;

    case NGX_HTTP_V3XY_FAIL_CLOSED:
        return ngx_http_v3xy_refuse(r, NGX_HTTP_V3XY_ERR_LIMIT_UNAVAILABLE);

    default: /* NGX_HTTP_V3XY_FAIL_LOCAL */
        return ngx_http_v3xy_limit_local(r, ctx);
    }
}


static ngx_int_t
ngx_http_v3xy_limit_local(ngx_http_request_t *r, ngx_http_v3xy_ctx_t *ctx)
{
    ngx_int_t                   rc;
    ngx_uint_t                  i, open;
    ngx_http_v3xy_loc_conf_t   *vlcf;
    ngx_http_v3xy_limit_ctx_t  *lctx;

    lctx = ctx->limit;

    /*
     * A zone full of keys that still count (ngx_http_v3xy_shm.c warns)
     * cannot decide a new key: v3xy_limit_fail does.  "open" lets the key
     * pass that zone uncounted, the other zones still decide; "closed"
     * refuses with 503, and so does "local": it is this very store, and
     * admitting uncounted would break "never more than N" for whoever
     * can fill a zone.
     */

    vlcf = ngx_http_get_module_loc_conf(r, ngx_http_v3xy_module);
    open = (vlcf->limit_fail == NGX_HTTP_V3XY_FAIL_OPEN);

    for (i = 0; i < lctx->n; i++) {
        lctx->items[i].pass_full = open;
    }

    rc = ngx_http_v3xy_shm_decide(lctx->items, lctx->n,
                                  ngx_http_v3xy_now_ms(),
                                  r->connection->log);

    for (i = 0; i < lctx->n; i++) {
        if (lctx->items[i].full) {
            ngx_http_v3xy_count(lctx->zones[i]->full_metrics, open ? 0 : 1);
        }
    }

    if (rc == NGX_ERROR) {
        lctx->state = NGX_HTTP_V3XY_LIMIT_FULL;
        return ngx_http_v3xy_refuse(r, NGX_HTTP_V3XY_ERR_LIMIT_UNAVAILABLE);
    }

    lctx->admitted = (rc == NGX_OK);
    lctx->state = NGX_HTTP_V3XY_LIMIT_REPLIED;

    return ngx_http_v3xy_limit_verdict(r, ctx);
}


/*
 * The verdicts of every zone are in: remember the tightest zone (the one
 * that refused with the longest wait, or the one with the fewest admissions
 * left) for the headers, and refuse with 429 if any zone refused.
 */

static ngx_int_t
ngx_http_v3xy_limit_verdict(ngx_http_request_t *r, ngx_http_v3xy_ctx_t *ctx)
{
    ngx_uint_t                  i, t;
    v3xy_verdict_t             *v, *tv;
    ngx_http_v3xy_limit_ctx_t  *lctx;

    lctx = ctx->limit;

    if (lctx->n == 0 || lctx->judged) {
        return lctx->admitted ? NGX_DECLINED : NGX_DONE;
    }

    lctx->judged = 1;

    /* a replayed webhook is what it is, whatever the limits say */

    for (i = 0; i < lctx->n; i++) {
        if (lctx->zones[i]->replay && !lctx->items[i].verdict.admitted
            && !lctx->admitted && !lctx->items[i].full)
        {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "v3xy: webhook_replayed: delivery %V already "
                          "accepted within the tolerance",
                          &lctx->items[i].key);

            return ngx_http_v3xy_refuse(r,
                                        NGX_HTTP_V3XY_ERR_WEBHOOK_REPLAYED);
        }
    }

    /* the tightest zone, for the fields: the replay guard is not a limit */

    tv = NULL;
    t = 0;

    for (i = 0; i < lctx->n; i++) {

        /* a zone with no room for the key passed it (v3xy_limit_fail) */

        if (lctx->zones[i]->replay || lctx->items[i].full) {
            continue;
        }

        v = &lctx->items[i].verdict;

        /* admitted: the request was counted; refused: by this zone */

        if (lctx->admitted || !v->admitted) {
            ngx_http_v3xy_count(lctx->zones[i]->metrics,
                                lctx->admitted ? 0 : 1);
        }

        if (tv == NULL
            || (lctx->admitted ? v->remaining < tv->remaining
                               : v->retry_ms > tv->retry_ms))
        {
            t = i;
            tv = v;
        }
    }

    if (tv == NULL) {
        return lctx->admitted ? NGX_DECLINED : NGX_DONE;
    }

    /* an earlier location's zone may still be the tightest */

    if (lctx->admitted && ctx->limit_zone
        && ctx->limit_remaining <= tv->remaining)
    {
        return NGX_DECLINED;
    }

    ctx->limit_zone = lctx->zones[t];
    ctx->limit_remaining = tv->remaining;
    ctx->limit_reset = (tv->reset_ms + 999) / 1000;

    if (lctx->admitted) {
        return NGX_DECLINED;
    }

    ctx->retry_after = ngx_max((tv->retry_ms + 999) / 1000, 1);

    if (ctx->retry_after < ctx->limit_reset) {
        ctx->retry_after = ctx->limit_reset;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "v3xy: rate_limited: zone \"%V\" (%uL per %uL s) refused "
                  "the request, retry after %uL s", &ctx->limit_zone->name,
                  ctx->limit_zone->rate.limit,
                  ctx->limit_zone->rate.window_ms / 1000, ctx->retry_after);

    return ngx_http_v3xy_refuse(r, NGX_HTTP_V3XY_ERR_RATE_LIMITED);
}


/* RateLimit-Policy and RateLimit of the tightest zone */

static ngx_int_t
ngx_http_v3xy_header_filter(ngx_http_request_t *r)
{
    u_char               *p;
    size_t                len;
    ngx_str_t             value;
    ngx_http_v3xy_ctx_t  *ctx;

    if (r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_v3xy_find_ctx(r);

    if (ctx == NULL) {
        return ngx_http_next_header_filter(r);
    }

    if (ctx->limit_zone == NULL) {
        return ngx_http_next_header_filter(r);
    }

    if (ngx_http_v3xy_push_header(r, "RateLimit-Policy",
                                  &ctx->limit_zone->policy)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* "name";r=12;t=3, the name quoted as in the policy, no ngx_sprintf */

    len = ctx->limit_zone->name.len + 2;

    p = ngx_pnalloc(r->pool, len + sizeof(";r=;t=") - 1 + 2 * NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    value.data = p;
    p = ngx_cpymem(p, ctx->limit_zone->policy.data, len);
    p = ngx_cpymem(p, ";r=", 3);
    p = ngx_http_v3xy_uint(p, ctx->limit_remaining);
    p = ngx_cpymem(p, ";t=", 3);
    p = ngx_http_v3xy_uint(p, ctx->limit_reset);
    value.len = p - value.data;

    if (ngx_http_v3xy_push_header(r, "RateLimit", &value) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_next_header_filter(r);
}


/*
 * The end of every request (a client's abort, 499, included): a delivery
 * that the replay guard marked stays marked only if its sender got a 2xx,
 * whole.  V3XY delivers again what was not acknowledged (it stops waiting
 * after 10 s: here a 499; a backend's error, an upstream timeout, nginx's
 * own error, a response never begun, or a 2xx whose sending failed), with
 * the same signature: the mark goes, so that the retry passes.  The
 * header filter cannot decide this: it runs before the response is sent,
 * and never for a request that ends without one.  In a Redis Cluster the
 * guard is decided apart from the limits (another hash tag): it has
 * counted a delivery that a limit refused, and forgets it too.
 */

static ngx_int_t
ngx_http_v3xy_replay_log(ngx_http_request_t *r)
{
    ngx_http_v3xy_ctx_t        *ctx;
    ngx_http_v3xy_limit_ctx_t  *lctx;

    if (r != r->main) {
        return NGX_OK;
    }

    ctx = ngx_http_v3xy_find_ctx(r);

    if (ctx == NULL || !ctx->webhook_ok || ctx->limit == NULL) {
        return NGX_OK;
    }

    /* a client that timed out (send_timeout) did not get it whole either */

    if (r->header_sent
        && !r->connection->error
        && !r->connection->timedout
        && r->headers_out.status >= NGX_HTTP_OK
        && r->headers_out.status < NGX_HTTP_SPECIAL_RESPONSE)
    {
        return NGX_OK;
    }

    /*
     * Every location's decision of the request: the guard may have been
     * decided in one that an internal redirect left, and a later one's
     * zone refused the delivery.
     */

    for (lctx = ctx->limit; lctx; lctx = lctx->prev) {

        if (!lctx->admitted
            && !(ngx_http_v3xy_redis_cluster()
                 && lctx->state == NGX_HTTP_V3XY_LIMIT_REPLIED))
        {
            continue;
        }

        ngx_http_v3xy_replay_release(r, lctx);
    }

    return NGX_OK;
}


static void
ngx_http_v3xy_replay_release(ngx_http_request_t *r,
    ngx_http_v3xy_limit_ctx_t *lctx)
{
    u_char                     *p;
    ngx_str_t                   key;
    ngx_uint_t                  i;
    ngx_http_v3xy_zone_t       *zone;
    ngx_http_v3xy_main_conf_t  *vmcf;

    vmcf = ngx_http_get_module_main_conf(r, ngx_http_v3xy_module);

    for (i = 0; i < lctx->n; i++) {
        zone = lctx->zones[i];

        if (!zone->replay) {
            continue;
        }

        if (!lctx->admitted && !lctx->items[i].verdict.admitted) {
            /* refused as a replay: the first delivery's mark stays */
            continue;
        }

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "v3xy: webhook delivery %V not acknowledged "
                      "(status %ui%s): it may come again",
                      &lctx->items[i].key, r->headers_out.status,
                      !r->header_sent ? ", no response sent"
                      : (r->connection->error || r->connection->timedout)
                        ? ", sending failed" : "");

        ngx_http_v3xy_shm_forget(zone->shm_zone, &lctx->items[i].key);

        if (vmcf->redis == NULL) {
            continue;
        }

        p = ngx_pnalloc(r->pool, sizeof("v3xy:{:}") - 1 + zone->name.len
                                 + lctx->items[i].key.len);
        if (p == NULL) {
            continue;
        }

        key.data = p;
        key.len = ngx_sprintf(p, "v3xy:{%V:%V}", &zone->name,
                              &lctx->items[i].key)
                  - p;

        ngx_http_v3xy_redis_del(&key);
    }
}


/* n in decimal at p: a tenth of what ngx_sprintf("%uL") costs */

static u_char *
ngx_http_v3xy_uint(u_char *p, uint64_t n)
{
    u_char   buf[NGX_INT64_LEN];
    u_char  *q;

    q = buf + NGX_INT64_LEN;

    do {
        *--q = (u_char) ('0' + n % 10);
        n /= 10;
    } while (n);

    return ngx_cpymem(p, q, buf + NGX_INT64_LEN - q);
}


static ngx_int_t
ngx_http_v3xy_push_header(ngx_http_request_t *r, const char *name,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value = *value;

    return NGX_OK;
}
