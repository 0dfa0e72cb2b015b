/*
 * ngx_http_v3xy_metrics: what the module decided, counted in shared memory
 * and served in Prometheus's text format (0.0.4) by "v3xy_metrics".
 *
 * Without a v3xy_metrics location nothing is counted: no zone, no log
 * handler, and every count is a test of a NULL pointer.  With one, the
 * http block gets a zone, "v3xy_metrics", of groups of counters: a group
 * is an array of atomic words under a name ("requests", "zone:payments"),
 * made in the master when the configuration is read and found again by
 * name after a reload, so that counters carry on as Prometheus expects.
 * Workers add with atomic operations (no lock); a scrape reads them all.
 *
 * Labels only take values that the configuration bounds: roles, the
 * module's error codes, zone and breaker names, worker numbers.  Never a
 * key, an account, an address or a path.
 */

#include "ngx_http_v3xy_metrics.h"


#define NGX_HTTP_V3XY_METRICS_SIZE  (256 * 1024)

/* a histogram: one word per bucket (the last is +Inf), then the sum */
#define NGX_HTTP_V3XY_UP_BUCKETS    12


typedef struct ngx_http_v3xy_mgroup_s  ngx_http_v3xy_mgroup_t;

struct ngx_http_v3xy_mgroup_s {
    ngx_http_v3xy_mgroup_t    *next;
    ngx_uint_t                 n;          /* counters */
    ngx_atomic_t              *values;
    ngx_str_t                  name;
};


typedef struct {
    ngx_http_v3xy_mgroup_t    *groups;
    ngx_uint_t                 full;       /* logged: the zone is full */
} ngx_http_v3xy_msh_t;


static ngx_int_t ngx_http_v3xy_metrics_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_atomic_t *ngx_http_v3xy_metrics_group(ngx_shm_zone_t *shm_zone,
    ngx_http_v3xy_msh_t *sh, char *kind, ngx_str_t *name, ngx_uint_t n);
static ngx_int_t ngx_http_v3xy_metrics_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_v3xy_metrics_log(ngx_http_request_t *r);
static ngx_int_t ngx_http_v3xy_metrics_requests(ngx_http_v3xy_mout_t *out,
    ngx_http_v3xy_metrics_t *m);
static ngx_int_t ngx_http_v3xy_metrics_nginx(ngx_http_v3xy_mout_t *out);
static ngx_int_t ngx_http_v3xy_metrics_upstream(ngx_http_v3xy_mout_t *out,
    ngx_http_v3xy_metrics_t *m);
static u_char *ngx_http_v3xy_mseconds(u_char *p, uint64_t us);


/* this worker's counters, or NULLs: set in init_process */
ngx_http_v3xy_metrics_t  ngx_http_v3xy_metrics;


static ngx_str_t  ngx_http_v3xy_ok = ngx_string("ok");


/* the upstream's response time: milliseconds, from 5 ms to 10 s */
static uint64_t  ngx_http_v3xy_up_bounds[NGX_HTTP_V3XY_UP_BUCKETS - 1] = {
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000
};


/* v3xy_metrics: this location serves the metrics */

char *
ngx_http_v3xy_metrics_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_str_t                   name;
    ngx_http_core_loc_conf_t   *clcf;
    ngx_http_v3xy_main_conf_t  *vmcf;

    vmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_v3xy_module);

    if (vmcf->metrics_zone == NULL) {
        ngx_str_set(&name, "v3xy_metrics");

        vmcf->metrics_zone = ngx_shared_memory_add(cf, &name,
                                                   NGX_HTTP_V3XY_METRICS_SIZE,
                                                   &ngx_http_v3xy_module);
        if (vmcf->metrics_zone == NULL) {
            return NGX_CONF_ERROR;
        }

        if (vmcf->metrics_zone->data != NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "shared memory zone \"v3xy_metrics\" is "
                               "already used");
            return NGX_CONF_ERROR;
        }

        vmcf->metrics_zone->init = ngx_http_v3xy_metrics_init_zone;
        vmcf->metrics_zone->data = vmcf;

        /* worker_processes is known when the zone is made */
        vmcf->metrics_ccf = (ngx_core_conf_t *)
                                ngx_get_conf(cf->cycle->conf_ctx,
                                             ngx_core_module);
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_v3xy_metrics_handler;

    return NGX_CONF_OK;
}


