/*
 * ngx_http_v3xy_limit_redis: decisions in Redis, batched.
 *
 * A decision waits for the end of the worker's event-loop pass; then the
 * pass's decisions go in one call of the limiter script (one per master in
 * a Redis Cluster), the replies resume their requests, a timeout or a
 * failure hands them to v3xy_limit_fail.
 */

#include "ngx_http_v3xy_module.h"
#include "ngx_http_v3xy_limit.h"
#include "ngx_http_v3xy_limit_internal.h"


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


/* this worker's decisions waiting for the end of the event-loop pass */
static ngx_queue_t   ngx_http_v3xy_limit_pending;
static ngx_uint_t    ngx_http_v3xy_limit_npending;
static ngx_uint_t    ngx_http_v3xy_limit_nkeys;
static ngx_event_t   ngx_http_v3xy_limit_flush_ev;

/* a zone's last argument: in dry run or not */
static ngx_str_t     ngx_http_v3xy_limit_dry[] = {
    ngx_string("0"), ngx_string("1")
};


/*
 * The limiter in Redis.  One call decides a batch of requests, in order,
 * each against the state that the ones before it left: ARGV[1] is the
 * number of decisions; then, for each decision, the number of its zones n
 * and, for each zone, its limit, window (ms), burst (0: exact rolling
 * window) and 1 if it is in dry run, else 0; KEYS holds the zones' states
 * in the same order.  Returns, for each decision, {admitted, then for each
 * zone: remaining, reset ms, retry ms}.  Within a decision every zone is
 * checked first and counted only if all admit, so a refused request costs
 * no zone anything; a zone in dry run (v3xy_limit_dry_run) takes no part
 * in "all": its refusal (retry ms > 0) blocks no other, and it counts
 * only what it admits, as ngx_http_v3xy_shm_decide() does.
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
 * The algorithm of a rate is src/v3xy_limiter.h's, the verdicts those of
 * src/v3xy_window.c and src/v3xy_slots.c (see there), numbers below 2^53
 * so that Lua's doubles are exact.
 * Exact window above 6 a window (slots): a string of 69 bytes, struct's
 * ">dI4B": the newest slot + 1, the slot's width w (ms) and the counters'
 * width (1, 2 or 4 bytes), then the 56 bytes of B + 1 counters, a ring
 * indexed by slot % (B + 1); admitted iff the counts of the last B + 1
 * slots are fewer than the limit.  Written whole with SET ... PX, the PX
 * being when the newest slot stops counting.  A state of another width of
 * slot or of counter (a fleet or a reload that changed the rate) has its
 * counts moved to the slots of the new rate, as v3xy_slots_convert() does.
 * Exact window up to 6: a string of limit + 1 doubles, the index of the
 * oldest slot then a ring of the last "limit" admission times (ms), written
 * with SETRANGE (cheaper in Redis than building and setting the whole
 * string again: measured, a SET ... PX of the whole string built in Lua,
 * one call instead of up to DEL, three SETRANGEs and PEXPIRE, cost Redis
 * 2-19 % more per decision, with rings of hundreds of times).  A request
 * is admitted iff the oldest is out of the window.  A ring of another
 * limit starts afresh.
 * GCRA: one number, the theoretical arrival time in microseconds.
 * Time is Redis's (TIME), the same for every nginx; a key whose newest
 * admission is ahead of it is judged at that instant (clamp).
 */

