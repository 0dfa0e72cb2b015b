/*
 * ngx_http_v3xy_gateway: developer keys checked at the edge, in front of
 * the API gateway.
 *
 * v3xy_key_store file=PATH loads SHA-256 digests of keys (never keys),
 * with their account, scopes and status, when the configuration is
 * loaded (reload to change), sorted for a binary search.  A request's key
 * is checked for its form, hashed, found, compared in constant time, and
 * its scopes checked against v3xy_scope; the backend then gets the
 * account (X-V3XY-Account) and not the key, unless v3xy_key_forward on.
 */

#include "ngx_http_v3xy_module.h"
#include "v3xy_key.h"
#include "v3xy_keystore.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>


/* a key store file of more than this is not a key store */
#define NGX_HTTP_V3XY_KEY_STORE_MAX  (64 * 1024 * 1024)


struct ngx_http_v3xy_key_store_s {
    ngx_str_t                  path;
    v3xy_ks_entry_t           *entries;   /* sorted by digest */
    ngx_uint_t                 n;
};


static ngx_int_t ngx_http_v3xy_key_store_load(ngx_conf_t *cf,
    ngx_http_v3xy_key_store_t *ks);
static int ngx_libc_cdecl ngx_http_v3xy_key_store_cmp(const void *a,
    const void *b);
static v3xy_ks_entry_t *ngx_http_v3xy_key_store_find(
    ngx_http_v3xy_key_store_t *ks, u_char *digest);
static ngx_int_t ngx_http_v3xy_gateway_refuse(ngx_http_request_t *r,
    ngx_http_v3xy_err_e err, const char *reason, ngx_str_t *key_id);


static ngx_str_t  ngx_http_v3xy_account_header = ngx_string("X-V3XY-Account");
static ngx_str_t  ngx_http_v3xy_no_key = ngx_string("-");
static ngx_uint_t  ngx_http_v3xy_account_hash;


char *
ngx_http_v3xy_key_store(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_v3xy_loc_conf_t *vlcf = conf;

    ngx_str_t                  *value;
    ngx_http_v3xy_key_store_t  *ks;

    if (vlcf->key_store != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        vlcf->key_store = NULL;
        return NGX_CONF_OK;
    }

    if (ngx_strncmp(value[1].data, "file=", 5) != 0 || value[1].len == 5) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "v3xy_key_store takes file=PATH (a key store in "
                           "Redis is not implemented yet)");
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

    return NGX_CONF_OK;
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

    fd = ngx_open_file(ks->path.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
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
                       "v3xy_key_store: \"%V\" holds %ui keys",
                       &ks->path, ks->n);

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


/*
 * The gateway's decisions after the browser check: NGX_OK with the
 * account in ctx, or a refusal (NGX_DONE).
 */

ngx_int_t
ngx_http_v3xy_gateway(ngx_http_request_t *r, ngx_http_v3xy_loc_conf_t *vlcf,
    ngx_http_v3xy_ctx_t *ctx, ngx_http_v3xy_headers_t *hs)
{
    u_char             digest[SHA256_DIGEST_LENGTH];
    ngx_str_t         *key, key_id;
    ngx_table_elt_t   *h;
    v3xy_ks_entry_t   *e;
    v3xy_ks_str_t     *scopes;

    if (hs->key_header == NULL) {
        return ngx_http_v3xy_gateway_refuse(r,
                                         NGX_HTTP_V3XY_ERR_API_KEY_MISSING,
                                         "no X-V3XY-API-Key", NULL);
    }

    h = r->headers_in.authorization;

    if (h && h->value.len > 7
        && ngx_strncasecmp(h->value.data, (u_char *) "Bearer ", 7) == 0)
    {
        return ngx_http_v3xy_gateway_refuse(r,
                                        NGX_HTTP_V3XY_ERR_CREDENTIALS_MIXED,
                                        "a developer key and a session "
                                        "token", NULL);
    }

    key = &hs->key_header->value;

    /* one SHA-256: the store's digest and the fingerprint for the logs */

    if (SHA256(key->data, key->len, digest) == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    key_id.data = ngx_pnalloc(r->pool, V3XY_KEY_ID_LEN);
    if (key_id.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    key_id.len = V3XY_KEY_ID_LEN;
    v3xy_key_id_from_digest(digest, key_id.data);

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

    e = ngx_http_v3xy_key_store_find(vlcf->key_store, digest);

    if (e == NULL) {
        return ngx_http_v3xy_gateway_refuse(r,
                                         NGX_HTTP_V3XY_ERR_API_KEY_INVALID,
                                         "unknown key", &key_id);
    }

    if (e->revoked) {
        return ngx_http_v3xy_gateway_refuse(r,
                                         NGX_HTTP_V3XY_ERR_API_KEY_INVALID,
                                         "revoked key", &key_id);
    }

    if (vlcf->scopes) {
        scopes = vlcf->scopes->elts;

        if (!v3xy_ks_has_scopes(e, scopes, vlcf->scopes->nelts)) {
            return ngx_http_v3xy_gateway_refuse(r,
                                           NGX_HTTP_V3XY_ERR_API_KEY_SCOPE,
                                           "a scope of the location is "
                                           "missing", &key_id);
        }
    }

    ctx->key_id = key_id;
    ctx->account.data = (u_char *) e->account.data;
    ctx->account.len = e->account.len;

    /*
     * The backend gets the account (never one the client sent: it would
     * speak for another account), and the key only if told so.
     */

    if (ngx_http_v3xy_remove_headers(r, (u_char *) "x-v3xy-account",
                                     sizeof("x-v3xy-account") - 1)
        == NGX_ERROR)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!vlcf->key_forward
        && ngx_http_v3xy_remove_key_headers(r) == NGX_ERROR)
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
    h->value = ctx->account;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    return NGX_OK;
}


static ngx_int_t
ngx_http_v3xy_gateway_refuse(ngx_http_request_t *r, ngx_http_v3xy_err_e err,
    const char *reason, ngx_str_t *key_id)
{
    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "v3xy: %V: %s, key %V", ngx_http_v3xy_error_code(err),
                  reason, key_id ? key_id : &ngx_http_v3xy_no_key);

    return ngx_http_v3xy_refuse(r, err);
}