/* the log handler counts each request once, when it is done */

ngx_int_t
ngx_http_v3xy_metrics_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;
    ngx_http_v3xy_main_conf_t  *vmcf;

    vmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_v3xy_module);

    if (vmcf->metrics_zone == NULL) {
        return NGX_OK;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_v3xy_metrics_log;

    return NGX_OK;
}


/*
 * In the master, once the configuration is read: every group this
 * configuration counts in, found by name (a reload keeps its counts) or
 * made.  The workers take the pointers in init_process.
 */

static ngx_int_t
ngx_http_v3xy_metrics_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_uint_t                  i, j, workers;
    ngx_slab_pool_t            *shpool;
    ngx_core_conf_t            *ccf;
    ngx_http_v3xy_msh_t        *sh;
    ngx_http_v3xy_zone_t      **zones;
    ngx_http_v3xy_backup_t    **bp;
    ngx_http_v3xy_metrics_t    *m;
    ngx_http_v3xy_main_conf_t  *vmcf;

    vmcf = shm_zone->data;
    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (data != NULL) {
        sh = data;

    } else if (shm_zone->shm.exists) {
        sh = shpool->data;

    } else {
        sh = ngx_slab_calloc(shpool, sizeof(ngx_http_v3xy_msh_t));
        if (sh == NULL) {
            return NGX_ERROR;
        }

        shpool->data = sh;
    }

    shm_zone->data = sh;

    m = &vmcf->metrics;

    m->requests = ngx_http_v3xy_metrics_group(shm_zone, sh, "requests", NULL,
                                              4 * NGX_HTTP_V3XY_ERR_LAST);
    m->fallback = ngx_http_v3xy_metrics_group(shm_zone, sh, "fallback", NULL,
                                              3);
    m->failover = ngx_http_v3xy_metrics_group(shm_zone, sh, "failover", NULL,
                                              NGX_HTTP_V3XY_FAILOVER_BREAKER
                                              + 1);
    m->webhook = ngx_http_v3xy_metrics_group(shm_zone, sh, "webhook", NULL,
                                             NGX_HTTP_V3XY_ERR_LAST);
    m->key_cache = ngx_http_v3xy_metrics_group(shm_zone, sh, "key_cache",
                                               NULL, 4);
    m->upstream_429 = ngx_http_v3xy_metrics_group(shm_zone, sh,
                                                  "upstream_429", NULL, 4 * 2);
    m->session_cache = ngx_http_v3xy_metrics_group(shm_zone, sh,
                                                   "session_cache", NULL, 4);
    m->upstream = ngx_http_v3xy_metrics_group(shm_zone, sh, "upstream", NULL,
                                              2 * (NGX_HTTP_V3XY_UP_BUCKETS
                                                   + 1));

    if (vmcf->redis != NULL) {
        ccf = vmcf->metrics_ccf;

        /* the cycle being made: its workers, as worker_processes says */
        workers = (ccf->worker_processes > 0)
                  ? (ngx_uint_t) ccf->worker_processes : 1;

        m->workers = workers;
        m->redis = ngx_http_v3xy_metrics_group(shm_zone, sh, "redis", NULL,
                                               4);
        m->redis_up = ngx_http_v3xy_metrics_group(shm_zone, sh, "redis_up",
                                                  NULL, workers);
        m->redis_rtt = ngx_http_v3xy_metrics_group(shm_zone, sh, "redis_rtt",
                                                   NULL,
                                                   NGX_HTTP_V3XY_RTT_BUCKETS
                                                   + 1);
    }

    zones = vmcf->zones.elts;

    for (i = 0; i < vmcf->zones.nelts; i++) {

        /* rate= under the zone's name (as before tiers), a tier's apart */

        zones[i]->rates[0].metrics = ngx_http_v3xy_metrics_group(shm_zone,
                                         sh, "zone", &zones[i]->name, 3);

        for (j = 1; j < zones[i]->nrates; j++) {
            zones[i]->rates[j].metrics = ngx_http_v3xy_metrics_group(
                                             shm_zone, sh, "zone_tier",
                                             &zones[i]->rates[j].group, 3);
        }

        zones[i]->full_metrics = ngx_http_v3xy_metrics_group(shm_zone, sh,
                                                             "zone_full",
                                                             &zones[i]->name,
                                                             2);
    }

    /* the replay guard's zones: their names are "webhook.replay.<s>" */

    zones = vmcf->replay_zones.elts;

    for (i = 0; i < vmcf->replay_zones.nelts; i++) {
        zones[i]->full_metrics = ngx_http_v3xy_metrics_group(shm_zone, sh,
                                                             "zone_full",
                                                             &zones[i]->name,
                                                             2);
    }

    bp = vmcf->backups.elts;

    for (i = 0; i < vmcf->backups.nelts; i++) {
        bp[i]->metrics = ngx_http_v3xy_metrics_group(shm_zone, sh, "breaker",
                                                     &bp[i]->label, 1);
    }

    return NGX_OK;
}


