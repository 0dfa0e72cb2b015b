/*
 * ngx_http_v3xy_key: the sidecar's developer key.
 *
 * The key file is read once per configuration load (so "nginx -s reload"
 * picks up a rotated key) into a page of its own that core dumps leave out
 * and that is wiped when the configuration that owns it goes away.  On the
 * request path the key is injected as X-V3XY-API-Key into the request
 * headers that proxy_pass forwards, after dropping every client-sent one
 * (in any spelling nginx delivers: case, and "_" for "-" under
 * underscores_in_headers).  The request headers follow a request through
 * internal redirects and are copied into its subrequests: the pipeline
 * takes the key out again wherever a request or subrequest enters a
 * location that does not inject it (ngx_http_v3xy_key_leave).  Nothing
 * here logs the key: logs name it by its fingerprint.
 */

#include "ngx_http_v3xy_module.h"
#include "ngx_http_v3xy_key.h"
#include "v3xy_key.h"
#include "v3xy_keystore.h"

#include <sys/mman.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>


#define NGX_HTTP_V3XY_KEY_HEADER     "X-V3XY-API-Key"
#define NGX_HTTP_V3XY_KEY_LC         "x-v3xy-api-key"
#define NGX_HTTP_V3XY_KEY_LC_LEN     (sizeof(NGX_HTTP_V3XY_KEY_LC) - 1)

/* a key file is one line: anything larger is not a key file */
#define NGX_HTTP_V3XY_KEY_FILE_MAX   4096


typedef struct {
    u_char                    *data;
    size_t                     size;
} ngx_http_v3xy_secret_t;


/* a v3xy_api_key_file ... tier=NAME, for the check against the zones */
typedef struct {
    ngx_str_t                  tier;
    ngx_str_t                  file;       /* where it is configured */
    ngx_uint_t                 line;
} ngx_http_v3xy_key_tier_t;


static u_char *ngx_http_v3xy_secret_alloc(ngx_conf_t *cf, size_t size);
static void ngx_http_v3xy_secret_cleanup(void *data);
static ngx_http_v3xy_key_t *ngx_http_v3xy_key_load(ngx_conf_t *cf,
    ngx_str_t *path);


static ngx_uint_t  ngx_http_v3xy_key_hash;

/* the name of the header we inject: its address tells ours from a client's */
static u_char  ngx_http_v3xy_key_header[] = NGX_HTTP_V3XY_KEY_HEADER;


char *
ngx_http_v3xy_api_key_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_v3xy_loc_conf_t *vlcf = conf;

    ngx_str_t                  *value;
    ngx_http_v3xy_key_tier_t   *kt;
    ngx_http_v3xy_main_conf_t  *vmcf;

    if (vlcf->api_key != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strncmp(value[1].data, "tier=", 5) == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\": the key file comes "
                           "first: v3xy_api_key_file FILE [tier=NAME]",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    if (ngx_strcmp(value[1].data, "off") == 0) {
        if (cf->args->nelts > 2) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "v3xy_api_key_file off takes no tier=");
            return NGX_CONF_ERROR;
        }

        vlcf->api_key = NULL;
        return NGX_CONF_OK;
    }

    /* tier=NAME: the key's tier, as the key store would name it */

    if (cf->args->nelts > 2
        && (ngx_strncmp(value[2].data, "tier=", 5) != 0
            || !v3xy_ks_tier_valid(value[2].data + 5, value[2].len - 5)))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\": use tier=NAME, the "
                           "name 1 to %d characters of a-z 0-9 _ -",
                           &value[2], V3XY_KS_TIER_MAX);
        return NGX_CONF_ERROR;
    }

    /* as v3xy_limit_zone's tier=default:: the default is no tier at all */

    if (cf->args->nelts > 2 && value[2].len == sizeof("tier=default") - 1
        && ngx_strncmp(value[2].data, "tier=default", value[2].len) == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\": a key of the default "
                           "tier has no tier=", &value[2]);
        return NGX_CONF_ERROR;
    }

    vlcf->api_key = ngx_http_v3xy_key_load(cf, &value[1]);
    if (vlcf->api_key == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_str_null(&vlcf->api_key->tier);

    vmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_v3xy_module);
    vmcf->keys++;

    if (cf->args->nelts > 2) {
        vlcf->api_key->tier.data = value[2].data + 5;
        vlcf->api_key->tier.len = value[2].len - 5;

        if (vmcf->key_tiers == NULL) {
            vmcf->key_tiers = ngx_array_create(cf->pool, 4,
                                             sizeof(ngx_http_v3xy_key_tier_t));
            if (vmcf->key_tiers == NULL) {
                return NGX_CONF_ERROR;
            }
        }

        kt = ngx_array_push(vmcf->key_tiers);
        if (kt == NULL) {
            return NGX_CONF_ERROR;
        }

        kt->tier = vlcf->api_key->tier;
        kt->file = cf->conf_file->file.name;
        kt->line = cf->conf_file->line;
    }

    return NGX_CONF_OK;
}


