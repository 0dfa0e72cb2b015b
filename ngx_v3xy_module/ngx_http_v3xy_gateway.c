/*
 * ngx_http_v3xy_gateway: developer keys checked at the edge, in front of
 * the API gateway.
 *
 * A request's key is checked for its form, hashed once (the store's digest
 * and the fingerprint for the logs), found in the key store, and its
 * scopes checked against v3xy_scope; the backend then gets the account
 * (X-V3XY-Account) and not the key, unless v3xy_key_forward on.
 *
 * v3xy_key_store file=PATH loads SHA-256 digests of keys (never keys),
 * with their account, scopes, tier and status, when the configuration is
 * loaded (reload to change), sorted for a binary search.  A key's tier
 * chooses the rate of each zone that names it (ngx_http_v3xy_limit.c).
 *
 * v3xy_key_store redis looks a key up in the hash v3xy:key:<digest> with
 * one HMGET on the worker's Redis connection (ngx_http_v3xy_redis.c) and
 * keeps the answer, refusals included, in a cache in shared memory for
 * cache= (10s by default).  While a lookup is under way the request waits
 * (NGX_AGAIN) and resumes from a posted event; the worker's other requests
 * with the same key meanwhile wait for the same lookup.  A key whose
 * answer is not in the cache is refused with 503 key_store_unavailable
 * while Redis is down, slow or answers wrongly: never a silent pass.
 *
 * v3xy_session_store redis does the same for the session tokens of the
 * API's Session endpoints (Authorization: Bearer <token>): the hash
 * v3xy:session:<sha256 of the token> (account, status; its TTL is the
 * session's end) gives the account, which the backend gets as for keys
 * (X-V3XY-Account, besides the Authorization header, which goes on);
 * 401 session_missing, session_invalid, 503 session_store_unavailable.
 * Its answers have a cache of their own, and its lookups a tree of their
 * own: a token and a key never share an answer.
 *
 * The cache and what it costs: ngx_http_v3xy_key_cache.h.
 */

#include "ngx_http_v3xy_module.h"
#include "ngx_http_v3xy_gateway.h"
#include "ngx_http_v3xy_key.h"
#include "ngx_http_v3xy_key_cache.h"
#include "ngx_http_v3xy_shm.h"
#include "v3xy_key.h"
#include "v3xy_keystore.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>


/* a key store file of more than this is not a key store */
#define NGX_HTTP_V3XY_KEY_STORE_MAX  (64 * 1024 * 1024)

/* a request's answer: none yet, or Redis did not answer (503) */
#define NGX_HTTP_V3XY_KEY_WAITING    0
#define NGX_HTTP_V3XY_KEY_FAILED     5

/* cache= by default */
#define NGX_HTTP_V3XY_KEY_CACHE_TIME  10000

/* a malformed hash is logged at most once per this many ms */
#define NGX_HTTP_V3XY_KEY_LOG_MS      60000


struct ngx_http_v3xy_key_store_s {
    ngx_str_t                  path;
    v3xy_ks_entry_t           *entries;   /* sorted by digest */
    ngx_uint_t                 n;

    ngx_http_v3xy_key_cache_t *cache;     /* redis: the cache, else NULL */
    ngx_msec_t                 valid;     /* cache=: an answer's life */
    ngx_uint_t                 session;   /* a session store */
};


/* a lookup in Redis, in the worker's memory, and the requests it serves */
typedef struct {
    ngx_http_v3xy_key_tnode_t  tn;
    ngx_http_v3xy_redis_cmd_t *cmd;
    ngx_event_t                timer;
    ngx_queue_t                waiters;   /* of ngx_http_v3xy_gateway_ctx_t */
    ngx_http_v3xy_key_cache_t *cache;
    uint64_t                   started;   /* ms */
    ngx_uint_t                 session;   /* of a session store */
    size_t                     key_id_len;
    u_char                     key_id[V3XY_KEY_ID_LEN];  /* or a
                                              session's, which is shorter */
} ngx_http_v3xy_key_lookup_t;


/* a request waiting for a lookup, then its answer */
struct ngx_http_v3xy_gateway_ctx_s {
    ngx_http_request_t          *request;
    ngx_http_v3xy_key_lookup_t  *lookup;  /* NULL once answered */
    ngx_queue_t                  queue;   /* among the lookup's waiters */
    ngx_event_t                  ev;      /* resumes the request */
    ngx_uint_t                   answer;  /* NGX_HTTP_V3XY_KEY_* */
    ngx_uint_t                   why;
    const char                  *failure; /* NGX_HTTP_V3XY_KEY_FAILED */
    ngx_str_t                    key_id;
    ngx_str_t                    account;
    ngx_str_t                    scopes;
    ngx_str_t                    tier;
};


static ngx_http_v3xy_key_store_t *ngx_http_v3xy_key_store_redis(
    ngx_conf_t *cf, ngx_uint_t session);
static ngx_int_t ngx_http_v3xy_key_store_load(ngx_conf_t *cf,
    ngx_http_v3xy_key_store_t *ks);
static int ngx_libc_cdecl ngx_http_v3xy_key_store_cmp(const void *a,
    const void *b);
static v3xy_ks_entry_t *ngx_http_v3xy_key_store_find(
    ngx_http_v3xy_key_store_t *ks, u_char *digest);

static ngx_int_t ngx_http_v3xy_gateway_redis(ngx_http_request_t *r,
    ngx_http_v3xy_loc_conf_t *vlcf, ngx_http_v3xy_ctx_t *ctx,
    u_char *digest, ngx_str_t *key_id);
static ngx_int_t ngx_http_v3xy_gateway_answer(ngx_http_request_t *r,
    ngx_http_v3xy_loc_conf_t *vlcf, ngx_http_v3xy_ctx_t *ctx,
    ngx_uint_t answer, ngx_uint_t why, ngx_str_t *account,
    ngx_str_t *scopes, ngx_str_t *tier, ngx_str_t *key_id);
static ngx_int_t ngx_http_v3xy_gateway_decide(ngx_http_request_t *r,
    ngx_http_v3xy_loc_conf_t *vlcf, ngx_http_v3xy_ctx_t *ctx,
    ngx_uint_t answer, ngx_uint_t why, v3xy_ks_entry_t *e,
    ngx_str_t *key_id);
static void ngx_http_v3xy_key_cache_result(ngx_http_v3xy_ctx_t *ctx,
    ngx_uint_t session, ngx_uint_t result);
static ngx_int_t ngx_http_v3xy_gateway_rescope(ngx_http_request_t *r,
    ngx_http_v3xy_loc_conf_t *vlcf, ngx_http_v3xy_ctx_t *ctx);
static ngx_int_t ngx_http_v3xy_gateway_unavailable(ngx_http_request_t *r,
    ngx_uint_t session, const char *failure, ngx_str_t *key_id);
static ngx_int_t ngx_http_v3xy_gateway_account(ngx_http_request_t *r,
    ngx_str_t *account);
static ngx_uint_t ngx_http_v3xy_session_preflight(ngx_http_request_t *r);
static ngx_int_t ngx_http_v3xy_session_answer(ngx_http_request_t *r,
    ngx_http_v3xy_ctx_t *ctx, ngx_uint_t answer, ngx_uint_t why,
    ngx_str_t *account, ngx_str_t *session_id);