/*
 * The group of a kind and a name, made if this zone has none yet; a zone
 * that is full (many reloads with ever new zone names) leaves the group
 * uncounted rather than fail the reload.
 */

static ngx_atomic_t *
ngx_http_v3xy_metrics_group(ngx_shm_zone_t *shm_zone,
    ngx_http_v3xy_msh_t *sh, char *kind, ngx_str_t *name, ngx_uint_t n)
{
    u_char                  *p;
    size_t                   len;
    ngx_slab_pool_t         *shpool;
    ngx_http_v3xy_mgroup_t  *g;

    len = ngx_strlen(kind) + ((name != NULL) ? 1 + name->len : 0);

    for (g = sh->groups; g; g = g->next) {
        if (g->n == n && g->name.len == len
            && ngx_strncmp(g->name.data, kind, ngx_strlen(kind)) == 0
            && (name == NULL
                || ngx_strncmp(g->name.data + len - name->len, name->data,
                               name->len) == 0))
        {
            return g->values;
        }
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    g = ngx_slab_calloc(shpool, sizeof(ngx_http_v3xy_mgroup_t)
                                + n * sizeof(ngx_atomic_t) + len);
    if (g == NULL) {
        if (!sh->full) {
            sh->full = 1;
            ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                          "v3xy: the \"v3xy_metrics\" zone is full: some "
                          "metrics are not counted until nginx restarts");
        }

        return NULL;
    }

    g->n = n;
    g->values = (ngx_atomic_t *) (g + 1);
    g->name.data = (u_char *) (g->values + n);
    g->name.len = len;

    p = ngx_cpymem(g->name.data, kind, ngx_strlen(kind));

    if (name != NULL) {
        *p++ = ':';
        ngx_memcpy(p, name->data, name->len);
    }

    g->next = sh->groups;
    sh->groups = g;

    return g->values;
}


/* in a worker: the counters of this configuration */

void
ngx_http_v3xy_metrics_init_process(ngx_http_v3xy_main_conf_t *vmcf)
{
    if (vmcf->metrics_zone != NULL) {
        ngx_http_v3xy_metrics = vmcf->metrics;
        return;
    }

    ngx_memzero(&ngx_http_v3xy_metrics, sizeof(ngx_http_v3xy_metrics_t));
}


void
ngx_http_v3xy_metrics_histogram(ngx_atomic_t *h, uint64_t *bounds,
    ngx_uint_t nb, uint64_t value)
{
    ngx_uint_t  i;

    for (i = 0; i < nb - 1; i++) {
        if (value <= bounds[i]) {
            break;
        }
    }

    (void) ngx_atomic_fetch_add(&h[i], 1);
    (void) ngx_atomic_fetch_add(&h[nb], (ngx_atomic_int_t) value);
}