/*
 * Once every v3xy_limit_zone is known: a tier that no zone names gets the
 * zones' rate= (a typo would otherwise pass unseen).  A warning, not an
 * error: the tier still names the key in $v3xy_tier.
 */

ngx_int_t
ngx_http_v3xy_key_init(ngx_conf_t *cf)
{
    ngx_uint_t                  i, j, k, named;
    ngx_http_v3xy_zone_t      **zones;
    ngx_http_v3xy_key_tier_t   *kt;
    ngx_http_v3xy_main_conf_t  *vmcf;

    ngx_http_v3xy_key_hash = ngx_hash_key((u_char *) NGX_HTTP_V3XY_KEY_LC,
                                          NGX_HTTP_V3XY_KEY_LC_LEN);

    vmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_v3xy_module);

    if (vmcf->key_tiers == NULL) {
        return NGX_OK;
    }

    kt = vmcf->key_tiers->elts;
    zones = vmcf->zones.elts;

    for (i = 0; i < vmcf->key_tiers->nelts; i++) {
        named = 0;

        for (j = 0; j < vmcf->zones.nelts && !named; j++) {
            for (k = 1; k < zones[j]->nrates; k++) {
                if (zones[j]->rates[k].tier.len == kt[i].tier.len
                    && ngx_strncmp(zones[j]->rates[k].tier.data,
                                   kt[i].tier.data, kt[i].tier.len) == 0)
                {
                    named = 1;
                    break;
                }
            }
        }

        if (!named) {
            ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                          "v3xy_api_key_file ... tier=%V in %V:%ui: no "
                          "v3xy_limit_zone names tier \"%V\" "
                          "(tier=%V:RATE): the key gets each zone's rate=",
                          &kt[i].tier, &kt[i].file, kt[i].line, &kt[i].tier,
                          &kt[i].tier);
        }
    }

    return NGX_OK;
}


/*
 * Reads a secret file (a key, a password, a webhook secret) into secret
 * memory: one line, trailing white space trimmed, not empty.  "what" names
 * the directive in messages; the secret itself is never printed.
 */