static ngx_int_t ngx_http_v3xy_gateway_refuse(ngx_http_request_t *r,
    ngx_http_v3xy_err_e err, const char *reason, ngx_str_t *key_id);

static ngx_int_t ngx_http_v3xy_key_lookup(ngx_http_request_t *r,
    ngx_http_v3xy_key_store_t *ks, ngx_http_v3xy_ctx_t *ctx,
    u_char *digest, ngx_str_t *key_id);
static ngx_http_v3xy_key_lookup_t *ngx_http_v3xy_key_lookup_start(
    ngx_http_request_t *r, ngx_http_v3xy_key_store_t *ks, u_char *digest,
    ngx_str_t *key_id);
static void ngx_http_v3xy_key_lookup_reply(void *data, redisReply *reply);
static void ngx_http_v3xy_key_lookup_timeout(ngx_event_t *ev);
static void ngx_http_v3xy_key_lookup_finish(ngx_http_v3xy_key_lookup_t *lk,
    ngx_uint_t answer, ngx_uint_t why, const char *failure,
    v3xy_ks_entry_t *e);
static void ngx_http_v3xy_key_malformed(ngx_http_v3xy_key_lookup_t *lk,
    v3xy_ks_status_e why);
static void ngx_http_v3xy_gateway_event(ngx_event_t *ev);
static void ngx_http_v3xy_gateway_cleanup(void *data);


static ngx_str_t  ngx_http_v3xy_account_header = ngx_string("X-V3XY-Account");
static ngx_str_t  ngx_http_v3xy_no_key = ngx_string("-");
static ngx_uint_t  ngx_http_v3xy_account_hash;

static v3xy_ks_str_t  ngx_http_v3xy_key_active = {
    (const unsigned char *) "active", sizeof("active") - 1
};

static v3xy_ks_str_t  ngx_http_v3xy_key_no_tier = { NULL, 0 };

/* the worker's lookups under way, by digest: [0] keys, [1] sessions */
static ngx_rbtree_t       ngx_http_v3xy_key_lookups[2];
static ngx_rbtree_node_t  ngx_http_v3xy_key_lookups_sentinel[2];

/* the outage for which key_store_unavailable (or session_...) was logged */
static ngx_uint_t  ngx_http_v3xy_key_fail_logged[2] = {
    (ngx_uint_t) -1, (ngx_uint_t) -1
};
static uint64_t    ngx_http_v3xy_key_malformed_logged[2];

/* what a key store and a session store say in their log lines */
static char  *ngx_http_v3xy_store_what[2] = { "key", "session" };
static char  *ngx_http_v3xy_store_id[2] = { "key ", "" };


/* configuration */

char *
ngx_http_v3xy_key_store(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_v3xy_loc_conf_t *vlcf = conf;

    ngx_str_t                  *value;
    ngx_http_v3xy_key_store_t  *ks;
    ngx_http_v3xy_main_conf_t  *vmcf;

    if (vlcf->key_store != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    if (ngx_http_v3xy_conf_once(cf, 1, NULL) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "redis") == 0) {
        vlcf->key_store = ngx_http_v3xy_key_store_redis(cf, 0);
        return (vlcf->key_store != NULL) ? NGX_CONF_OK : NGX_CONF_ERROR;
    }

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        vlcf->key_store = NULL;
        return NGX_CONF_OK;
    }

    if (cf->args->nelts != 2
        || ngx_strncmp(value[1].data, "file=", 5) != 0 || value[1].len == 5)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "v3xy_key_store takes file=PATH, "
                           "redis [cache=TIME] [size=SIZE], or off");
        return NGX_CONF_ERROR;
    }

    ks = ngx_pcalloc(cf->pool, sizeof(ngx_http_v3xy_key_store_t));
    if (ks == NULL) {
        return NGX_CONF_ERROR;
    }

    ks->path.data = value[1].data + 5;
    ks->path.len = value[1].len - 5;

    if (ngx_conf_full_name(cf->cycle, &ks->path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_v3xy_key_store_load(cf, ks) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    vlcf->key_store = ks;

    vmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_v3xy_module);
    vmcf->stores++;

    return NGX_CONF_OK;
}


/* v3xy_session_store redis [cache=TIME] [size=SIZE] | off */

char *
ngx_http_v3xy_session_store(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_v3xy_loc_conf_t *vlcf = conf;

    ngx_str_t  *value;

    if (vlcf->session_store != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    if (ngx_http_v3xy_conf_once(cf, 1, NULL) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        vlcf->session_store = NULL;
        return NGX_CONF_OK;
    }

    if (ngx_strcmp(value[1].data, "redis") != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "v3xy_session_store takes redis [cache=TIME] "
                           "[size=SIZE], or off");
        return NGX_CONF_ERROR;
    }

    vlcf->session_store = ngx_http_v3xy_key_store_redis(cf, 1);

    return (vlcf->session_store != NULL) ? NGX_CONF_OK : NGX_CONF_ERROR;
}


/*
 * v3xy_key_store redis [cache=TIME] [size=SIZE]: every such store of the
 * http block shares one cache zone (ngx_http_v3xy_key_cache.c), every
 * v3xy_session_store redis another; v3xy_redis is checked for once the
 * http block is read.
 */

static ngx_http_v3xy_key_store_t *
ngx_http_v3xy_key_store_redis(ngx_conf_t *cf, ngx_uint_t session)
{
    size_t                      size;
    ngx_str_t                  *value, s;
    ngx_int_t                   n;
    ngx_msec_t                  valid;
    ngx_uint_t                  i;
    ngx_http_v3xy_key_cache_t  *kc;
    ngx_http_v3xy_key_store_t  *ks;
    ngx_http_v3xy_main_conf_t  *vmcf;

    value = cf->args->elts;

    vmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_v3xy_module);
    vmcf->stores++;

    valid = NGX_HTTP_V3XY_KEY_CACHE_TIME;
    size = 0;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "cache=", 6) == 0) {
            s.data = value[i].data + 6;
            s.len = value[i].len - 6;

            valid = ngx_parse_time(&s, 0);
            if (valid == (ngx_msec_t) NGX_ERROR || valid == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid cache time \"%V\": more than 0 "
                                   "(every request would cost a Redis "
                                   "lookup)", &value[i]);
                return NULL;
            }

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
                return NULL;
            }

            size = n;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NULL;
    }

    if (session) {
        kc = ngx_http_v3xy_key_cache_add(cf, &vmcf->session_cache,
                                         "v3xy_session_cache",
                                         "v3xy_session_store", size);

    } else {
        kc = ngx_http_v3xy_key_cache_add(cf, &vmcf->key_cache,
                                         "v3xy_key_cache", "v3xy_key_store",
                                         size);
    }
    if (kc == NULL) {
        return NULL;
    }

    ks = ngx_pcalloc(cf->pool, sizeof(ngx_http_v3xy_key_store_t));
    if (ks == NULL) {
        return NULL;
    }

    ngx_str_set(&ks->path, "redis");
    ks->cache = kc;
    ks->valid = valid;
    ks->session = session;

    return ks;
}


