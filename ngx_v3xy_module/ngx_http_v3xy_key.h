/*
 * ngx_http_v3xy_key: the sidecar's key (file, secret memory, injection),
 * and the request headers that carry keys.
 */

#ifndef _NGX_HTTP_V3XY_KEY_H_INCLUDED_
#define _NGX_HTTP_V3XY_KEY_H_INCLUDED_


#include "ngx_http_v3xy_module.h"

char *ngx_http_v3xy_api_key_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_v3xy_key_init(ngx_conf_t *cf);

/* a secret file's content, read once, never logged */
ngx_int_t ngx_http_v3xy_secret_file(ngx_conf_t *cf, const char *what,
    ngx_str_t *name, ngx_str_t *secret);
/* pages left out of core dumps, wiped and freed with the configuration */
u_char *ngx_http_v3xy_secret_mem(ngx_conf_t *cf, size_t size);
/* SHA-256 of data[0..len) into md (32 bytes), without OpenSSL 3's fetch */
ngx_int_t ngx_http_v3xy_sha256(u_char *data, size_t len, u_char *md);

void ngx_http_v3xy_scan_headers(ngx_http_request_t *r,
    ngx_http_v3xy_headers_t *hs);
ngx_int_t ngx_http_v3xy_inject_key(ngx_http_request_t *r,
    ngx_http_v3xy_key_t *key, ngx_http_v3xy_headers_t *hs);
ngx_int_t ngx_http_v3xy_remove_key_headers(ngx_http_request_t *r);
ngx_int_t ngx_http_v3xy_remove_headers(ngx_http_request_t *r, u_char *lc,
    size_t len, ngx_uint_t rebuild);
ngx_uint_t ngx_http_v3xy_header_is(u_char *lc, u_char *name, size_t len);
ngx_int_t ngx_http_v3xy_key_leave(ngx_http_request_t *r);
ngx_int_t ngx_http_v3xy_conf_once(ngx_conf_t *cf, ngx_uint_t first,
    const char *multi);


#endif /* _NGX_HTTP_V3XY_KEY_H_INCLUDED_ */
