/*
 * ngx_http_v3xy_error: every refusal of the module, as the API's JSON.
 *
 * One table maps a reason to its status, code and message; one function
 * renders and sends it.  Refusals carry no Access-Control-Allow-* header
 * and are not cached.
 */

#include "ngx_http_v3xy_module.h"
#include "v3xy_json.h"


typedef struct {
    ngx_uint_t                 status;
    ngx_str_t                  code;
    ngx_str_t                  message;
    uint64_t                   retry_after;   /* seconds; 0: none */
} ngx_http_v3xy_error_t;


/*
 * The 503s that a retry can cure carry Retry-After: a Redis connection
 * that failed is made again within its backoff's 2 s at most; the API
 * unreachable on both base URLs is tried again at once by the next
 * request (the failover's own breaker, when open, says when its probe
 * goes: ngx_http_v3xy_failover.c).
 */

#define NGX_HTTP_V3XY_RETRY_REDIS     2
#define NGX_HTTP_V3XY_RETRY_UPSTREAM  1


static ngx_http_v3xy_error_t  ngx_http_v3xy_errors[] = {

    /* NGX_HTTP_V3XY_ERR_NONE */
    { 0, ngx_null_string, ngx_null_string, 0 },

    /* NGX_HTTP_V3XY_ERR_API_KEY_ORIGIN */
    { NGX_HTTP_FORBIDDEN,
      ngx_string("api_key_origin"),
      ngx_string("Developer API keys are for server-side use only; "
                 "this request was sent by a browser."),
      0 },

    /* NGX_HTTP_V3XY_ERR_RATE_LIMITED */
    { NGX_HTTP_TOO_MANY_REQUESTS,
      ngx_string("rate_limited"),
      ngx_string("Rate limited: retry after the number of seconds in "
                 "Retry-After."),
      0 },

    /* NGX_HTTP_V3XY_ERR_LIMIT_UNAVAILABLE */
    { NGX_HTTP_SERVICE_UNAVAILABLE,
      ngx_string("rate_limit_unavailable"),
      ngx_string("Rate limits cannot be checked right now; "
                 "try again shortly."),
      NGX_HTTP_V3XY_RETRY_REDIS },

    /* NGX_HTTP_V3XY_ERR_BODY_INVALID: the message says what is wrong */
    { NGX_HTTP_BAD_REQUEST,
      ngx_string("body_invalid"),
      ngx_string("The request body is invalid."),
      0 },

    /* NGX_HTTP_V3XY_ERR_WEBHOOK_MISSING */
    { NGX_HTTP_BAD_REQUEST,
      ngx_string("webhook_signature_missing"),
      ngx_string("The X-V3XY-Signature header is missing."),
      0 },

    /* NGX_HTTP_V3XY_ERR_WEBHOOK_MALFORMED: the message says what is wrong */
    { NGX_HTTP_BAD_REQUEST,
      ngx_string("webhook_signature_malformed"),
      ngx_string("The X-V3XY-Signature header is malformed."),
      0 },

    /* NGX_HTTP_V3XY_ERR_WEBHOOK_STALE */
    { NGX_HTTP_UNAUTHORIZED,
      ngx_string("webhook_timestamp_out_of_tolerance"),
      ngx_string("The signature's timestamp is too far from now."),
      0 },

    /* NGX_HTTP_V3XY_ERR_WEBHOOK_INVALID */
    { NGX_HTTP_UNAUTHORIZED,
      ngx_string("webhook_signature_invalid"),
      ngx_string("No signature matches the body under any secret."),
      0 },

    /* NGX_HTTP_V3XY_ERR_WEBHOOK_REPLAYED */
    { NGX_HTTP_CONFLICT,
      ngx_string("webhook_replayed"),
      ngx_string("This signed delivery was accepted before."),
      0 },

    /* NGX_HTTP_V3XY_ERR_API_KEY_MISSING */
    { NGX_HTTP_UNAUTHORIZED,
      ngx_string("api_key_missing"),
      ngx_string("No X-V3XY-API-Key header."),
      0 },

    /* NGX_HTTP_V3XY_ERR_API_KEY_INVALID */
    { NGX_HTTP_FORBIDDEN,
      ngx_string("api_key_invalid"),
      ngx_string("The developer key is revoked or unknown."),
      0 },

    /* NGX_HTTP_V3XY_ERR_API_KEY_SCOPE */
    { NGX_HTTP_FORBIDDEN,
      ngx_string("api_key_scope"),
      ngx_string("The developer key is not permitted for this endpoint."),
      0 },

    /* NGX_HTTP_V3XY_ERR_CREDENTIALS_MIXED */
    { NGX_HTTP_BAD_REQUEST,
      ngx_string("credentials_mixed"),
      ngx_string("Send a developer key or a session token, not both."),
      0 },

    /* NGX_HTTP_V3XY_ERR_UPSTREAM_UNAVAILABLE */
    { NGX_HTTP_SERVICE_UNAVAILABLE,
      ngx_string("upstream_unavailable"),
      ngx_string("The API is unreachable on both the primary and the "
                 "backup base URL; try again shortly."),
      NGX_HTTP_V3XY_RETRY_UPSTREAM },

    /* NGX_HTTP_V3XY_ERR_UPSTREAM_UNANSWERED */
    { NGX_HTTP_BAD_GATEWAY,
      ngx_string("upstream_unanswered"),
      ngx_string("The API took the request but did not answer; it was not "
                 "sent again because it may have been processed: check "
                 "with its external_id before retrying."),
      0 },

    /* NGX_HTTP_V3XY_ERR_KEY_STORE_UNAVAILABLE */
    { NGX_HTTP_SERVICE_UNAVAILABLE,
      ngx_string("key_store_unavailable"),
      ngx_string("Developer keys cannot be checked right now; "
                 "try again shortly."),
      NGX_HTTP_V3XY_RETRY_REDIS },

    /* NGX_HTTP_V3XY_ERR_SESSION_MISSING */
    { NGX_HTTP_UNAUTHORIZED,
      ngx_string("session_missing"),
      ngx_string("No Authorization: Bearer session token."),
      0 },

    /* NGX_HTTP_V3XY_ERR_SESSION_INVALID */
    { NGX_HTTP_UNAUTHORIZED,
      ngx_string("session_invalid"),
      ngx_string("The session is unknown, expired or revoked; "
                 "sign in again."),
      0 },

    /* NGX_HTTP_V3XY_ERR_SESSION_STORE_UNAVAILABLE */
    { NGX_HTTP_SERVICE_UNAVAILABLE,
      ngx_string("session_store_unavailable"),
      ngx_string("Sessions cannot be checked right now; "
                 "try again shortly."),
      NGX_HTTP_V3XY_RETRY_REDIS },

    /* NGX_HTTP_V3XY_ERR_METHOD: v3xy_metrics answers GET and HEAD */
    { NGX_HTTP_NOT_ALLOWED,
      ngx_string("method_not_allowed"),
      ngx_string("Only GET and HEAD are allowed here."),
      0 },
};