char *
ngx_http_v3xy_scope(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_v3xy_loc_conf_t *vlcf = conf;

    ngx_str_t      *value;
    ngx_uint_t      i;
    v3xy_ks_str_t  *s;

    if (vlcf->scopes != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    vlcf->scopes = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                    sizeof(v3xy_ks_str_t));
    if (vlcf->scopes == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 1; i < cf->args->nelts; i++) {
        if (!v3xy_ks_scope_valid(value[i].data, value[i].len)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid scope \"%V\": 1 to 32 characters "
                               "of a-z 0-9 _ : . -", &value[i]);
            return NGX_CONF_ERROR;
        }

        s = ngx_array_push(vlcf->scopes);
        if (s == NULL) {
            return NGX_CONF_ERROR;
        }

        s->data = value[i].data;
        s->len = value[i].len;
    }

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_v3xy_gateway_init(ngx_conf_t *cf)
{
    ngx_uint_t                  i;
    ngx_http_v3xy_key_cache_t  *kc;
    ngx_http_v3xy_main_conf_t  *vmcf;

    vmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_v3xy_module);

    for (i = 0; i < 2; i++) {
        kc = i ? vmcf->session_cache : vmcf->key_cache;

        if (kc == NULL) {
            continue;
        }

        if (vmcf->redis == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"%s redis\" in %V:%ui needs v3xy_redis in the "
                          "http block", kc->what, &kc->file, kc->line);
            return NGX_ERROR;
        }

        ngx_http_v3xy_key_cache_init(kc);
    }

    return NGX_OK;
}


/* the file store */

static ngx_int_t
ngx_http_v3xy_key_store_load(ngx_conf_t *cf, ngx_http_v3xy_key_store_t *ks)
{
    u_char            *buf, *p, *last, *eol;
    size_t             size;
    ssize_t            n;
    ngx_fd_t           fd;
    ngx_int_t          rc;
    ngx_uint_t         line, i;
    ngx_file_t         file;
    ngx_array_t        entries;
    v3xy_ks_entry_t   *e;
    ngx_file_info_t    fi;
    v3xy_ks_status_e   status;

    rc = NGX_ERROR;

    /* non-blocking: a FIFO would hang the open until a writer comes */

    fd = ngx_open_file(ks->path.data, NGX_FILE_RDONLY|NGX_FILE_NONBLOCK,
                       NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "v3xy_key_store: cannot open \"%V\"", &ks->path);
        return NGX_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR || !ngx_is_file(&fi)
        || ngx_file_size(&fi) > NGX_HTTP_V3XY_KEY_STORE_MAX)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "v3xy_key_store: \"%V\" is not a regular file of "
                           "at most 64 MB", &ks->path);
        goto done;
    }

    size = (size_t) ngx_file_size(&fi);

    /* the entries point into this buffer: it lives with the configuration */

    buf = ngx_pnalloc(cf->pool, size + 1);
    if (buf == NULL) {
        goto done;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.fd = fd;
    file.name = ks->path;
    file.log = cf->log;

    n = size ? ngx_read_file(&file, buf, size, 0) : 0;

    if (n != (ssize_t) size) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "v3xy_key_store: cannot read \"%V\"", &ks->path);
        goto done;
    }

    if (ngx_array_init(&entries, cf->pool, 64, sizeof(v3xy_ks_entry_t))
        != NGX_OK)
    {
        goto done;
    }

    last = buf + size;
    line = 0;

    for (p = buf; p < last; p = eol + 1) {
        line++;

        eol = ngx_strlchr(p, last, '\n');
        if (eol == NULL) {
            eol = last;
        }

        e = ngx_array_push(&entries);
        if (e == NULL) {
            goto done;
        }

        status = v3xy_ks_parse_line(p, eol - p, e);

        if (status == V3XY_KS_SKIP) {
            entries.nelts--;
            continue;
        }

        if (status != V3XY_KS_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "v3xy_key_store: \"%V\" line %ui: %s",
                               &ks->path, line, v3xy_ks_status_text(status));
            goto done;
        }
    }

    ks->entries = entries.elts;
    ks->n = entries.nelts;

    ngx_qsort(ks->entries, ks->n, sizeof(v3xy_ks_entry_t),
              ngx_http_v3xy_key_store_cmp);

    for (i = 1; i < ks->n; i++) {
        if (ngx_memcmp(ks->entries[i - 1].digest, ks->entries[i].digest, 32)
            == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "v3xy_key_store: \"%V\" lists one key twice "
                               "(account \"%*s\")", &ks->path,
                               ks->entries[i].account.len,
                               ks->entries[i].account.data);
            goto done;
        }
    }

    if (ngx_file_access(&fi) & S_IWOTH) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "v3xy_key_store: \"%V\" is writable by other "
                           "users", &ks->path);
    }

    ngx_conf_log_error(NGX_LOG_NOTICE, cf, 0,
                       "v3xy_key_store: \"%V\" holds %ui key%s",
                       &ks->path, ks->n, (ks->n == 1) ? "" : "s");

    rc = NGX_OK;

done:

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_ALERT, cf, ngx_errno,
                           ngx_close_file_n " \"%V\" failed", &ks->path);
    }

    return rc;
}


static int ngx_libc_cdecl
ngx_http_v3xy_key_store_cmp(const void *a, const void *b)
{
    const v3xy_ks_entry_t  *ea = a;
    const v3xy_ks_entry_t  *eb = b;

    return ngx_memcmp(ea->digest, eb->digest, 32);
}


static v3xy_ks_entry_t *
ngx_http_v3xy_key_store_find(ngx_http_v3xy_key_store_t *ks, u_char *digest)
{
    ngx_int_t         c;
    ngx_uint_t        lo, hi, mid;
    v3xy_ks_entry_t  *e;

    lo = 0;
    hi = ks->n;

    /*
     * The search orders by the digest of the presented key, which tells
     * nothing about the stored ones; the final comparison is constant time.
     */

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        c = ngx_memcmp(ks->entries[mid].digest, digest, 32);

        if (c < 0) {
            lo = mid + 1;

        } else {
            hi = mid;
        }
    }

    if (lo == ks->n) {
        return NULL;
    }

    e = &ks->entries[lo];

    return CRYPTO_memcmp(e->digest, digest, 32) == 0 ? e : NULL;
}


/* the request */

/*
 * The gateway's decisions after the browser check: NGX_OK with the
 * account in ctx, NGX_AGAIN while Redis is asked, or a refusal (NGX_DONE).
 */

