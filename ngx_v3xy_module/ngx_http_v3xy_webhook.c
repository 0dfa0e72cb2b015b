/*
 * ngx_http_v3xy_webhook: inbound webhook signatures, checked before the
 * backend sees the delivery.
 *
 * X-V3XY-Signature: t=<unix>,v1=<hmac_hex>[,v1=...]: the header is parsed
 * and its timestamp checked first (cheap refusals need no body); then the
 * body is read (ngx_http_v3xy_body.c: memory, temporary file, chunked) and
 * HMAC-SHA256 over "<t>.<raw_body>" is computed under every secret of
 * v3xy_webhook_secret_file in one pass over the body, and compared in
 * constant time with every v1 (src/v3xy_sig.c).  The same pass computes
 * the delivery's mark, SHA-256 over "<t>.<raw_body>": the replay guard, a
 * zone of the limit step (ngx_http_v3xy_limit.c), is keyed on it, so that
 * a delivery is one whichever of its v1 values come with it.  The keys
 * live in secret memory (ngx_http_v3xy_key.c): left out of core dumps,
 * wiped with the configuration.  Refusals are logged at info with their
 * reason, never a secret or an expected signature.
 */

#include "ngx_http_v3xy_module.h"
#include "ngx_http_v3xy_webhook.h"
#include "ngx_http_v3xy_body.h"
#include "ngx_http_v3xy_key.h"
#include "ngx_http_v3xy_limit.h"
#include "ngx_http_v3xy_metrics.h"
#include "v3xy_sig.h"

#include <openssl/crypto.h>


/* a body in a temporary file is read back in pieces of this size */
#define NGX_HTTP_V3XY_WEBHOOK_CHUNK  65536


static ngx_int_t ngx_http_v3xy_webhook_header(ngx_http_request_t *r,
    ngx_http_v3xy_loc_conf_t *vlcf, ngx_http_v3xy_ctx_t *ctx,
    ngx_http_v3xy_headers_t *hs, v3xy_sig_header_t *sig);
static ngx_int_t ngx_http_v3xy_webhook_verify(ngx_http_request_t *r,
    ngx_http_v3xy_loc_conf_t *vlcf, ngx_http_v3xy_ctx_t *ctx,
    v3xy_sig_header_t *sig);
static ngx_int_t ngx_http_v3xy_webhook_refuse(ngx_http_request_t *r,
    ngx_http_v3xy_ctx_t *ctx, ngx_http_v3xy_err_e err, const char *reason);
static void ngx_http_v3xy_webhook_key_cleanup(void *data);


char *
ngx_http_v3xy_webhook_secret_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_v3xy_loc_conf_t *vlcf = conf;

    ngx_str_t           *value, secret;
    ngx_uint_t           i, n;
    ngx_array_t         *keys;
    v3xy_sig_key_t      *key;
    ngx_pool_cleanup_t  *cln;

    if (vlcf->webhook_secrets != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        vlcf->webhook_secrets = NULL;
        return NGX_CONF_OK;
    }

    n = cf->args->nelts - 1;

    /*
     * The keys go into secret memory, their cleanups after it: a pool
     * runs the last cleanup added first, so each key is wiped (and its
     * SHA-256 released) before the pages are.
     */

    keys = ngx_palloc(cf->pool, sizeof(ngx_array_t));
    if (keys == NULL) {
        return NGX_CONF_ERROR;
    }

    keys->elts = ngx_http_v3xy_secret_mem(cf, n * sizeof(v3xy_sig_key_t));
    if (keys->elts == NULL) {
        return NGX_CONF_ERROR;
    }

    keys->nelts = 0;
    keys->size = sizeof(v3xy_sig_key_t);
    keys->nalloc = n;
    keys->pool = cf->pool;

    vlcf->webhook_secrets = keys;

    for (i = 1; i <= n; i++) {
        if (ngx_http_v3xy_secret_file(cf, "v3xy_webhook_secret_file",
                                      &value[i], &secret)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        cln = ngx_pool_cleanup_add(cf->pool, 0);
        if (cln == NULL) {
            return NGX_CONF_ERROR;
        }

        key = (v3xy_sig_key_t *) keys->elts + keys->nelts;

        if (v3xy_sig_key_init(key, secret.data, secret.len) != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "v3xy_webhook_secret_file: HMAC key of "
                               "\"%V\" failed", &value[i]);
            return NGX_CONF_ERROR;
        }

        keys->nelts++;

        cln->handler = ngx_http_v3xy_webhook_key_cleanup;
        cln->data = key;

        /* the key is all the requests need: the file's copy goes now */
        OPENSSL_cleanse(secret.data, secret.len);
    }

    return NGX_CONF_OK;
}


static void
ngx_http_v3xy_webhook_key_cleanup(void *data)
{
    v3xy_sig_key_free(data);
}