ngx_int_t
ngx_http_v3xy_secret_file(ngx_conf_t *cf, const char *what, ngx_str_t *name,
    ngx_str_t *secret)
{
    u_char           *buf;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_int_t         rc;
    ngx_str_t         path;
    ngx_file_info_t   fi;

    path = *name;

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = NGX_ERROR;

    /*
     * Non-blocking: the open of a FIFO would wait for a writer (nginx -t,
     * a start, a reload would hang); it is refused below, as any file
     * that is not a regular one.
     */

    fd = ngx_open_file(path.data, NGX_FILE_RDONLY|NGX_FILE_NONBLOCK,
                       NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "%s: cannot open \"%s\"", what, path.data);
        return NGX_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "%s: " ngx_fd_info_n " \"%s\" failed",
                           what, path.data);
        goto done;
    }

    if (!ngx_is_file(&fi)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%s: \"%s\" is not a regular file",
                           what, path.data);
        goto done;
    }

    if (ngx_file_size(&fi) > NGX_HTTP_V3XY_KEY_FILE_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%s: \"%s\" is too large for a secret file "
                           "(%O bytes, at most %d)",
                           what, path.data, ngx_file_size(&fi),
                           NGX_HTTP_V3XY_KEY_FILE_MAX);
        goto done;
    }

    buf = ngx_http_v3xy_secret_alloc(cf, NGX_HTTP_V3XY_KEY_FILE_MAX + 1);
    if (buf == NULL) {
        goto done;
    }

    n = ngx_read_fd(fd, buf, NGX_HTTP_V3XY_KEY_FILE_MAX + 1);

    if (n == -1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "%s: cannot read \"%s\"", what, path.data);
        goto done;
    }

    if (n > NGX_HTTP_V3XY_KEY_FILE_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%s: \"%s\" is too large for a secret file",
                           what, path.data);
        goto done;
    }

    secret->data = buf;
    secret->len = v3xy_key_trim(buf, n);

    if (secret->len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%s: \"%s\" is empty", what, path.data);
        goto done;
    }

    if (ngx_file_access(&fi) & S_IROTH) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "%s: \"%s\" is readable by other users; "
                           "restrict it (chmod o-r, or 0400 owned by the "
                           "user that starts nginx)", what, path.data);
    }

    rc = NGX_OK;

done:

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_ALERT, cf, ngx_errno,
                           ngx_close_file_n " \"%s\" failed", path.data);
    }

    return rc;
}


static ngx_http_v3xy_key_t *
ngx_http_v3xy_key_load(ngx_conf_t *cf, ngx_str_t *path)
{
    ngx_str_t             secret;
    v3xy_key_status_e     status;
    ngx_http_v3xy_key_t  *key;

    if (ngx_http_v3xy_secret_file(cf, "v3xy_api_key_file", path, &secret)
        != NGX_OK)
    {
        return NULL;
    }

    status = v3xy_key_check(secret.data, secret.len);

    if (status != V3XY_KEY_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "v3xy_api_key_file: \"%V\" does not hold a "
                           "developer key (" V3XY_KEY_PREFIX "<secret>): %s",
                           path, v3xy_key_status_text(status));
        return NULL;
    }

    if (v3xy_key_weak(secret.data, secret.len)) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "v3xy_api_key_file: \"%V\" holds a weak key: its "
                           "secret is shorter than %d characters", path,
                           V3XY_KEY_SECRET_WEAK);
    }

    key = ngx_palloc(cf->pool, sizeof(ngx_http_v3xy_key_t));
    if (key == NULL) {
        return NULL;
    }

    key->key = secret;

    key->key_id.data = ngx_pnalloc(cf->pool, V3XY_KEY_ID_LEN);
    if (key->key_id.data == NULL) {
        return NULL;
    }

    if (v3xy_key_id(secret.data, secret.len, key->key_id.data) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "v3xy_api_key_file: SHA-256 failed");
        return NULL;
    }

    key->key_id.len = V3XY_KEY_ID_LEN;

    ngx_conf_log_error(NGX_LOG_NOTICE, cf, 0,
                       "v3xy_api_key_file: \"%V\" holds key %V",
                       path, &key->key_id);

    return key;
}


/*
 * Memory for a secret: whole pages, so that they can be left out of core
 * dumps, and wiped before they are freed with the configuration's pool.
 */

static u_char *
ngx_http_v3xy_secret_alloc(ngx_conf_t *cf, size_t size)
{
    ngx_pool_cleanup_t      *cln;
    ngx_http_v3xy_secret_t  *secret;

    cln = ngx_pool_cleanup_add(cf->pool, sizeof(ngx_http_v3xy_secret_t));
    if (cln == NULL) {
        return NULL;
    }

    secret = cln->data;
    secret->size = ngx_align(size, ngx_pagesize);

    secret->data = ngx_memalign(ngx_pagesize, secret->size, cf->log);
    if (secret->data == NULL) {
        return NULL;
    }

    ngx_memzero(secret->data, secret->size);

    cln->handler = ngx_http_v3xy_secret_cleanup;

#if (NGX_LINUX && defined MADV_DONTDUMP)

    if (madvise(secret->data, secret->size, MADV_DONTDUMP) == -1) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, ngx_errno,
                           "madvise(MADV_DONTDUMP) failed: "
                           "a core dump may hold the key");
    }

