/*
 * ngx_http_v3xy_body: the request body, read in the access phase without
 * blocking, for the steps that need it (the per-recipient limit keyed on
 * $v3xy_body_email; webhook signatures later).  nginx reads the body on
 * its event loop and resumes the phases when it is in; the body then goes
 * upstream untouched.
 */

#include "ngx_http_v3xy_module.h"
#include "ngx_http_v3xy_body.h"
#include "v3xy_body.h"


/* a JSON body that limits are keyed on is small: larger ones are refused */
#define NGX_HTTP_V3XY_BODY_JSON_MAX  65536


static void ngx_http_v3xy_body_done(ngx_http_request_t *r);
static ngx_int_t ngx_http_v3xy_body_bytes(ngx_http_request_t *r,
    ngx_str_t *out, size_t max);


/*
 * NGX_OK: the body is in.  NGX_DONE: nginx is reading it, the phases
 * resume when it is in.  Otherwise an HTTP status.
 */

ngx_int_t
ngx_http_v3xy_body_read(ngx_http_request_t *r, ngx_http_v3xy_ctx_t *ctx)
{
    ngx_int_t  rc;

    if (ctx->body_state == NGX_HTTP_V3XY_BODY_DONE) {
        return NGX_OK;
    }

    if (ctx->body_state == NGX_HTTP_V3XY_BODY_READING) {
        return NGX_DONE;
    }

    r->request_body_in_single_buf = 1;
    ctx->body_state = NGX_HTTP_V3XY_BODY_READING;

    rc = ngx_http_read_client_request_body(r, ngx_http_v3xy_body_done);

    if (rc == NGX_ERROR || rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    /*
     * The post handler goes on with the phases, now or when the body is
     * in; the reference that reading took is given back here, so that a
     * read that fails later (nginx finalizes the request then) leaks none.
     */

    ngx_http_finalize_request(r, NGX_DONE);

    return NGX_DONE;
}


static void
ngx_http_v3xy_body_done(ngx_http_request_t *r)
{
    ngx_http_v3xy_ctx_t  *ctx;

    ctx = ngx_http_v3xy_get_ctx(r);
    if (ctx == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ctx->body_state = NGX_HTTP_V3XY_BODY_DONE;

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
}


/*
 * $v3xy_body_email of this request, the canonical form of the body's
 * "email" (src/v3xy_email.h): NGX_OK, or NGX_DECLINED with ctx->message
 * saying what is wrong with the body.
 */

ngx_int_t
ngx_http_v3xy_body_email(ngx_http_request_t *r, ngx_http_v3xy_ctx_t *ctx)
{
    size_t                     len;
    u_char                    *email;
    unsigned                   flags;
    ngx_int_t                  rc;
    ngx_str_t                  body;
    const char                *msg;
    v3xy_body_status_e         status;
    v3xy_email_status_e        why;
    ngx_http_v3xy_loc_conf_t  *vlcf;

    vlcf = ngx_http_get_module_loc_conf(r, ngx_http_v3xy_module);

    /* after an internal redirect, the serving location's subaddress mode */

    if (ctx->body_email.data != NULL
        && ctx->body_subaddress == vlcf->body_subaddress)
    {
        return NGX_OK;
    }

    flags = (vlcf->body_subaddress == NGX_HTTP_V3XY_SUBADDRESS_KEEP)
            ? V3XY_EMAIL_KEEP_SUBADDRESS : 0;

    rc = ngx_http_v3xy_body_bytes(r, &body, NGX_HTTP_V3XY_BODY_JSON_MAX);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_DECLINED) {
        msg = "The request body is too large for this endpoint.";
        goto invalid;
    }

    email = ngx_pnalloc(r->pool, V3XY_EMAIL_MAX);
    if (email == NULL) {
        return NGX_ERROR;
    }

    status = v3xy_body_email(body.data, body.len, flags, email, &len, &why);

    if (status != V3XY_BODY_OK) {
        msg = v3xy_body_status_text(status, why);
        goto invalid;
    }

    ctx->body_email.data = email;
    ctx->body_email.len = len;
    ctx->body_subaddress = vlcf->body_subaddress;

    return NGX_OK;

invalid:

    ctx->message.data = (u_char *) msg;
    ctx->message.len = ngx_strlen(msg);

    /* the reason only: an address is personal data, and a bad one may
     * hold what a log reader's terminal would obey */

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "v3xy: body_invalid: %s", msg);

    return NGX_DECLINED;
}


/*
 * The body's bytes in one piece: NGX_DECLINED if over max.  A body that
 * nginx wrote to a temporary file is read back from it (the file was just
 * written: the page cache holds it, as when proxy_pass sends it).
 */

static ngx_int_t
ngx_http_v3xy_body_bytes(ngx_http_request_t *r, ngx_str_t *out, size_t max)
{
    off_t         size;
    u_char       *p;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    out->len = 0;
    out->data = (u_char *) "";

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    size = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        size += ngx_buf_size(cl->buf);
    }

    if (size > (off_t) max) {
        return NGX_DECLINED;
    }

    if (r->request_body->bufs->next == NULL
        && !r->request_body->bufs->buf->in_file)
    {
        b = r->request_body->bufs->buf;
        out->data = b->pos;
        out->len = b->last - b->pos;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, (size_t) size + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->data = p;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file) {
            n = ngx_read_file(b->file, p,
                              (size_t) (b->file_last - b->file_pos),
                              b->file_pos);

            if (n != b->file_last - b->file_pos) {
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "v3xy: cannot read the request body back "
                              "from \"%V\"", &b->file->name);
                return NGX_ERROR;
            }

            p += n;
            continue;
        }

        p = ngx_cpymem(p, b->pos, b->last - b->pos);
    }

    out->len = p - out->data;

    return NGX_OK;
}