ngx_int_t
ngx_http_v3xy_gateway(ngx_http_request_t *r, ngx_http_v3xy_loc_conf_t *vlcf,
    ngx_http_v3xy_ctx_t *ctx, ngx_http_v3xy_headers_t *hs)
{
    u_char                       *digest;
    ngx_str_t                    *key, key_id;
    ngx_table_elt_t              *h;
    v3xy_ks_entry_t              *e;
    ngx_http_v3xy_gateway_ctx_t  *g;

    if (ctx->account.len) {

        /*
         * Judged in another location (an internal redirect): this one's
         * scopes are checked, or, under another key store, the key is
         * judged again (by its digest: the header may be gone).
         */

        if (ctx->gateway_store == vlcf->key_store) {
            return ngx_http_v3xy_gateway_rescope(r, vlcf, ctx);
        }

        ngx_str_null(&ctx->account);
        ngx_str_null(&ctx->tier);
        ctx->gateway = NULL;
    }

    g = ctx->gateway;

    if (g != NULL) {
        /* resumed: the lookup has answered */

        if (g->lookup != NULL) {
            return NGX_AGAIN;
        }

        if (g->answer == NGX_HTTP_V3XY_KEY_FAILED) {
            return ngx_http_v3xy_gateway_unavailable(r, 0, g->failure,
                                                     &g->key_id);
        }

        return ngx_http_v3xy_gateway_answer(r, vlcf, ctx, g->answer, g->why,
                                            &g->account, &g->scopes,
                                            &g->tier, &g->key_id);
    }

    if (ctx->key_digested) {
        digest = ctx->key_digest;
        key_id = ctx->key_id;
        goto judge;
    }

    if (hs->key_header == NULL) {
        return ngx_http_v3xy_gateway_refuse(r,
                                         NGX_HTTP_V3XY_ERR_API_KEY_MISSING,
                                         "no X-V3XY-API-Key", NULL);
    }

    h = r->headers_in.authorization;

    if (h != NULL && h->value.len > 7
        && ngx_strncasecmp(h->value.data, (u_char *) "Bearer ", 7) == 0)
    {
        return ngx_http_v3xy_gateway_refuse(r,
                                        NGX_HTTP_V3XY_ERR_CREDENTIALS_MIXED,
                                        "a developer key and a session "
                                        "token", NULL);
    }

    key = &hs->key_header->value;
    digest = ctx->key_digest;

    /* one SHA-256: the store's digest and the fingerprint for the logs */

    if (ngx_http_v3xy_sha256(key->data, key->len, digest) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    key_id.data = ngx_pnalloc(r->pool, V3XY_KEY_ID_LEN);
    if (key_id.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    key_id.len = V3XY_KEY_ID_LEN;
    v3xy_key_id_from_digest(digest, key_id.data);

    /* $v3xy_key_id names the presented key, refused ones too */
    ctx->key_id = key_id;

    if (hs->key_headers > 1) {
        return ngx_http_v3xy_gateway_refuse(r,
                                         NGX_HTTP_V3XY_ERR_API_KEY_INVALID,
                                         "more than one X-V3XY-API-Key",
                                         &key_id);
    }

    if (v3xy_key_check(key->data, key->len) != V3XY_KEY_OK) {
        return ngx_http_v3xy_gateway_refuse(r,
                                         NGX_HTTP_V3XY_ERR_API_KEY_INVALID,
                                         "not of the key's form", &key_id);
    }

    ctx->key_digested = 1;

judge:

    ctx->gateway_store = vlcf->key_store;

    if (vlcf->key_store->cache != NULL) {
        return ngx_http_v3xy_gateway_redis(r, vlcf, ctx, digest, &key_id);
    }

    e = ngx_http_v3xy_key_store_find(vlcf->key_store, digest);

    if (e == NULL) {
        return ngx_http_v3xy_gateway_decide(r, vlcf, ctx,
                                            NGX_HTTP_V3XY_KEY_UNKNOWN, 0,
                                            NULL, &key_id);
    }

    return ngx_http_v3xy_gateway_decide(r, vlcf, ctx,
                                        e->revoked ? NGX_HTTP_V3XY_KEY_REVOKED
                                                   : NGX_HTTP_V3XY_KEY_VALID,
                                        0, e, &key_id);
}


/* the Redis store: an answer of the cache, or a lookup */

static ngx_int_t
ngx_http_v3xy_gateway_redis(ngx_http_request_t *r,
    ngx_http_v3xy_loc_conf_t *vlcf, ngx_http_v3xy_ctx_t *ctx, u_char *digest,
    ngx_str_t *key_id)
{
    u_char                     *p;
    u_char                      buf[NGX_HTTP_V3XY_KEY_CACHE_BUF];
    ngx_str_t                   account, scopes, tier;
    ngx_uint_t                  answer, why;
    ngx_http_v3xy_key_store_t  *ks;

    ks = vlcf->key_store;

    ngx_str_null(&account);
    ngx_str_null(&scopes);
    ngx_str_null(&tier);

    answer = ngx_http_v3xy_key_cache_get(ks->cache, digest, ks->valid, buf,
                                         &account, &scopes, &tier, &why);

    if (answer == NGX_HTTP_V3XY_KEY_WAITING) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "v3xy: key cache: miss, key %V", key_id);

        ngx_http_v3xy_key_cache_result(ctx, 0, NGX_HTTP_V3XY_KC_MISS);

        return ngx_http_v3xy_key_lookup(r, ks, ctx, digest, key_id);
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "v3xy: key cache: hit (%ui), key %V", answer, key_id);

    ngx_http_v3xy_key_cache_result(ctx, 0, answer == NGX_HTTP_V3XY_KEY_VALID
                                           ? NGX_HTTP_V3XY_KC_HIT
                                           : NGX_HTTP_V3XY_KC_NEGATIVE);

    if (answer == NGX_HTTP_V3XY_KEY_VALID) {
        /*
         * The account and the tier outlive buf: $v3xy_account,
         * X-V3XY-Account, $v3xy_tier, the limits
         */

        p = ngx_pnalloc(r->pool, account.len + tier.len);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_memcpy(p, account.data, account.len);
        account.data = p;

        ngx_memcpy(p + account.len, tier.data, tier.len);
        tier.data = p + account.len;
    }

    return ngx_http_v3xy_gateway_answer(r, vlcf, ctx, answer, why, &account,
                                        &scopes, &tier, key_id);
}


/* an answer of the Redis store; a valid key's strings are in r's memory */

static ngx_int_t
ngx_http_v3xy_gateway_answer(ngx_http_request_t *r,
    ngx_http_v3xy_loc_conf_t *vlcf, ngx_http_v3xy_ctx_t *ctx,
    ngx_uint_t answer, ngx_uint_t why, ngx_str_t *account, ngx_str_t *scopes,
    ngx_str_t *tier, ngx_str_t *key_id)
{
    v3xy_ks_str_t    a, s, t;
    v3xy_ks_entry_t  e;

    if (answer != NGX_HTTP_V3XY_KEY_VALID) {
        return ngx_http_v3xy_gateway_decide(r, vlcf, ctx, answer, why, NULL,
                                            key_id);
    }

    a.data = account->data;
    a.len = account->len;
    s.data = scopes->data;
    s.len = scopes->len;
    t.data = tier->len ? tier->data : NULL;
    t.len = tier->len;

    /* checked when the answer came: it parses again */

    if (v3xy_ks_parse_hash(&a, &s, &ngx_http_v3xy_key_active, &t, &e)
        != V3XY_KS_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "v3xy: a valid key's answer does not parse again");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_v3xy_gateway_decide(r, vlcf, ctx, answer, 0, &e, key_id);
}


/*
 * What a store's answer means for the request; a valid key's account
 * (e->account) must live as long as the request.
 */