/*
 * Where webhooks are verified with v3xy_webhook_replay on, the replay
 * guard: the limit side's zone that admits each delivery once in twice
 * the tolerance (a signature is valid from t - tolerance to
 * t + tolerance), keyed on the delivery's mark (SHA-256 over
 * "<t>.<body>", $v3xy_webhook_delivery), not on a signature: a delivery
 * signed under two secrets is one delivery whichever of its v1 values
 * come again.  The log phase takes the mark back from a delivery whose
 * sender got no 2xx (ngx_http_v3xy_replay_log).
 */

char *
ngx_http_v3xy_webhook_merge(ngx_conf_t *cf, ngx_http_v3xy_loc_conf_t *conf)
{
    uint64_t  window;

    conf->replay_zone = NULL;

    if (conf->webhook_secrets == NULL || !conf->webhook_replay) {
        return NGX_CONF_OK;
    }

    window = (uint64_t) conf->webhook_tolerance * 2000;

    /* twice the tolerance: 30 minutes at most make an hour */
    if (window == 0 || window > 3600000) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "v3xy_webhook_tolerance must be from 1s "
                           "to 30m with v3xy_webhook_replay on");
        return NGX_CONF_ERROR;
    }

    conf->replay_zone = ngx_http_v3xy_limit_replay_zone(cf, window);
    if (conf->replay_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * NGX_OK: the delivery is signed by one of the secrets.  NGX_DONE: the
 * body is being read.  Otherwise: a refusal was sent (NGX_DONE too) or an
 * HTTP status.
 */

ngx_int_t
ngx_http_v3xy_webhook(ngx_http_request_t *r, ngx_http_v3xy_loc_conf_t *vlcf,
    ngx_http_v3xy_ctx_t *ctx, ngx_http_v3xy_headers_t *hs)
{
    ngx_int_t          rc;
    v3xy_sig_header_t  sig;

    rc = ngx_http_v3xy_webhook_header(r, vlcf, ctx, hs, &sig);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_v3xy_body_read(r, ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_v3xy_webhook_verify(r, vlcf, ctx, &sig);
}


static ngx_int_t
ngx_http_v3xy_webhook_header(ngx_http_request_t *r,
    ngx_http_v3xy_loc_conf_t *vlcf, ngx_http_v3xy_ctx_t *ctx,
    ngx_http_v3xy_headers_t *hs, v3xy_sig_header_t *sig)
{
    ngx_table_elt_t    *found;
    v3xy_sig_status_e   status;

    found = hs->signature;

    if (found == NULL) {
        return ngx_http_v3xy_webhook_refuse(r, ctx,
                                            NGX_HTTP_V3XY_ERR_WEBHOOK_MISSING,
                                            "no X-V3XY-Signature header");
    }

    if (hs->signatures > 1) {
        return ngx_http_v3xy_webhook_refuse(r, ctx,
                                      NGX_HTTP_V3XY_ERR_WEBHOOK_MALFORMED,
                                      "There is more than one "
                                      "X-V3XY-Signature header.");
    }

    status = v3xy_sig_parse(found->value.data, found->value.len, sig);

    if (status == V3XY_SIG_EMPTY) {
        return ngx_http_v3xy_webhook_refuse(r, ctx,
                                            NGX_HTTP_V3XY_ERR_WEBHOOK_MISSING,
                                            "empty X-V3XY-Signature header");
    }

    if (status != V3XY_SIG_OK) {
        return ngx_http_v3xy_webhook_refuse(r, ctx,
                                      NGX_HTTP_V3XY_ERR_WEBHOOK_MALFORMED,
                                      v3xy_sig_status_text(status));
    }

    /* judged on arrival: a slow upload does not make a delivery stale */

    if (!ctx->webhook_fresh
        && !v3xy_sig_timestamp_ok(sig->t, (uint64_t) ngx_time(),
                                  (uint64_t) vlcf->webhook_tolerance))
    {
        return ngx_http_v3xy_webhook_refuse(r, ctx,
                                      NGX_HTTP_V3XY_ERR_WEBHOOK_STALE,
                                      "timestamp out of tolerance");
    }

    ctx->webhook_fresh = 1;

    return NGX_OK;
}


static ngx_int_t
ngx_http_v3xy_webhook_verify(ngx_http_request_t *r,
    ngx_http_v3xy_loc_conf_t *vlcf, ngx_http_v3xy_ctx_t *ctx,
    v3xy_sig_header_t *sig)
{
    int                   found;
    size_t                len;
    u_char               *buf;
    off_t                 off;
    ssize_t               n;
    ngx_int_t             rc;
    ngx_buf_t            *b;
    ngx_chain_t          *cl;
    v3xy_sig_mac_t       *macs;
    v3xy_sig_delivery_t   d;
    unsigned char         mac[V3XY_SIG_MAC_LEN];
    unsigned char         mark[V3XY_SIG_MARK_LEN];

    macs = ngx_palloc(r->pool,
                      vlcf->webhook_secrets->nelts * sizeof(v3xy_sig_mac_t));
    if (macs == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the mark only where the replay guard remembers it */

    if (v3xy_sig_delivery_init(&d, macs, vlcf->webhook_secrets->elts,
                               vlcf->webhook_secrets->nelts, sig->t_str,
                               sig->t_len, vlcf->webhook_replay != 0)
        != 0)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
    buf = NULL;

    /* one pass over the body feeds every secret's MAC and the mark */

    for (cl = r->request_body ? r->request_body->bufs : NULL;
         cl;
         cl = cl->next)
    {
        b = cl->buf;

        if (!b->in_file) {
            if (v3xy_sig_delivery_update(&d, b->pos, b->last - b->pos) != 0)
            {
                goto done;
            }

            continue;
        }

        if (buf == NULL) {
            buf = ngx_palloc(r->pool, NGX_HTTP_V3XY_WEBHOOK_CHUNK);
            if (buf == NULL) {
                goto done;
            }
        }

        for (off = b->file_pos; off < b->file_last; off += n) {
            len = (size_t) ngx_min(b->file_last - off,
                                   NGX_HTTP_V3XY_WEBHOOK_CHUNK);

            n = ngx_read_file(b->file, buf, len, off);

            if (n != (ssize_t) len) {
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "v3xy: cannot read the webhook body back "
                              "from \"%V\"", &b->file->name);
                goto done;
            }

            if (v3xy_sig_delivery_update(&d, buf, len) != 0) {
                goto done;
            }
        }
    }

    found = v3xy_sig_delivery_final(&d, sig, mac, mark);

    if (found == -2) {
        goto done;
    }

    if (found == -1) {
        /* refused after the cleanup: the refusal may free the request */
        rc = NGX_DECLINED;
        goto done;
    }

    /* the signature that matched, in hex, for $v3xy_webhook_signature */

    ctx->webhook_signature.data = ngx_pnalloc(r->pool, 2 * V3XY_SIG_HEX_LEN);
    if (ctx->webhook_signature.data == NULL) {
        goto done;
    }

    ctx->webhook_signature.len = ngx_hex_dump(ctx->webhook_signature.data,
                                              mac, V3XY_SIG_MAC_LEN)
                                 - ctx->webhook_signature.data;

    /* the delivery's mark keys the replay guard */

    if (vlcf->webhook_replay) {
        ctx->webhook_delivery.data = ctx->webhook_signature.data
                                     + V3XY_SIG_HEX_LEN;
        ctx->webhook_delivery.len = ngx_hex_dump(ctx->webhook_delivery.data,
                                                 mark, V3XY_SIG_MARK_LEN)
                                    - ctx->webhook_delivery.data;
    }

    ctx->webhook_ok = 1;
    rc = NGX_OK;

done:

    v3xy_sig_delivery_free(&d);

    if (buf != NULL) {
        ngx_pfree(r->pool, buf);
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_v3xy_webhook_refuse(r, ctx,
                                      NGX_HTTP_V3XY_ERR_WEBHOOK_INVALID,
                                      "no v1 matches under any secret");
    }

    return rc;
}


static ngx_int_t
ngx_http_v3xy_webhook_refuse(ngx_http_request_t *r, ngx_http_v3xy_ctx_t *ctx,
    ngx_http_v3xy_err_e err, const char *reason)
{
    ngx_str_t  *code;

    code = ngx_http_v3xy_error_code(err);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "v3xy: %V: %s", code, reason);

    if (err == NGX_HTTP_V3XY_ERR_WEBHOOK_MALFORMED) {
        /* the parser's reasons are sentences for the client */
        ctx->message.data = (u_char *) reason;
        ctx->message.len = ngx_strlen(reason);
    }

    return ngx_http_v3xy_refuse(r, err);
}


/* the metrics: a verdict for each delivery checked (the log phase counts) */

ngx_int_t
ngx_http_v3xy_webhook_metrics(ngx_http_v3xy_mout_t *out,
    ngx_http_v3xy_main_conf_t *vmcf)
{
    u_char        *p;
    ngx_uint_t     i;
    ngx_atomic_t  *v;

    static ngx_str_t  ok = ngx_string("ok");

    v = vmcf->metrics.webhook;

    if (ngx_http_v3xy_mfamily(out, "v3xy_webhook_verdicts_total", "counter",
                              "Inbound webhooks checked, by verdict (ok, or "
                              "the code of the refusal; webhook_replayed "
                              "counts replays refused).")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = NGX_HTTP_V3XY_ERR_NONE;
         v != NULL && i <= NGX_HTTP_V3XY_ERR_WEBHOOK_REPLAYED;
         i = (i == NGX_HTTP_V3XY_ERR_NONE) ? NGX_HTTP_V3XY_ERR_WEBHOOK_MISSING
                                           : i + 1)
    {
        p = ngx_http_v3xy_mreserve(out, 128);
        if (p == NULL) {
            return NGX_ERROR;
        }

        out->b->last = ngx_sprintf(p,
                                   "v3xy_webhook_verdicts_total{code=\"%V\"} "
                                   "%uA\n",
                                   i ? ngx_http_v3xy_error_code(i) : &ok,
                                   v[i]);
    }

    return NGX_OK;
}