/* the log phase: the request's outcome, its failover, its upstreams */

static ngx_int_t
ngx_http_v3xy_metrics_log(ngx_http_request_t *r)
{
    ngx_uint_t                  role, err, i, n, first_backup, backup;
    ngx_atomic_t               *h;
    ngx_http_v3xy_ctx_t        *ctx;
    ngx_http_upstream_state_t  *state;
    ngx_http_v3xy_metrics_t    *m;

    m = &ngx_http_v3xy_metrics;

    if (m->requests == NULL) {
        return NGX_OK;
    }

    /* the access handler (or a refusal) gave the request its role */

    ctx = ngx_http_v3xy_find_ctx(r);

    if (ctx == NULL || ctx->role == NGX_HTTP_V3XY_ROLE_NONE) {
        return NGX_OK;
    }

    role = ctx->role;
    err = ctx->error;

    ngx_http_v3xy_count(m->requests, role * NGX_HTTP_V3XY_ERR_LAST + err);

    /* webhooks: a verdict for each request that reached the check */

    if (role == NGX_HTTP_V3XY_ROLE_WEBHOOK
        && ((err >= NGX_HTTP_V3XY_ERR_WEBHOOK_MISSING
             && err <= NGX_HTTP_V3XY_ERR_WEBHOOK_REPLAYED)
            || (err == NGX_HTTP_V3XY_ERR_NONE && ctx->webhook_ok)))
    {
        ngx_http_v3xy_count(m->webhook, err);
    }

    if (ctx->upstream == NGX_HTTP_V3XY_UPSTREAM_BACKUP
        && ctx->failover != NGX_HTTP_V3XY_FAILOVER_NONE)
    {
        ngx_http_v3xy_count(m->failover, ctx->failover);
    }

    /*
     * The response times of the upstreams asked: the backup's is the last
     * when the request failed over, all of them when the breaker sent it
     * there at once.
     */

    if (r->upstream_states == NULL || r->upstream_states->nelts == 0) {
        return NGX_OK;
    }

    state = r->upstream_states->elts;
    n = r->upstream_states->nelts;

    first_backup = n;

    if (ctx->upstream == NGX_HTTP_V3XY_UPSTREAM_BACKUP) {
        first_backup = (ctx->failover == NGX_HTTP_V3XY_FAILOVER_BREAKER)
                       ? 0 : n - 1;
    }

    for (i = 0; i < n; i++) {
        if (state[i].peer == NULL
            || state[i].response_time == (ngx_msec_t) -1)
        {
            continue;
        }

        backup = (i >= first_backup);
        h = m->upstream + backup * (NGX_HTTP_V3XY_UP_BUCKETS + 1);

        ngx_http_v3xy_metrics_histogram(h, ngx_http_v3xy_up_bounds,
                                        NGX_HTTP_V3XY_UP_BUCKETS,
                                        state[i].response_time);
    }

    return NGX_OK;
}


/*
 * GET: the text format.  The requests first, then each capability's
 * families in the order of the module's table, then nginx's own.
 */