static ngx_int_t
ngx_http_v3xy_gateway_decide(ngx_http_request_t *r,
    ngx_http_v3xy_loc_conf_t *vlcf, ngx_http_v3xy_ctx_t *ctx,
    ngx_uint_t answer, ngx_uint_t why, v3xy_ks_entry_t *e, ngx_str_t *key_id)
{
    u_char           *p;
    u_char            reason[128];
    v3xy_ks_str_t    *scopes;

    switch (answer) {

    case NGX_HTTP_V3XY_KEY_VALID:
        break;

    case NGX_HTTP_V3XY_KEY_REVOKED:
        return ngx_http_v3xy_gateway_refuse(r,
                                         NGX_HTTP_V3XY_ERR_API_KEY_INVALID,
                                         "revoked key", key_id);

    case NGX_HTTP_V3XY_KEY_MALFORMED:
        p = ngx_snprintf(reason, sizeof(reason) - 1,
                         "malformed key store entry (%s)",
                         v3xy_ks_status_text((v3xy_ks_status_e) why));
        *p = '\0';

        return ngx_http_v3xy_gateway_refuse(r,
                                         NGX_HTTP_V3XY_ERR_API_KEY_INVALID,
                                         (const char *) reason, key_id);

    default: /* NGX_HTTP_V3XY_KEY_UNKNOWN */
        return ngx_http_v3xy_gateway_refuse(r,
                                         NGX_HTTP_V3XY_ERR_API_KEY_INVALID,
                                         "unknown key", key_id);
    }

    if (vlcf->scopes != NULL) {
        scopes = vlcf->scopes->elts;

        if (!v3xy_ks_has_scopes(e, scopes, vlcf->scopes->nelts)) {
            return ngx_http_v3xy_gateway_refuse(r,
                                           NGX_HTTP_V3XY_ERR_API_KEY_SCOPE,
                                           "a scope of the location is "
                                           "missing", key_id);
        }
    }

    /* the key's scopes, for the locations that an internal redirect finds */

    ctx->scopes.data = ngx_pnalloc(r->pool, V3XY_KS_SCOPES_JOINED_MAX);
    if (ctx->scopes.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->scopes.len = v3xy_ks_scopes_join(e, ctx->scopes.data);

    ctx->key_id = *key_id;
    ctx->account.data = (u_char *) e->account.data;
    ctx->account.len = e->account.len;
    ctx->tier.data = (u_char *) e->tier.data;
    ctx->tier.len = e->tier.len;
    ctx->session_store = NULL;

    /* the backend gets the key only if told so */

    if (!vlcf->key_forward
        && ngx_http_v3xy_remove_key_headers(r) == NGX_ERROR)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_v3xy_gateway_account(r, &ctx->account);
}


/*
 * The backend gets the account in X-V3XY-Account, never one the client
 * sent: it would speak for another account.
 */

static ngx_int_t
ngx_http_v3xy_gateway_account(ngx_http_request_t *r, ngx_str_t *account)
{
    ngx_table_elt_t  *h;

    /* a subrequest's list head is a copy of its parent's: built anew */

    if (ngx_http_v3xy_remove_headers(r, (u_char *) "x-v3xy-account",
                                     sizeof("x-v3xy-account") - 1,
                                     r != r->main)
        == NGX_ERROR)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h = ngx_list_push(&r->headers_in.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_v3xy_account_hash == 0) {
        ngx_http_v3xy_account_hash = ngx_hash_key((u_char *) "x-v3xy-account",
                                               sizeof("x-v3xy-account") - 1);
    }

    h->key = ngx_http_v3xy_account_header;
    h->lowcase_key = (u_char *) "x-v3xy-account";
    h->hash = ngx_http_v3xy_account_hash;
    h->value = *account;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    return NGX_OK;
}


/*
 * A key judged valid in another location of this request (an internal
 * redirect: X-Accel-Redirect, error_page, try_files): the scopes of this
 * location, which serves the request, decide.
 */

static ngx_int_t
ngx_http_v3xy_gateway_rescope(ngx_http_request_t *r,
    ngx_http_v3xy_loc_conf_t *vlcf, ngx_http_v3xy_ctx_t *ctx)
{
    v3xy_ks_str_t     a, s;
    v3xy_ks_entry_t   e;

    if (vlcf->scopes == NULL) {
        goto forward;
    }

    a.data = ctx->account.data;
    a.len = ctx->account.len;
    s.data = ctx->scopes.data;
    s.len = ctx->scopes.len;

    if (v3xy_ks_parse_hash(&a, &s, &ngx_http_v3xy_key_active,
                           &ngx_http_v3xy_key_no_tier, &e)
        != V3XY_KS_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "v3xy: a valid key's scopes do not parse again");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!v3xy_ks_has_scopes(&e, vlcf->scopes->elts, vlcf->scopes->nelts)) {
        return ngx_http_v3xy_gateway_refuse(r,
                                           NGX_HTTP_V3XY_ERR_API_KEY_SCOPE,
                                           "a scope of the location is "
                                           "missing (after an internal "
                                           "redirect)", &ctx->key_id);
    }

forward:

    if (!vlcf->key_forward
        && ngx_http_v3xy_remove_key_headers(r) == NGX_ERROR)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_OK;
}


/* sessions */

/*
 * The session step: NGX_OK with the session's account in ctx (and in
 * X-V3XY-Account), NGX_AGAIN while Redis is asked, or a refusal
 * (NGX_DONE).  A CORS preflight (OPTIONS with
 * Access-Control-Request-Method) carries no credentials by the Fetch
 * standard: it goes on without an account.
 */