#endif

    return secret->data;
}


/*
 * The same memory for key material that other files derive from their
 * secrets (the webhook keys): it follows the configuration as the key does.
 */

u_char *
ngx_http_v3xy_secret_mem(ngx_conf_t *cf, size_t size)
{
    return ngx_http_v3xy_secret_alloc(cf, size);
}


static void
ngx_http_v3xy_secret_cleanup(void *data)
{
    ngx_http_v3xy_secret_t  *secret = data;

    OPENSSL_cleanse(secret->data, secret->size);
    ngx_free(secret->data);
}


/*
 * One pass over the request headers: the browser marks, the
 * X-V3XY-API-Key headers and X-V3XY-Signature.  A browser mark is a
 * header that only browsers send: Origin, any Sec-Fetch-*, and the CORS
 * preflight's Access-Control-Request-Method.
 */

void
ngx_http_v3xy_scan_headers(ngx_http_request_t *r, ngx_http_v3xy_headers_t *hs)
{
    u_char           *lc;
    ngx_uint_t        i, mark;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    hs->browser_mark = NULL;
    hs->key_headers = 0;
    hs->key_header = NULL;
    hs->signature = NULL;
    hs->signatures = 0;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        lc = h[i].lowcase_key;
        mark = 0;

        switch (h[i].key.len) {

        case sizeof("origin") - 1:
            mark = (ngx_strncmp(lc, "origin", 6) == 0);
            break;

        case sizeof("x-v3xy-signature") - 1:
            if (ngx_strncmp(lc, "x-v3xy-signature", 16) == 0) {
                if (hs->signature == NULL) {
                    hs->signature = &h[i];
                }

                hs->signatures++;
                continue;
            }

            mark = (ngx_strncmp(lc, "sec-fetch-", 10) == 0);
            break;

        case NGX_HTTP_V3XY_KEY_LC_LEN:
            if (ngx_http_v3xy_header_is(lc, (u_char *) NGX_HTTP_V3XY_KEY_LC,
                                        NGX_HTTP_V3XY_KEY_LC_LEN))
            {
                if (hs->key_header == NULL) {
                    hs->key_header = &h[i];
                }

                hs->key_headers++;
                continue;
            }

            /* fall through */

        default:
            if (h[i].key.len > sizeof("sec-fetch-") - 1) {
                mark = (ngx_strncmp(lc, "sec-fetch-", 10) == 0);
            }

            if (h[i].key.len == sizeof("access-control-request-method") - 1)
            {
                mark = (ngx_strncmp(lc, "access-control-request-method",
                                    29) == 0);
            }
        }

        if (mark && hs->browser_mark == NULL) {
            hs->browser_mark = &h[i];
        }
    }
}


/*
 * The key goes into this request's headers, after every X-V3XY-API-Key
 * that was there (a client's, or ours from before an internal redirect):
 * exactly one copy, of this location's key.  A request that carries
 * Authorization speaks for a person (a session token, the API's Session
 * endpoints): the API's rule is not to mix the two credentials, so it goes
 * without the developer key.
 */