#define NGX_HTTP_V3XY_LIMIT_LUA_BODY                                          \
"local tunpack, unpack, pack = unpack, struct.unpack, struct.pack\n"          \
"local floor, max, min = math.floor, math.max, math.min\n"                    \
"local function rebucket(c, newest, sw, snb, w, nb)\n"                        \
"  local on, n = 56 / snb, 56 / nb\n"                                         \
"  local t, tn, cap = {}, -1, 256 ^ nb - 1\n"                                 \
"  for i = 1, n do t[i] = 0 end\n"                                            \
"  for j = max(newest - on + 1, 0), newest do\n"                              \
"    local x = c[j % on + 1]\n"                                               \
"    if x > 0 then\n"                                                         \
"      local d = floor(((j + 1) * sw - 1) / w)\n"                             \
"      if tn < 0 or d - tn >= n then\n"                                       \
"        for i = 1, n do t[i] = 0 end\n"                                      \
"        tn = d\n"                                                            \
"      elseif d > tn then\n"                                                  \
"        for q = tn + 1, d do t[q % n + 1] = 0 end\n"                         \
"        tn = d\n"                                                            \
"      end\n"                                                                 \
"      t[d % n + 1] = min(t[d % n + 1] + x, cap)\n"                           \
"    end\n"                                                                   \
"  end\n"                                                                     \
"  return t, tn\n"                                                            \
"end\n"                                                                       \
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
"  local dry = ARGV[ai + 3] == '1'\n"                                         \
"  ki, ai = ki + 1, ai + 4\n"                                                 \
"  local rem, reset, retry = 0, 0, 0\n"                                       \
"  local s = ok ~= 2 and call('GET', k)\n"                                    \
"  if type(s) == 'table' then ok = 2 end\n"                                   \
"  if ok == 2 then\n"                                                         \
"  elseif burst == 0 and limit > 6 then\n"                                    \
"    local nb = limit <= 255 and 1 or (limit <= 65535 and 2 or 4)\n"          \
"    local n = 56 / nb\n"                                                     \
"    local b = n - 1\n"                                                       \
"    local w = max(math.ceil(win / b), 1)\n"                                  \
"    local c, newest = {}, -1\n"                                              \
"    if s and #s == 69 then\n"                                                \
"      local sn, sw, snb = unpack('>dI4B', s)\n"                              \
"      if sn > 0 and (snb == 1 or snb == 2 or snb == 4) and sw > 0 then\n"    \
"        c = {unpack('>' .. string.rep('I' .. snb, 56 / snb), s, 14)}\n"      \
"        c[#c] = nil\n"                                                       \
"        newest = sn - 1\n"                                                   \
"        if sw ~= w or snb ~= nb then\n"                                      \
"          c, newest = rebucket(c, newest, sw, snb, w, nb)\n"                 \
"        end\n"                                                               \
"      end\n"                                                                 \
"    end\n"                                                                   \
"    if newest < 0 then for i = 1, n do c[i] = 0 end end\n"                   \
"    local S = floor(now / w)\n"                                              \
"    if newest >= 0 and S < newest then\n"                                    \
"      if newest - S <= b then\n"                                             \
"        S = newest\n"                                                        \
"      else\n"                                                                \
"        local sh, t = (newest - S) % n, {}\n"                                \
"        for i = 0, n - 1 do t[(i + n - sh) % n + 1] = c[i + 1] end\n"        \
"        c, newest = t, S\n"                                                  \
"      end\n"                                                                 \
"    end\n"                                                                   \
"    local lo, sum, acc = max(S - b, 0), 0, 0\n"                              \
"    for j = lo, newest do sum = sum + c[j % n + 1] end\n"                    \
"    local adm = sum < limit\n"                                               \
"    for q = 1, n do\n"                                                       \
"      local d = S + q - n\n"                                                 \
"      if d >= 0 then\n"                                                      \
"        local x = (d >= lo and d <= newest) and c[d % n + 1] or 0\n"         \
"        if d == S and adm then x = x + 1 end\n"                              \
"        acc = acc + x\n"                                                     \
"        if (adm and acc > 0) or (not adm and sum - acc < limit) then\n"      \
"          reset = (S + q) * w - now\n"                                       \
"          break\n"                                                           \
"        end\n"                                                               \
"      end\n"                                                                 \
"    end\n"                                                                   \
"    if adm then\n"                                                           \
"      rem = limit - sum - 1\n"                                               \
"      todo[#todo + 1] = {k, 2, c, newest, S, n, nb, w, b}\n"                 \
"    else\n"                                                                  \
"      if not dry then ok = 0 end\n"                                          \
"      retry = reset\n"                                                       \
"    end\n"                                                                   \
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
"      if not dry then ok = 0 end\n"                                          \
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
"      if not dry then ok = 0 end\n"                                          \
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
"    if e[2] == 2 then\n"                                                     \
"      local c, newest, S, n = e[3], e[4], e[5], e[6]\n"                      \
"      if newest < 0 or S - newest >= n then\n"                               \
"        for i = 1, n do c[i] = 0 end\n"                                      \
"      else\n"                                                                \
"        for j = newest + 1, S do c[j % n + 1] = 0 end\n"                     \
"      end\n"                                                                 \
"      newest = max(newest, S)\n"                                             \
"      c[S % n + 1] = c[S % n + 1] + 1\n"                                     \
"      redis.call('SET', e[1],\n"                                             \
"                 pack('>dI4B' .. string.rep('I' .. e[7], n), newest + 1,\n"  \
"                      e[8], e[7], tunpack(c)),\n"                            \
"                 'PX', (newest + e[9] + 1) * e[8] - now)\n"                  \
"    elseif e[2] == 0 then\n"                                                 \
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


/* the scripts, and this worker's queue */

ngx_int_t
ngx_http_v3xy_limit_redis_init(ngx_conf_t *cf)
{
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

    return NGX_OK;
}


ngx_int_t
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

    if (parts != NULL) {
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

    for (i = 0; parts != NULL && i < nparts; i++) {
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

    if (parts != NULL) {
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
    ngx_http_v3xy_zone_rate_t    *zr;
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
     * KEYS, then ARGV: m, and per decision n and 4 per zone; to a node,
     * the number of keys first
     */

    nargs = ((node != NULL) ? 1 : 0) + nkeys + 1 + m + 4 * nkeys;

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

    keys = (node != NULL) ? args + 1 : args;
    argv = keys + nkeys;

    /* the counts are written after the arguments, in the same allocation */
    p = (u_char *) (args + nargs);

    if (node != NULL) {
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
            zr = lctx->rates[z];

            *keys++ = lctx->keys[z];
            *argv++ = zr->args[0];
            *argv++ = zr->args[1];
            *argv++ = zr->args[2];
            *argv++ = lctx->items[z].dry ? ngx_http_v3xy_limit_dry[1]
                                         : ngx_http_v3xy_limit_dry[0];
        }
    }

    /* the rates' own numbers were formatted at configuration time */

    if (node != NULL) {
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