ngx_int_t
ngx_http_v3xy_session(ngx_http_request_t *r, ngx_http_v3xy_loc_conf_t *vlcf,
    ngx_http_v3xy_ctx_t *ctx, ngx_http_v3xy_headers_t *hs)
{
    u_char                       *p;
    u_char                        digest[SHA256_DIGEST_LENGTH];
    u_char                        buf[NGX_HTTP_V3XY_KEY_CACHE_BUF];
    ngx_str_t                     account, scopes, tier, session_id;
    ngx_uint_t                    answer, why;
    v3xy_ks_str_t                 token;
    ngx_table_elt_t              *h;
    v3xy_ks_bearer_e              rc;
    ngx_http_v3xy_key_store_t    *ks;
    ngx_http_v3xy_gateway_ctx_t  *g;

    ks = vlcf->session_store;

    if (ctx->account.len) {

        /* judged in another location (an internal redirect) */

        if (ctx->session_store == ks) {
            return NGX_OK;
        }

        ngx_str_null(&ctx->account);
        ngx_str_null(&ctx->tier);
        ctx->session = NULL;
    }

    g = ctx->session;

    if (g != NULL) {
        /* resumed: the lookup has answered */

        if (g->lookup != NULL) {
            return NGX_AGAIN;
        }

        if (g->answer == NGX_HTTP_V3XY_KEY_FAILED) {
            return ngx_http_v3xy_gateway_unavailable(r, 1, g->failure,
                                                     &g->key_id);
        }

        return ngx_http_v3xy_session_answer(r, ctx, g->answer, g->why,
                                            &g->account, &g->key_id);
    }

    h = r->headers_in.authorization;

    if (r->method == NGX_HTTP_OPTIONS && h == NULL && !hs->key_headers
        && ngx_http_v3xy_session_preflight(r))
    {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "v3xy: session store: a CORS preflight goes on");
        return NGX_OK;
    }

    rc = (h != NULL) ? v3xy_ks_bearer(h->value.data, h->value.len, &token)
                     : V3XY_KS_BEARER_NONE;

    if (hs->key_headers) {
        if (rc != V3XY_KS_BEARER_NONE) {
            return ngx_http_v3xy_gateway_refuse(r,
                                        NGX_HTTP_V3XY_ERR_CREDENTIALS_MIXED,
                                        "a developer key and a session "
                                        "token", NULL);
        }

        return ngx_http_v3xy_gateway_refuse(r,
                                        NGX_HTTP_V3XY_ERR_SESSION_MISSING,
                                        "a developer key where a session "
                                        "is needed", NULL);
    }

    if (rc == V3XY_KS_BEARER_NONE) {
        return ngx_http_v3xy_gateway_refuse(r,
                                        NGX_HTTP_V3XY_ERR_SESSION_MISSING,
                                        (h == NULL)
                                        ? "no Authorization"
                                        : "Authorization of another scheme "
                                          "than Bearer", NULL);
    }

    if (rc == V3XY_KS_BEARER_MALFORMED) {
        return ngx_http_v3xy_gateway_refuse(r,
                                        NGX_HTTP_V3XY_ERR_SESSION_INVALID,
                                        "a Bearer token not of RFC 6750's "
                                        "form", NULL);
    }

    /* one SHA-256: the store's digest and the fingerprint for the logs */

    if (ngx_http_v3xy_sha256((u_char *) token.data, token.len, digest)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    session_id.data = ngx_pnalloc(r->pool, V3XY_KS_SESSION_ID_LEN);
    if (session_id.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    session_id.len = V3XY_KS_SESSION_ID_LEN;
    v3xy_ks_session_id(digest, session_id.data);

    ctx->session_id = session_id;

    ngx_str_null(&account);
    ngx_str_null(&scopes);
    ngx_str_null(&tier);

    answer = ngx_http_v3xy_key_cache_get(ks->cache, digest, ks->valid, buf,
                                         &account, &scopes, &tier, &why);

    if (answer == NGX_HTTP_V3XY_KEY_WAITING) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "v3xy: session cache: miss, %V", &session_id);

        ngx_http_v3xy_key_cache_result(ctx, 1, NGX_HTTP_V3XY_KC_MISS);

        return ngx_http_v3xy_key_lookup(r, ks, ctx, digest, &session_id);
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "v3xy: session cache: hit (%ui), %V", answer,
                   &session_id);

    ngx_http_v3xy_key_cache_result(ctx, 1, answer == NGX_HTTP_V3XY_KEY_VALID
                                           ? NGX_HTTP_V3XY_KC_HIT
                                           : NGX_HTTP_V3XY_KC_NEGATIVE);

    if (answer == NGX_HTTP_V3XY_KEY_VALID) {
        /* the account outlives buf: $v3xy_account, X-V3XY-Account */

        p = ngx_pnalloc(r->pool, account.len);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_memcpy(p, account.data, account.len);
        account.data = p;
    }

    return ngx_http_v3xy_session_answer(r, ctx, answer, why, &account,
                                        &session_id);
}


/* OPTIONS with Access-Control-Request-Method: a CORS preflight */

static ngx_uint_t
ngx_http_v3xy_session_preflight(ngx_http_request_t *r)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return 0;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == sizeof("Access-Control-Request-Method") - 1
            && ngx_strncasecmp(h[i].key.data,
                               (u_char *) "Access-Control-Request-Method",
                               h[i].key.len) == 0)
        {
            return 1;
        }
    }
}


/*
 * What the session store's answer means; a valid session's account is in
 * r's memory.
 */

static ngx_int_t
ngx_http_v3xy_session_answer(ngx_http_request_t *r, ngx_http_v3xy_ctx_t *ctx,
    ngx_uint_t answer, ngx_uint_t why, ngx_str_t *account,
    ngx_str_t *session_id)
{
    u_char                     *p;
    u_char                      reason[128];
    ngx_http_v3xy_loc_conf_t   *vlcf;

    switch (answer) {

    case NGX_HTTP_V3XY_KEY_VALID:
        break;

    case NGX_HTTP_V3XY_KEY_REVOKED:
        return ngx_http_v3xy_gateway_refuse(r,
                                         NGX_HTTP_V3XY_ERR_SESSION_INVALID,
                                         "revoked session", session_id);

    case NGX_HTTP_V3XY_KEY_MALFORMED:
        p = ngx_snprintf(reason, sizeof(reason) - 1,
                         "malformed session store entry (%s)",
                         v3xy_ks_status_text((v3xy_ks_status_e) why));
        *p = '\0';

        return ngx_http_v3xy_gateway_refuse(r,
                                         NGX_HTTP_V3XY_ERR_SESSION_INVALID,
                                         (const char *) reason, session_id);

    default: /* NGX_HTTP_V3XY_KEY_UNKNOWN */
        return ngx_http_v3xy_gateway_refuse(r,
                                         NGX_HTTP_V3XY_ERR_SESSION_INVALID,
                                         "unknown or expired session",
                                         session_id);
    }

    vlcf = ngx_http_get_module_loc_conf(r, ngx_http_v3xy_module);

    /* a session has no tier: its account's zones take their default */

    ctx->account = *account;
    ngx_str_null(&ctx->tier);
    ctx->session_store = vlcf->session_store;

    /* another location's key store judges again after a redirect */
    ctx->gateway_store = NULL;
    ctx->gateway_lcf = NULL;

    return ngx_http_v3xy_gateway_account(r, &ctx->account);
}


/*
 * What the cache said (NGX_HTTP_V3XY_KC_*): metrics, $v3xy_key_cache (of
 * a key; of a session, its metrics only)
 */

static void
ngx_http_v3xy_key_cache_result(ngx_http_v3xy_ctx_t *ctx, ngx_uint_t session,
    ngx_uint_t result)
{
    if (session) {
        ngx_http_v3xy_count(ngx_http_v3xy_metrics.session_cache, result);

        if (ctx != NULL) {
            ctx->session_cache = result + 1;
        }

        return;
    }

    ngx_http_v3xy_count(ngx_http_v3xy_metrics.key_cache, result);

    if (ctx != NULL) {
        ctx->key_cache = result + 1;
    }
}


/* Redis failed for a key not in the cache: 503, logged once an outage */

static ngx_int_t
ngx_http_v3xy_gateway_unavailable(ngx_http_request_t *r, ngx_uint_t session,
    const char *failure, ngx_str_t *key_id)
{
    ngx_uint_t  outage;

    outage = ngx_http_v3xy_redis_outage();

    ngx_http_v3xy_key_cache_result(ngx_http_v3xy_find_ctx(r), session,
                                   NGX_HTTP_V3XY_KC_FAILED);

    if (ngx_http_v3xy_key_fail_logged[session] != outage) {
        ngx_http_v3xy_key_fail_logged[session] = outage;

        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "v3xy: redis unavailable for the %s store (%s): %ss "
                      "not in the cache are refused with 503 %s",
                      ngx_http_v3xy_store_what[session], failure,
                      ngx_http_v3xy_store_what[session],
                      session ? "session_store_unavailable"
                              : "key_store_unavailable");
    }

    return ngx_http_v3xy_gateway_refuse(r,
                           session
                           ? NGX_HTTP_V3XY_ERR_SESSION_STORE_UNAVAILABLE
                           : NGX_HTTP_V3XY_ERR_KEY_STORE_UNAVAILABLE,
                           failure, key_id);
}