static ngx_int_t
ngx_http_v3xy_metrics_handler(ngx_http_request_t *r)
{
    ngx_int_t                   rc;
    ngx_chain_t                *cl;
    ngx_http_v3xy_mout_t        out;
    ngx_http_v3xy_mprint_pt    *print;
    ngx_http_v3xy_main_conf_t  *vmcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {

        /* the refusal finalizes the request; the content phase, again */
        r->main->count++;

        return ngx_http_v3xy_refuse(r, NGX_HTTP_V3XY_ERR_METHOD);
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    vmcf = ngx_http_get_module_main_conf(r, ngx_http_v3xy_module);

    out.first = NULL;
    out.last = &out.first;
    out.b = NULL;
    out.pool = r->pool;

    if (ngx_http_v3xy_metrics_requests(&out, &vmcf->metrics) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (print = vmcf->metrics_families; *print != NULL; print++) {
        if ((*print)(&out, vmcf) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (ngx_http_v3xy_metrics_nginx(&out) != NGX_OK
        || ngx_http_v3xy_metrics_upstream(&out, &vmcf->metrics) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = 0;

    for (cl = out.first; cl; cl = cl->next) {
        r->headers_out.content_length_n += cl->buf->last - cl->buf->pos;
    }

    ngx_str_set(&r->headers_out.content_type,
                "text/plain; version=0.0.4; charset=utf-8");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.b->last_buf = (r == r->main) ? 1 : 0;
    out.b->last_in_chain = 1;

    return ngx_http_output_filter(r, out.first);
}


/* requests by role and outcome: every role's "ok", the codes that happened */

static ngx_int_t
ngx_http_v3xy_metrics_requests(ngx_http_v3xy_mout_t *out,
    ngx_http_v3xy_metrics_t *m)
{
    u_char        *p;
    ngx_uint_t     i, role;
    ngx_atomic_t  *v;

    if (ngx_http_v3xy_mfamily(out, "v3xy_requests_total", "counter",
                              "Requests the module handled, by role and by "
                              "outcome (ok, or the code of its refusal).")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (role = 1; m->requests != NULL && role < 4; role++) {
        v = m->requests + role * NGX_HTTP_V3XY_ERR_LAST;

        for (i = 0; i < NGX_HTTP_V3XY_ERR_LAST; i++) {

            if (i && v[i] == 0) {
                continue;
            }

            p = ngx_http_v3xy_mreserve(out, 128);
            if (p == NULL) {
                return NGX_ERROR;
            }

            out->b->last = ngx_sprintf(p,
                              "v3xy_requests_total{role=\"%V\",code=\"%V\"} "
                              "%uA\n", &ngx_http_v3xy_role_names[role],
                              i ? ngx_http_v3xy_error_code(i)
                                : &ngx_http_v3xy_ok, v[i]);
        }
    }

    return NGX_OK;
}


/* nginx's own counters, as stub_status shows them */

static ngx_int_t
ngx_http_v3xy_metrics_nginx(ngx_http_v3xy_mout_t *out)
{
#if (NGX_STAT_STUB)

    u_char  *p;

    p = ngx_http_v3xy_mreserve(out, 1536);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->b->last = ngx_sprintf(p,
        "# HELP v3xy_nginx_connections Client connections of this nginx "
        "now, by state (as stub_status).\n"
        "# TYPE v3xy_nginx_connections gauge\n"
        "v3xy_nginx_connections{state=\"active\"} %uA\n"
        "v3xy_nginx_connections{state=\"reading\"} %uA\n"
        "v3xy_nginx_connections{state=\"writing\"} %uA\n"
        "v3xy_nginx_connections{state=\"waiting\"} %uA\n"
        "# HELP v3xy_nginx_connections_total Client connections accepted "
        "and handled since nginx started.\n"
        "# TYPE v3xy_nginx_connections_total counter\n"
        "v3xy_nginx_connections_total{state=\"accepted\"} %uA\n"
        "v3xy_nginx_connections_total{state=\"handled\"} %uA\n"
        "# HELP v3xy_nginx_http_requests_total Client requests since nginx "
        "started, all locations.\n"
        "# TYPE v3xy_nginx_http_requests_total counter\n"
        "v3xy_nginx_http_requests_total %uA\n",
        *ngx_stat_active, *ngx_stat_reading, *ngx_stat_writing,
        *ngx_stat_waiting, *ngx_stat_accepted, *ngx_stat_handled,
        *ngx_stat_requests);

#endif

    return NGX_OK;
}


/* the upstreams' response times: the primary's, the backup's */

static ngx_int_t
ngx_http_v3xy_metrics_upstream(ngx_http_v3xy_mout_t *out,
    ngx_http_v3xy_metrics_t *m)
{
    ngx_uint_t  i;

    if (ngx_http_v3xy_mfamily(out, "v3xy_upstream_response_seconds",
                              "histogram",
                              "Response times of the upstream of the "
                              "module's locations: the primary base URL or "
                              "the backup.")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; m->upstream != NULL && i < 2; i++) {
        if (ngx_http_v3xy_mprint_histogram(out,
                                 "v3xy_upstream_response_seconds",
                                 i ? "upstream=\"backup\""
                                   : "upstream=\"primary\"",
                                 m->upstream
                                 + i * (NGX_HTTP_V3XY_UP_BUCKETS + 1),
                                 ngx_http_v3xy_up_bounds,
                                 NGX_HTTP_V3XY_UP_BUCKETS, 1000)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* room for n bytes in the last buffer, or a new one */

u_char *
ngx_http_v3xy_mreserve(ngx_http_v3xy_mout_t *out, size_t n)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (out->b != NULL && (size_t) (out->b->end - out->b->last) >= n) {
        return out->b->last;
    }

    b = ngx_create_temp_buf(out->pool, ngx_max(n, 8192));
    if (b == NULL) {
        return NULL;
    }

    cl = ngx_alloc_chain_link(out->pool);
    if (cl == NULL) {
        return NULL;
    }

    cl->buf = b;
    cl->next = NULL;

    *out->last = cl;
    out->last = &cl->next;
    out->b = b;

    return b->last;
}


ngx_int_t
ngx_http_v3xy_mfamily(ngx_http_v3xy_mout_t *out, char *name, char *type,
    char *help)
{
    u_char  *p;
    size_t   len;

    len = 2 * ngx_strlen(name) + ngx_strlen(type) + ngx_strlen(help) + 32;

    p = ngx_http_v3xy_mreserve(out, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->b->last = ngx_sprintf(p, "# HELP %s %s\n# TYPE %s %s\n",
                               name, help, name, type);

    return NGX_OK;
}


/*
 * A histogram of nb buckets (the last +Inf) and a sum, counted in units of
 * 1/scale second: cumulative buckets, _sum in seconds, _count.
 */

ngx_int_t
ngx_http_v3xy_mprint_histogram(ngx_http_v3xy_mout_t *out, char *name,
    char *labels, ngx_atomic_t *h, uint64_t *bounds, ngx_uint_t nb,
    ngx_uint_t scale)
{
    u_char      *p;
    uint64_t     sum, count;
    ngx_uint_t   i, comma;

    comma = (labels[0] != '\0');

    p = ngx_http_v3xy_mreserve(out, (nb + 2) * (ngx_strlen(name)
                                                + ngx_strlen(labels) + 64));
    if (p == NULL) {
        return NGX_ERROR;
    }

    count = 0;

    for (i = 0; i < nb; i++) {
        count += h[i];

        if (i == nb - 1) {
            p = ngx_sprintf(p, "%s_bucket{%s%sle=\"+Inf\"} %uL\n",
                            name, labels, comma ? "," : "", count);
            break;
        }

        p = ngx_sprintf(p, "%s_bucket{%s%sle=\"", name, labels,
                        comma ? "," : "");
        p = ngx_http_v3xy_mseconds(p, bounds[i] * (1000000 / scale));
        p = ngx_sprintf(p, "\"} %uL\n", count);
    }

    sum = h[nb];

    p = ngx_sprintf(p, "%s_sum%s%s%s ", name, comma ? "{" : "", labels,
                    comma ? "}" : "");
    p = ngx_http_v3xy_mseconds(p, sum * (1000000 / scale));
    p = ngx_sprintf(p, "\n%s_count%s%s%s %uL\n", name, comma ? "{" : "",
                    labels, comma ? "}" : "", count);

    out->b->last = p;

    return NGX_OK;
}


/* microseconds as seconds, without trailing zeros: 0.00025, 1, 2.5 */

static u_char *
ngx_http_v3xy_mseconds(u_char *p, uint64_t us)
{
    u_char  *frac;

    p = ngx_sprintf(p, "%uL", us / 1000000);

    if (us % 1000000 == 0) {
        return p;
    }

    frac = p;
    p = ngx_sprintf(p, ".%06uL", us % 1000000);

    while (p[-1] == '0' && p - 1 > frac) {
        p--;
    }

    return p;
}