ngx_int_t
ngx_http_v3xy_inject_key(ngx_http_request_t *r, ngx_http_v3xy_key_t *key,
    ngx_http_v3xy_headers_t *hs)
{
    ngx_int_t         dropped;
    ngx_table_elt_t  *h;

    /*
     * A subrequest's headers are a copy of its parent's list head: a push
     * would write into the parent's list, so its list is always built anew.
     */

    if (hs->key_headers || r != r->main) {
        dropped = ngx_http_v3xy_remove_headers(r,
                                             (u_char *) NGX_HTTP_V3XY_KEY_LC,
                                             NGX_HTTP_V3XY_KEY_LC_LEN,
                                             r != r->main);
        if (dropped == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (dropped) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "v3xy: dropped %i client-sent X-V3XY-API-Key "
                          "header(s), injecting key %V", dropped,
                          &key->key_id);
        }
    }

    if (r->headers_in.authorization) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "v3xy: the request carries Authorization (a session): "
                      "sent without the developer key %V", &key->key_id);
        return NGX_OK;
    }

    h = ngx_list_push(&r->headers_in.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = ngx_http_v3xy_key_hash;
    h->key.data = ngx_http_v3xy_key_header;
    h->key.len = sizeof(ngx_http_v3xy_key_header) - 1;
    h->lowcase_key = (u_char *) NGX_HTTP_V3XY_KEY_LC;
    h->value = key->key;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    return NGX_OK;
}


/*
 * A request or subrequest enters a location that does not inject a key:
 * the key that an earlier location injected (error_page, X-Accel-Redirect,
 * try_files, a named location; a subrequest's copy of its parent's
 * headers) goes.  Client-sent copies stay: they are the client's, and
 * this location is not ours to judge.
 */

ngx_int_t
ngx_http_v3xy_key_leave(ngx_http_request_t *r)
{
    ngx_int_t  removed;

    removed = ngx_http_v3xy_remove_headers(r, NULL, 0, 0);

    if (removed == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (removed) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "v3xy: key taken out of a location that does not "
                       "inject it");
    }

    return NGX_OK;
}


/*
 * Removes every X-V3XY-API-Key from the request headers, in every
 * spelling; returns how many of them a client sent, or NGX_ERROR.
 */

ngx_int_t
ngx_http_v3xy_remove_key_headers(ngx_http_request_t *r)
{
    return ngx_http_v3xy_remove_headers(r, (u_char *) NGX_HTTP_V3XY_KEY_LC,
                                        NGX_HTTP_V3XY_KEY_LC_LEN, 0);
}


/*
 * Whether a header's lower-case name is this one: under
 * underscores_in_headers nginx delivers "x_v3xy_api_key" as it came, and
 * backends that map names CGI-style (FastCGI, uwsgi, SCGI, many
 * frameworks) read it as the same header.
 */

ngx_uint_t
ngx_http_v3xy_header_is(u_char *lc, u_char *name, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (lc[i] != name[i] && !(name[i] == '-' && lc[i] == '_')) {
            return 0;
        }
    }

    return 1;
}


/*
 * Removes every header of this lower-case name (in every spelling) from
 * the request headers, or with lc NULL only the key that we injected;
 * returns how many that a client sent were removed, or NGX_ERROR.  nginx
 * lists cannot drop an element: the list is built again, only where
 * something goes or where "rebuild" asks for a list of the request's own.
 */