static ngx_int_t
ngx_http_v3xy_gateway_refuse(ngx_http_request_t *r, ngx_http_v3xy_err_e err,
    const char *reason, ngx_str_t *key_id)
{
    /* a session's fingerprint says "session..." itself */

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "v3xy: %V: %s, %s%V", ngx_http_v3xy_error_code(err),
                  reason,
                  (key_id != NULL && key_id->len == V3XY_KS_SESSION_ID_LEN
                   && ngx_strncmp(key_id->data, V3XY_KS_SESSION_ID_PREFIX,
                                  sizeof(V3XY_KS_SESSION_ID_PREFIX) - 1)
                      == 0)
                  ? "" : "key ",
                  (key_id != NULL) ? key_id : &ngx_http_v3xy_no_key);

    return ngx_http_v3xy_refuse(r, err);
}


/* lookups in Redis */

/*
 * The request waits for a lookup of its key: the worker's lookup of the
 * same digest if one is under way, else a new one.  NGX_AGAIN, or a
 * refusal at once if Redis cannot be asked.
 */

static ngx_int_t
ngx_http_v3xy_key_lookup(ngx_http_request_t *r, ngx_http_v3xy_key_store_t *ks,
    ngx_http_v3xy_ctx_t *ctx, u_char *digest, ngx_str_t *key_id)
{
    ngx_rbtree_t                 *tree;
    ngx_pool_cleanup_t           *cln;
    ngx_http_v3xy_key_lookup_t   *lk;
    ngx_http_v3xy_gateway_ctx_t  *g;

    tree = &ngx_http_v3xy_key_lookups[ks->session];

    if (tree->root == NULL) {
        ngx_rbtree_init(tree, &ngx_http_v3xy_key_lookups_sentinel[ks->session],
                        ngx_http_v3xy_key_tree_insert);
    }

    lk = (ngx_http_v3xy_key_lookup_t *)
             ngx_http_v3xy_key_tree_find(tree, digest);

    if (lk != NULL) {
        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "v3xy: %s store: waits for the lookup under way, "
                       "%s%V",
                       ngx_http_v3xy_store_what[ks->session],
                       ngx_http_v3xy_store_id[ks->session], key_id);

    } else {
        if (!ngx_http_v3xy_redis_ready()) {
            return ngx_http_v3xy_gateway_unavailable(r, ks->session,
                                                     "not connected",
                                                     key_id);
        }

        lk = ngx_http_v3xy_key_lookup_start(r, ks, digest, key_id);
        if (lk == NULL) {
            return ngx_http_v3xy_gateway_unavailable(r, ks->session,
                                                     "cannot send", key_id);
        }
    }

    g = ngx_pcalloc(r->pool, sizeof(ngx_http_v3xy_gateway_ctx_t));
    if (g == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    g->request = r;
    g->key_id = *key_id;
    g->lookup = lk;
    ngx_queue_insert_tail(&lk->waiters, &g->queue);

    g->ev.handler = ngx_http_v3xy_gateway_event;
    g->ev.data = g;
    g->ev.log = r->connection->log;

    cln->handler = ngx_http_v3xy_gateway_cleanup;
    cln->data = g;

    if (ks->session) {
        ctx->session = g;

    } else {
        ctx->gateway = g;
    }

    /* a client that goes away while we wait ends the request */
    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_request_empty_handler;

    return NGX_AGAIN;
}


/*
 * HMGET v3xy:key:<digest> account scopes status tier, or
 * HMGET v3xy:session:<digest> account status
 */

static ngx_http_v3xy_key_lookup_t *
ngx_http_v3xy_key_lookup_start(ngx_http_request_t *r,
    ngx_http_v3xy_key_store_t *ks, u_char *digest, ngx_str_t *key_id)
{
    u_char                      name[sizeof("v3xy:session:") - 1
                                     + 2 * SHA256_DIGEST_LENGTH];
    u_char                     *p;
    ngx_str_t                   args[6];
    ngx_uint_t                  n;
    ngx_http_v3xy_key_lookup_t *lk;
    ngx_http_v3xy_main_conf_t  *vmcf;

    vmcf = ngx_http_get_module_main_conf(r, ngx_http_v3xy_module);

    lk = ngx_alloc(sizeof(ngx_http_v3xy_key_lookup_t), ngx_cycle->log);
    if (lk == NULL) {
        return NULL;
    }

    ngx_memzero(lk, sizeof(ngx_http_v3xy_key_lookup_t));

    if (ks->session) {
        p = ngx_cpymem(name, "v3xy:session:", sizeof("v3xy:session:") - 1);

    } else {
        p = ngx_cpymem(name, "v3xy:key:", sizeof("v3xy:key:") - 1);
    }

    p = ngx_hex_dump(p, digest, SHA256_DIGEST_LENGTH);

    ngx_str_set(&args[0], "HMGET");
    args[1].data = name;
    args[1].len = p - name;
    ngx_str_set(&args[2], "account");

    if (ks->session) {
        ngx_str_set(&args[3], "status");
        n = 4;

    } else {
        ngx_str_set(&args[3], "scopes");
        ngx_str_set(&args[4], "status");
        ngx_str_set(&args[5], "tier");
        n = 6;
    }

    lk->started = ngx_http_v3xy_now_ms();
    lk->session = ks->session;

    lk->cmd = ngx_http_v3xy_redis_command(args, n,
                                          ngx_http_v3xy_key_lookup_reply, lk);
    if (lk->cmd == NULL) {
        ngx_free(lk);
        return NULL;
    }

    ngx_memcpy(lk->tn.digest, digest, SHA256_DIGEST_LENGTH);
    ngx_memcpy(&lk->tn.rbnode.key, digest, sizeof(ngx_rbtree_key_t));
    lk->key_id_len = ngx_min(key_id->len, V3XY_KEY_ID_LEN);
    ngx_memcpy(lk->key_id, key_id->data, lk->key_id_len);

    ngx_queue_init(&lk->waiters);
    lk->cache = ks->cache;

    lk->timer.handler = ngx_http_v3xy_key_lookup_timeout;
    lk->timer.data = lk;
    lk->timer.log = ngx_cycle->log;
    lk->timer.cancelable = 1;

    ngx_add_timer(&lk->timer, vmcf->redis->timeout);

    ngx_rbtree_insert(&ngx_http_v3xy_key_lookups[ks->session],
                      &lk->tn.rbnode);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "v3xy: %s store: HMGET in redis, %s%V",
                   ngx_http_v3xy_store_what[ks->session],
                   ngx_http_v3xy_store_id[ks->session], key_id);

    return lk;
}


/*
 * Inside hiredis's callback: the answer goes into the cache and to every
 * request that waits for it (copied into its memory); they are posted.
 */

