/*
 * ngx_http_v3xy_key_cache: the answers of the gateway's key store in
 * Redis (v3xy_key_store redis), in shared memory.
 *
 * One zone, "v3xy_key_cache", for every v3xy_key_store redis of the http
 * block, shared by the workers of one machine; another of the same kind,
 * "v3xy_session_cache", for every v3xy_session_store redis (a session
 * holds an account and no scopes).  It holds answers, valid
 * keys and refusals alike, by the key's SHA-256 (never the key), with the
 * time their lookup began: each location takes an answer for as long as
 * its own cache= says, so that a revocation counts within that time.
 *
 * The bound: refusals (unknown, revoked, malformed) have a quarter of the
 * zone, in nodes of one size made with the zone; a new refusal takes a
 * free one or the least recently used one.  A flood of made-up keys thus
 * recycles that quarter: it neither grows the cache nor evicts a valid
 * key.  Valid keys have the rest; only other valid keys (least recently
 * used first) make room for one.
 *
 * Memory per answer (64-bit): a refusal 104 bytes; a valid key 102 bytes
 * plus its account, its scopes joined by spaces and its tier, which the
 * slab rounds up to a power of two: 256 bytes for an account of 10
 * characters, three scopes and a tier, 1024 at worst (an account of 64,
 * 16 scopes of 32, a tier of 32).
 * A 10m zone holds 25,206 refusals and about 30,000 valid keys.
 */

#ifndef _NGX_HTTP_V3XY_KEY_CACHE_H_INCLUDED_
#define _NGX_HTTP_V3XY_KEY_CACHE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include "v3xy_keystore.h"
#include "ngx_http_v3xy_module.h"

#include <openssl/sha.h>


/* the answers of a key store */
#define NGX_HTTP_V3XY_KEY_VALID      1
#define NGX_HTTP_V3XY_KEY_UNKNOWN    2
#define NGX_HTTP_V3XY_KEY_REVOKED    3
#define NGX_HTTP_V3XY_KEY_MALFORMED  4

#define NGX_HTTP_V3XY_KEY_CACHE_SIZE  (10 * 1024 * 1024)


typedef struct ngx_http_v3xy_key_cache_sh_s  ngx_http_v3xy_key_cache_sh_t;

struct ngx_http_v3xy_key_cache_s {
    ngx_shm_zone_t                *shm_zone;
    ngx_http_v3xy_key_cache_sh_t  *sh;
    ngx_slab_pool_t               *shpool;
    ngx_str_t                      file;  /* the first v3xy_key_store */
    ngx_uint_t                     line;  /* redis, for errors */
    const char                    *what;  /* its directive */
};


/* a node of a tree of digests: the cache's, a worker's lookups */
typedef struct {
    ngx_rbtree_node_t          rbnode;    /* key: the digest's first bytes */
    u_char                     digest[SHA256_DIGEST_LENGTH];
} ngx_http_v3xy_key_tnode_t;


/*
 * The http block's cache *kcp (made at its first call, with the place of
 * the directive what, in a zone of that name), at least size bytes; 0:
 * the default if no call gives one.
 */
ngx_http_v3xy_key_cache_t *ngx_http_v3xy_key_cache_add(ngx_conf_t *cf,
    ngx_http_v3xy_key_cache_t **kcp, char *zone, const char *what,
    size_t size);

/* Once the http block is read: the size, if none was given. */
void ngx_http_v3xy_key_cache_init(ngx_http_v3xy_key_cache_t *kc);

/* a valid key's strings, copied out of the cache */
#define NGX_HTTP_V3XY_KEY_CACHE_BUF                                           \
    (V3XY_KS_ACCOUNT_MAX + V3XY_KS_SCOPES_JOINED_MAX + V3XY_KS_TIER_MAX)

/* a lookup's result by NGX_HTTP_V3XY_KC_*: $v3xy_key_cache, metrics */
extern ngx_str_t  ngx_http_v3xy_key_cache_names[];

/*
 * The answer for a digest whose lookup began less than valid ms ago, or
 * 0.  A valid key's account, scopes and tier (len 0: none) are copied
 * into buf, which must hold NGX_HTTP_V3XY_KEY_CACHE_BUF bytes; *why is a
 * malformed hash's v3xy_ks_status_e.
 */
ngx_uint_t ngx_http_v3xy_key_cache_get(ngx_http_v3xy_key_cache_t *kc,
    u_char *digest, ngx_msec_t valid, u_char *buf, ngx_str_t *account,
    ngx_str_t *scopes, ngx_str_t *tier, ngx_uint_t *why);

/*
 * Stores the answer to a lookup begun at fetched (ms), unless the cache
 * holds a younger one (another worker's); e: a valid key's account,
 * scopes and tier.  A valid key that finds no room is not stored (a
 * warning at most once a minute).
 */
void ngx_http_v3xy_key_cache_put(ngx_http_v3xy_key_cache_t *kc,
    u_char *digest, uint64_t fetched, ngx_uint_t answer, ngx_uint_t why,
    v3xy_ks_entry_t *e, ngx_log_t *log);

/* the metrics: lookups by result, of keys and of sessions */
ngx_int_t ngx_http_v3xy_session_cache_metrics(ngx_http_v3xy_mout_t *out,
    ngx_http_v3xy_main_conf_t *vmcf);
ngx_int_t ngx_http_v3xy_key_cache_metrics(ngx_http_v3xy_mout_t *out,
    ngx_http_v3xy_main_conf_t *vmcf);

/* ngx_rbtree_t's insert and a lookup for trees of digests */
void ngx_http_v3xy_key_tree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
ngx_http_v3xy_key_tnode_t *ngx_http_v3xy_key_tree_find(ngx_rbtree_t *tree,
    u_char *digest);


#endif /* _NGX_HTTP_V3XY_KEY_CACHE_H_INCLUDED_ */