ngx_int_t
ngx_http_v3xy_remove_headers(ngx_http_request_t *r, u_char *lc, size_t len,
    ngx_uint_t rebuild)
{
    ngx_int_t         dropped;
    ngx_uint_t        i, found, pass;
    ngx_list_t        old;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *nh;

    old = r->headers_in.headers;
    dropped = 0;
    found = 0;

    /* pass 0 looks, pass 1 builds the list again */

    for (pass = rebuild ? 1 : 0; pass < 2; pass++) {

        if (pass == 1) {
            if (!found && !rebuild) {
                break;
            }

            if (ngx_list_init(&r->headers_in.headers, r->pool, 20,
                              sizeof(ngx_table_elt_t))
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

        part = &old.part;
        h = part->elts;

        for (i = 0; /* void */; i++) {

            if (i >= part->nelts) {
                if (part->next == NULL) {
                    break;
                }

                part = part->next;
                h = part->elts;
                i = 0;
            }

            if (lc == NULL
                ? h[i].key.data == ngx_http_v3xy_key_header
                : (h[i].key.len == len
                   && ngx_http_v3xy_header_is(h[i].lowcase_key, lc, len)))
            {
                found++;

                if (pass == 1) {
                    /* ours, from before an internal redirect: silently */

                    if (h[i].key.data != ngx_http_v3xy_key_header) {
                        dropped++;
                    }

                    continue;
                }
            }

            if (pass == 0) {
                continue;
            }

            nh = ngx_list_push(&r->headers_in.headers);
            if (nh == NULL) {
                return NGX_ERROR;
            }

            *nh = h[i];
        }
    }

    return dropped;
}


/*
 * OpenSSL 3's SHA256() looks the algorithm up on every call, two thirds
 * of its ~300 ns on a short key: a worker fetches it once and keeps one
 * context, both freed with the cycle's pool (valgrind finds no leak at
 * exit).
 */

#if (OPENSSL_VERSION_NUMBER >= 0x30000000L)

/* a worker's */
static EVP_MD      *ngx_http_v3xy_sha256_md;
static EVP_MD_CTX  *ngx_http_v3xy_sha256_ctx;

static void ngx_http_v3xy_sha256_cleanup(void *data);


ngx_int_t
ngx_http_v3xy_sha256(u_char *data, size_t len, u_char *md)
{
    ngx_pool_cleanup_t  *cln;

    if (ngx_http_v3xy_sha256_ctx == NULL) {
        cln = ngx_pool_cleanup_add(ngx_cycle->pool, 0);
        if (cln == NULL) {
            return NGX_ERROR;
        }

        cln->handler = ngx_http_v3xy_sha256_cleanup;

        ngx_http_v3xy_sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
        ngx_http_v3xy_sha256_ctx = EVP_MD_CTX_new();

        if (ngx_http_v3xy_sha256_md == NULL
            || ngx_http_v3xy_sha256_ctx == NULL)
        {
            ngx_http_v3xy_sha256_cleanup(NULL);
            return NGX_ERROR;
        }
    }

    if (EVP_DigestInit_ex2(ngx_http_v3xy_sha256_ctx,
                           ngx_http_v3xy_sha256_md, NULL)
        != 1
        || EVP_DigestUpdate(ngx_http_v3xy_sha256_ctx, data, len) != 1
        || EVP_DigestFinal_ex(ngx_http_v3xy_sha256_ctx, md, NULL) != 1)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_v3xy_sha256_cleanup(void *data)
{
    EVP_MD_CTX_free(ngx_http_v3xy_sha256_ctx);
    EVP_MD_free(ngx_http_v3xy_sha256_md);

    ngx_http_v3xy_sha256_ctx = NULL;
    ngx_http_v3xy_sha256_md = NULL;
}

#else

ngx_int_t
ngx_http_v3xy_sha256(u_char *data, size_t len, u_char *md)
{
    return SHA256(data, len, md) ? NGX_OK : NGX_ERROR;
}

#endif


/*
 * The directive's NAME=VALUE parameters from the first-th on, each at most
 * once (a second would silently win): NGX_ERROR, logged, for one given
 * twice.  "multi" (or NULL) is the one NAME= that may repeat.
 */

ngx_int_t
ngx_http_v3xy_conf_once(ngx_conf_t *cf, ngx_uint_t first, const char *multi)
{
    u_char      *eq;
    size_t       n;
    ngx_str_t   *value;
    ngx_uint_t   i, j;

    value = cf->args->elts;

    for (i = first; i < cf->args->nelts; i++) {
        eq = ngx_strlchr(value[i].data, value[i].data + value[i].len, '=');

        if (eq == NULL) {
            continue;
        }

        n = eq - value[i].data + 1;

        if (multi != NULL && ngx_strlen(multi) == n
            && ngx_strncmp(value[i].data, multi, n) == 0)
        {
            continue;
        }

        for (j = first; j < i; j++) {
            if (value[j].len >= n
                && ngx_strncmp(value[j].data, value[i].data, n) == 0)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "duplicate parameter \"%V\": %*s given "
                                   "twice", &value[i], n, value[i].data);
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}