static void
ngx_http_v3xy_key_lookup_reply(void *data, redisReply *reply)
{
    ngx_http_v3xy_key_lookup_t *lk = data;

    ngx_uint_t        i, n, answer;
    redisReply       *f;
    v3xy_ks_str_t     field[4];
    v3xy_ks_entry_t   e;
    v3xy_ks_status_e  status;

    lk->cmd = NULL;

    if (reply == NULL) {
        ngx_http_v3xy_key_lookup_finish(lk, NGX_HTTP_V3XY_KEY_FAILED, 0,
                                        "connection lost", NULL);
        return;
    }

    n = lk->session ? 2 : 4;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != n) {
        goto wrong;
    }

    for (i = 0; i < n; i++) {
        f = reply->element[i];

        if (f->type == REDIS_REPLY_STRING) {
            field[i].data = (const unsigned char *) f->str;
            field[i].len = f->len;

        } else if (f->type == REDIS_REPLY_NIL) {
            field[i].data = NULL;
            field[i].len = 0;

        } else {
            goto wrong;
        }
    }

    if (lk->session) {
        status = v3xy_ks_parse_session(&field[0], &field[1], &e);

    } else {
        status = v3xy_ks_parse_hash(&field[0], &field[1], &field[2],
                                    &field[3], &e);
    }

    if (status == V3XY_KS_UNKNOWN) {
        answer = NGX_HTTP_V3XY_KEY_UNKNOWN;

    } else if (status != V3XY_KS_OK) {
        answer = NGX_HTTP_V3XY_KEY_MALFORMED;
        ngx_http_v3xy_key_malformed(lk, status);

    } else if (e.revoked) {
        answer = NGX_HTTP_V3XY_KEY_REVOKED;

    } else {
        answer = NGX_HTTP_V3XY_KEY_VALID;
    }

    ngx_http_v3xy_key_cache_put(lk->cache, lk->tn.digest, lk->started, answer,
                                status, &e, ngx_cycle->log);

    ngx_http_v3xy_key_lookup_finish(lk, answer, status, NULL, &e);

    return;

wrong:

    /* a hash of another type (WRONGTYPE), or not HMGET's reply */

    ngx_http_v3xy_redis_error(ngx_cycle->log, reply);

    ngx_http_v3xy_key_lookup_finish(lk, NGX_HTTP_V3XY_KEY_FAILED, 0,
                                    "unexpected reply", NULL);
}


static void
ngx_http_v3xy_key_lookup_timeout(ngx_event_t *ev)
{
    ngx_http_v3xy_key_lookup_t *lk = ev->data;

    ngx_http_v3xy_redis_cmd_t  *cmd;

    /* cancelled, the command stays allocated until its reply comes */
    cmd = lk->cmd;

    if (cmd != NULL) {
        ngx_http_v3xy_redis_cancel(cmd);
        lk->cmd = NULL;
    }

    ngx_http_v3xy_key_lookup_finish(lk, NGX_HTTP_V3XY_KEY_FAILED, 0,
                                    "timed out", NULL);

    /* last: this may drop the connection and finish other lookups */
    ngx_http_v3xy_redis_timed_out(cmd, ngx_cycle->log);
}


static void
ngx_http_v3xy_key_lookup_finish(ngx_http_v3xy_key_lookup_t *lk,
    ngx_uint_t answer, ngx_uint_t why, const char *failure,
    v3xy_ks_entry_t *e)
{
    u_char                       *p;
    u_char                        scopes[V3XY_KS_SCOPES_JOINED_MAX];
    size_t                        len;
    ngx_queue_t                  *q;
    ngx_http_v3xy_gateway_ctx_t  *g;

    len = 0;

    if (answer == NGX_HTTP_V3XY_KEY_VALID) {
        len = v3xy_ks_scopes_join(e, scopes);
    }

    while (!ngx_queue_empty(&lk->waiters)) {
        q = ngx_queue_head(&lk->waiters);
        ngx_queue_remove(q);

        g = ngx_queue_data(q, ngx_http_v3xy_gateway_ctx_t, queue);

        g->lookup = NULL;
        g->answer = answer;
        g->why = why;
        g->failure = failure;

        if (answer == NGX_HTTP_V3XY_KEY_VALID) {
            p = ngx_pnalloc(g->request->pool,
                            e->account.len + len + e->tier.len);

            if (p == NULL) {
                g->answer = NGX_HTTP_V3XY_KEY_FAILED;
                g->failure = "out of memory";

            } else {
                g->account.data = p;
                g->account.len = e->account.len;
                p = ngx_cpymem(p, e->account.data, e->account.len);

                g->scopes.data = p;
                g->scopes.len = len;
                p = ngx_cpymem(p, scopes, len);

                g->tier.data = p;
                g->tier.len = e->tier.len;
                ngx_memcpy(p, e->tier.data, e->tier.len);
            }
        }

        ngx_post_event(&g->ev, &ngx_posted_events);
    }

    if (lk->timer.timer_set) {
        ngx_del_timer(&lk->timer);
    }

    ngx_rbtree_delete(&ngx_http_v3xy_key_lookups[lk->session],
                      &lk->tn.rbnode);

    ngx_free(lk);
}


/* a malformed hash: logged at warn once a minute per worker, no key */

static void
ngx_http_v3xy_key_malformed(ngx_http_v3xy_key_lookup_t *lk,
    v3xy_ks_status_e why)
{
    u_char     hex[12];
    uint64_t   now, *logged;

    now = ngx_http_v3xy_now_ms();
    logged = &ngx_http_v3xy_key_malformed_logged[lk->session];

    if (*logged != 0 && now >= *logged
        && now - *logged < NGX_HTTP_V3XY_KEY_LOG_MS)
    {
        return;
    }

    *logged = now ? now : 1;

    ngx_hex_dump(hex, lk->tn.digest, sizeof(hex) / 2);

    ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                  "v3xy: %s store: the hash v3xy:%s:%*s... in redis is "
                  "malformed (%s): %s%*s is refused with %s (such "
                  "warnings at most once a minute)",
                  ngx_http_v3xy_store_what[lk->session],
                  ngx_http_v3xy_store_what[lk->session],
                  sizeof(hex), hex, v3xy_ks_status_text(why),
                  ngx_http_v3xy_store_id[lk->session],
                  lk->key_id_len, lk->key_id,
                  lk->session ? "session_invalid" : "api_key_invalid");
}


static void
ngx_http_v3xy_gateway_event(ngx_event_t *ev)
{
    ngx_http_v3xy_gateway_ctx_t *g = ev->data;

    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = g->request;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_core_run_phases;

    ngx_http_core_run_phases(r);
    ngx_http_run_posted_requests(c);
}


/*
 * The request goes away while it waits: it leaves the lookup, which goes
 * on (its answer still fills the cache).
 */

static void
ngx_http_v3xy_gateway_cleanup(void *data)
{
    ngx_http_v3xy_gateway_ctx_t *g = data;

    if (g->lookup != NULL) {
        ngx_queue_remove(&g->queue);
        g->lookup = NULL;
    }

    if (g->ev.posted) {
        ngx_delete_posted_event(&g->ev);
    }
}