ngx_str_t *
ngx_http_v3xy_error_code(ngx_http_v3xy_err_e err)
{
    return &ngx_http_v3xy_errors[err].code;
}


/*
 * Sends the refusal and finalizes the request; returns NGX_DONE for the
 * phase handler to return.
 */

ngx_int_t
ngx_http_v3xy_refuse(ngx_http_request_t *r, ngx_http_v3xy_err_e err)
{
    size_t                  len;
    ngx_int_t               rc;
    ngx_str_t              *msg;
    ngx_buf_t              *b;
    ngx_chain_t             out;
    ngx_table_elt_t        *cc, *ra, *wa;
    ngx_http_v3xy_ctx_t       *ctx;
    ngx_http_v3xy_error_t     *e;
    ngx_http_v3xy_loc_conf_t  *vlcf;

    e = &ngx_http_v3xy_errors[err];

    ctx = ngx_http_v3xy_get_ctx(r);
    if (ctx == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return NGX_DONE;
    }

    ctx->error = err;

    if (ctx->retry_after == 0) {
        ctx->retry_after = e->retry_after;
    }

    if (ctx->role == NGX_HTTP_V3XY_ROLE_NONE) {
        vlcf = ngx_http_get_module_loc_conf(r, ngx_http_v3xy_module);
        ctx->role = vlcf->role;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        ngx_http_finalize_request(r, rc);
        return NGX_DONE;
    }

    msg = ctx->message.len ? &ctx->message : &e->message;

    len = v3xy_json_error_len(msg->data, msg->len, e->code.data, e->code.len);

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return NGX_DONE;
    }

    b->last = v3xy_json_error(b->pos, msg->data, msg->len, e->code.data,
                              e->code.len);
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = e->status;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    cc = ngx_list_push(&r->headers_out.headers);
    if (cc == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return NGX_DONE;
    }

    cc->hash = 1;
#if (nginx_version >= 1023000)
    cc->next = NULL;
#endif
    ngx_str_set(&cc->key, "Cache-Control");
    ngx_str_set(&cc->value, "no-store");

    /* RFC 6750: a 401 for a Bearer token names the scheme */

    if (err == NGX_HTTP_V3XY_ERR_SESSION_MISSING
        || err == NGX_HTTP_V3XY_ERR_SESSION_INVALID)
    {
        wa = ngx_list_push(&r->headers_out.headers);
        if (wa == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return NGX_DONE;
        }

        wa->hash = 1;
#if (nginx_version >= 1023000)
        wa->next = NULL;
#endif
        ngx_str_set(&wa->key, "WWW-Authenticate");

        if (err == NGX_HTTP_V3XY_ERR_SESSION_MISSING) {
            ngx_str_set(&wa->value, "Bearer");

        } else {
            ngx_str_set(&wa->value, "Bearer error=\"invalid_token\"");
        }
    }

    if (ctx->retry_after) {
        ra = ngx_list_push(&r->headers_out.headers);
        if (ra == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return NGX_DONE;
        }

        ra->value.data = ngx_pnalloc(r->pool, NGX_INT64_LEN);
        if (ra->value.data == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return NGX_DONE;
        }

        ra->hash = 1;
#if (nginx_version >= 1023000)
        ra->next = NULL;
#endif
        ngx_str_set(&ra->key, "Retry-After");
        ra->value.len = ngx_sprintf(ra->value.data, "%uL", ctx->retry_after)
                        - ra->value.data;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        ngx_http_finalize_request(r, rc);
        return NGX_DONE;
    }

    out.buf = b;
    out.next = NULL;

    ngx_http_finalize_request(r, ngx_http_output_filter(r, &out));

    return NGX_DONE;
}
