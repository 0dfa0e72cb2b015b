/*
 * ngx_http_v3xy_module: what the glue files share: the configuration
 * structs, the request's context (ngx_http_v3xy_ctx.c) and the error codes
 * (ngx_http_v3xy_error.c).  Each capability declares its own functions in
 * its header: key, body, webhook, gateway, key_cache, limit, shm, redis,
 * failover, metrics, variables, pipeline (docs/development.md, Layout).
 */

#ifndef _NGX_HTTP_V3XY_MODULE_H_INCLUDED_
#define _NGX_HTTP_V3XY_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "v3xy_window.h"
#include "ngx_http_v3xy_redis.h"


#define NGX_HTTP_V3XY_BROWSER_REJECT  0
#define NGX_HTTP_V3XY_BROWSER_ALLOW   1

#define NGX_HTTP_V3XY_FAIL_OPEN       0
#define NGX_HTTP_V3XY_FAIL_CLOSED     1
#define NGX_HTTP_V3XY_FAIL_LOCAL      2

#define NGX_HTTP_V3XY_BODY_READING    1
#define NGX_HTTP_V3XY_BODY_DONE       2

#define NGX_HTTP_V3XY_SUBADDRESS_FOLD 0
#define NGX_HTTP_V3XY_SUBADDRESS_KEEP 1

/* where the request went: $v3xy_upstream */
#define NGX_HTTP_V3XY_UPSTREAM_NONE     0
#define NGX_HTTP_V3XY_UPSTREAM_PRIMARY  1
#define NGX_HTTP_V3XY_UPSTREAM_BACKUP   2

/* why it went to the backup: $v3xy_failover (failover.c has the names) */
#define NGX_HTTP_V3XY_FAILOVER_NONE     0
#define NGX_HTTP_V3XY_FAILOVER_CONNECT  1
#define NGX_HTTP_V3XY_FAILOVER_TIMEOUT  2
#define NGX_HTTP_V3XY_FAILOVER_ERROR    3
#define NGX_HTTP_V3XY_FAILOVER_502      4
#define NGX_HTTP_V3XY_FAILOVER_503      5
#define NGX_HTTP_V3XY_FAILOVER_504      6
#define NGX_HTTP_V3XY_FAILOVER_BREAKER  7

/* what a location does, for the metrics' "role" label */
#define NGX_HTTP_V3XY_ROLE_NONE       0
#define NGX_HTTP_V3XY_ROLE_SIDECAR    1
#define NGX_HTTP_V3XY_ROLE_WEBHOOK    2
#define NGX_HTTP_V3XY_ROLE_GATEWAY    3

/* Redis's round trips: a histogram of this many buckets */
#define NGX_HTTP_V3XY_RTT_BUCKETS       14

/* the Redis counters: ngx_http_v3xy_metrics.redis[] */
#define NGX_HTTP_V3XY_REDIS_RECONNECTS  0
#define NGX_HTTP_V3XY_REDIS_ERRORS      1
#define NGX_HTTP_V3XY_REDIS_TIMEOUTS    2

/* the key store's and the session store's caches: ...metrics.key_cache[],
 * ...metrics.session_cache[] */
#define NGX_HTTP_V3XY_KC_HIT        0
#define NGX_HTTP_V3XY_KC_NEGATIVE   1
#define NGX_HTTP_V3XY_KC_MISS       2
#define NGX_HTTP_V3XY_KC_FAILED     3


/* indexes into the table of refusals in ngx_http_v3xy_error.c */
typedef enum {
    NGX_HTTP_V3XY_ERR_NONE = 0,
    NGX_HTTP_V3XY_ERR_API_KEY_ORIGIN,
    NGX_HTTP_V3XY_ERR_RATE_LIMITED,
    NGX_HTTP_V3XY_ERR_LIMIT_UNAVAILABLE,
    NGX_HTTP_V3XY_ERR_BODY_INVALID,
    NGX_HTTP_V3XY_ERR_WEBHOOK_MISSING,
    NGX_HTTP_V3XY_ERR_WEBHOOK_MALFORMED,
    NGX_HTTP_V3XY_ERR_WEBHOOK_STALE,
    NGX_HTTP_V3XY_ERR_WEBHOOK_INVALID,
    NGX_HTTP_V3XY_ERR_WEBHOOK_REPLAYED,
    NGX_HTTP_V3XY_ERR_API_KEY_MISSING,
    NGX_HTTP_V3XY_ERR_API_KEY_INVALID,
    NGX_HTTP_V3XY_ERR_API_KEY_SCOPE,
    NGX_HTTP_V3XY_ERR_CREDENTIALS_MIXED,
    NGX_HTTP_V3XY_ERR_UPSTREAM_UNAVAILABLE,
    NGX_HTTP_V3XY_ERR_UPSTREAM_UNANSWERED,
    NGX_HTTP_V3XY_ERR_KEY_STORE_UNAVAILABLE,
    NGX_HTTP_V3XY_ERR_SESSION_MISSING,
    NGX_HTTP_V3XY_ERR_SESSION_INVALID,
    NGX_HTTP_V3XY_ERR_SESSION_STORE_UNAVAILABLE,
    NGX_HTTP_V3XY_ERR_METHOD,
    NGX_HTTP_V3XY_ERR_LAST
} ngx_http_v3xy_err_e;


typedef struct {
    ngx_str_t                  key;        /* the secret; never logged */
    ngx_str_t                  key_id;     /* its fingerprint */
    ngx_str_t                  tier;       /* tier=, or empty */
} ngx_http_v3xy_key_t;


typedef struct ngx_http_v3xy_key_store_s  ngx_http_v3xy_key_store_t;
typedef struct ngx_http_v3xy_key_cache_s  ngx_http_v3xy_key_cache_t;
typedef struct ngx_http_v3xy_hold_conf_s  ngx_http_v3xy_hold_conf_t;
typedef struct ngx_http_v3xy_hold_ctx_s  ngx_http_v3xy_hold_ctx_t;


/* v3xy_backup: what one directive built */
typedef struct {
    ngx_str_t                  url;
    ngx_http_complex_value_t   url_cv;     /* for the logs */
    ngx_str_t                  name;       /* "@v3xy_backup_N" */
    ngx_uint_t                 index;      /* its breaker */
    ngx_str_t                  breaker;    /* breaker=, shared by name */
    ngx_uint_t                 fails;      /* fails=, 0: no breaker */
    ngx_msec_t                 cooldown;   /* cooldown= */
    ngx_uint_t                 non_idempotent;
    ngx_shm_zone_t            *zone;       /* the breakers */
    ngx_http_core_loc_conf_t  *primary;    /* the location of proxy_pass */
    ngx_http_core_loc_conf_t  *backup;     /* the location built inside */
    ngx_http_core_loc_conf_t  *named;      /* the named one leading there */
    ngx_str_t                  label;      /* its breaker, for metrics */
    ngx_atomic_t              *metrics;    /* its breaker's openings */
    ngx_str_t                  file;       /* where it was written */
    ngx_uint_t                 line;
} ngx_http_v3xy_backup_t;


/* a rate of a zone: its default (rate=) or a tier's (tier=NAME:RATE) */
typedef struct {
    ngx_str_t                  tier;       /* "default" for rate= */
    v3xy_rate_t                rate;
    ngx_str_t                  policy;     /* RateLimit-Policy value */
    ngx_str_t                  args[3];    /* limit, window, burst: for
                                              the Redis script */
    ngx_atomic_t              *metrics;    /* admitted, refused, refused
                                              in dry run */
    ngx_str_t                  group;      /* a tier's: "zone:tier", the
                                              name of its counters */
} ngx_http_v3xy_zone_rate_t;


/* v3xy_limit_zone */
typedef struct {
    ngx_str_t                  name;
    ngx_http_complex_value_t   key;
    ngx_int_t                  key_index;  /* a key that is one variable
                                              alone: its index, else -1 */
    v3xy_rate_t                rate;       /* the default: rates[0].rate */
    ngx_http_v3xy_zone_rate_t *rates;      /* [0] rate=, then the tiers */
    ngx_uint_t                 nrates;
    ngx_shm_zone_t            *shm_zone;
    ngx_atomic_t              *full_metrics;  /* no room for a key, by
                                                 outcome: admitted,
                                                 refused */
    unsigned                   body_email:1;  /* key uses the body */
    unsigned                   replay:1;      /* the webhook replay guard */
} ngx_http_v3xy_zone_t;


/*
 * Counters in the metrics zone (ngx_http_v3xy_metrics.c), NULL without
 * one: requests by role and outcome, limit fallbacks by mode, failovers by
 * reason, webhook verdicts by outcome, key cache lookups by result, Redis
 * (reconnects, errors, timeouts), its state per worker and its round
 * trips, the upstreams' response times (primary, backup).
 */
typedef struct {
    ngx_atomic_t              *requests;   /* [role][err] */
    ngx_atomic_t              *fallback;   /* [v3xy_limit_fail] */
    ngx_atomic_t              *failover;   /* [reason] */
    ngx_atomic_t              *webhook;    /* [err] */
    ngx_atomic_t              *key_cache;
    ngx_atomic_t              *session_cache;
    ngx_atomic_t              *redis;
    ngx_atomic_t              *redis_up;   /* [worker] */
    ngx_atomic_t              *redis_rtt;  /* a histogram */
    ngx_atomic_t              *upstream;   /* two histograms */
    ngx_atomic_t              *upstream_429;  /* [role][api, hold] */
    ngx_uint_t                 workers;
} ngx_http_v3xy_metrics_t;


typedef struct ngx_http_v3xy_main_conf_s  ngx_http_v3xy_main_conf_t;
typedef struct ngx_http_v3xy_mout_s  ngx_http_v3xy_mout_t;

/* prints a capability's metric families (ngx_http_v3xy_metrics.h) */
typedef ngx_int_t (*ngx_http_v3xy_mprint_pt)(ngx_http_v3xy_mout_t *out,
    ngx_http_v3xy_main_conf_t *vmcf);


struct ngx_http_v3xy_main_conf_s {
    ngx_http_v3xy_redis_conf_t *redis;     /* v3xy_redis, or NULL */
    ngx_uint_t                  keys;      /* v3xy_api_key_file lines */
    ngx_uint_t                  stores;    /* key and session stores */
    ngx_array_t                *key_tiers;  /* their tier=, or NULL */
    ngx_array_t                 zones;     /* of ngx_http_v3xy_zone_t * */
    ngx_array_t                 replay_zones;  /* one per tolerance */
    ngx_http_v3xy_redis_script_t limit_script;
    ngx_http_v3xy_redis_script_t limit_script_node;  /* a Cluster node's */
    ngx_array_t                 backups;   /* ngx_http_v3xy_backup_t * */
    ngx_shm_zone_t             *breaker_zone;
    ngx_uint_t                  breakers;  /* distinct breakers */
    ngx_http_v3xy_key_cache_t   *key_cache;  /* v3xy_key_store redis */
    ngx_http_v3xy_key_cache_t   *session_cache;  /* v3xy_session_store */
    ngx_shm_zone_t             *hold_zone;  /* the API's 429s */
    ngx_http_v3xy_redis_script_t hold_script;
    ngx_shm_zone_t             *metrics_zone;  /* v3xy_metrics, or NULL */
    ngx_core_conf_t            *metrics_ccf;
    ngx_http_v3xy_metrics_t     metrics;
    ngx_http_v3xy_mprint_pt    *metrics_families;  /* NULL-terminated */
};


typedef struct {
    ngx_http_v3xy_key_t       *api_key;    /* v3xy_api_key_file, or NULL */
    ngx_uint_t                 browser;    /* v3xy_browser */
    ngx_array_t               *limits;     /* v3xy_limit: zones, or NULL */
    ngx_uint_t                 limit_fail; /* v3xy_limit_fail */
    ngx_uint_t                 body_email; /* a zone keyed on the body */
    ngx_uint_t                 body_subaddress;  /* ..._SUBADDRESS_* */
    ngx_array_t               *decide;     /* limits + replay guard */
    u_char                    *decide_dry; /* of each: in dry run, or NULL
                                              if none is */
    ngx_array_t               *limit_dry;  /* v3xy_limit_dry_run: NULL
                                              off, empty: on, else the
                                              zones named */

    ngx_array_t               *webhook_secrets;   /* v3xy_sig_key_t, in
                                                     secret memory */
    time_t                     webhook_tolerance;
    ngx_flag_t                 webhook_replay;
    ngx_http_v3xy_zone_t      *replay_zone;  /* the replay guard's */

    ngx_http_v3xy_key_store_t *key_store;  /* v3xy_key_store, or NULL */
    ngx_array_t               *scopes;     /* v3xy_scope: v3xy_ks_str_t */
    ngx_flag_t                 key_forward;
    ngx_http_v3xy_key_store_t *session_store;  /* v3xy_session_store */

    ngx_http_v3xy_backup_t    *backup;     /* v3xy_backup, or NULL */
    ngx_uint_t                 backup_child;  /* the backup's location */

    ngx_http_v3xy_hold_conf_t *hold;       /* v3xy_upstream_429 hold, or
                                              NULL: pass */

    ngx_uint_t                 role;       /* NGX_HTTP_V3XY_ROLE_*: what
                                              the merged location does */
} ngx_http_v3xy_loc_conf_t;


typedef struct ngx_http_v3xy_limit_ctx_s  ngx_http_v3xy_limit_ctx_t;
typedef struct ngx_http_v3xy_gateway_ctx_s  ngx_http_v3xy_gateway_ctx_t;

typedef struct {
    ngx_http_request_t        *request;    /* whose: not a subrequest's */
    ngx_http_v3xy_err_e        error;      /* the refusal, if any */
    ngx_uint_t                 role;       /* NGX_HTTP_V3XY_ROLE_* */
    ngx_str_t                  message;    /* its message, if not the
                                              table's */

    ngx_uint_t                 step;       /* where the pipeline resumes */

    /* the tightest zone, for RateLimit headers and $v3xy_limit_remaining */
    ngx_http_v3xy_zone_t      *limit_zone;
    ngx_http_v3xy_zone_rate_t *limit_rate;     /* the rate it applied */
    uint64_t                   limit_remaining;
    uint64_t                   limit_reset;    /* seconds */
    uint64_t                   retry_after;    /* seconds, refused only */

    ngx_http_v3xy_limit_ctx_t *limit;      /* a decision under way */
    ngx_uint_t                 limit_fallback;  /* v3xy_limit_fail + 1 */
    ngx_uint_t                 limit_status;   /* NGX_HTTP_V3XY_LIMIT_* */

    ngx_uint_t                 body_state;
    ngx_str_t                  body_email; /* $v3xy_body_email */
    ngx_uint_t                 body_subaddress;  /* its mode */

    ngx_uint_t                 webhook_fresh;  /* timestamp checked */
    ngx_uint_t                 webhook_ok;
    ngx_array_t               *webhook_secrets;  /* whose secrets did */
    ngx_str_t                  webhook_signature;  /* the v1 that matched */
    ngx_str_t                  webhook_delivery;   /* its mark, in hex */

    ngx_str_t                  key_id;     /* gateway: the presented key's */
    ngx_uint_t                 key_cache;  /* NGX_HTTP_V3XY_KC_* + 1 */
    ngx_str_t                  account;    /* and its account */
    ngx_str_t                  scopes;     /* and its scopes, joined */
    ngx_str_t                  tier;       /* and its tier, or empty */
    u_char                     key_digest[32];  /* its SHA-256 */
    ngx_http_v3xy_key_store_t *gateway_store;  /* the store that judged */
    void                      *gateway_lcf;    /* the location that did */
    unsigned                   key_digested:1;

    ngx_str_t                  session_id; /* the Bearer token's */
    ngx_uint_t                 session_cache;  /* NGX_HTTP_V3XY_KC_* + 1 */
    ngx_http_v3xy_key_store_t *session_store;  /* the store that judged */
    ngx_http_v3xy_gateway_ctx_t *session;  /* its lookup in Redis */

    ngx_uint_t                 upstream;   /* NGX_HTTP_V3XY_UPSTREAM_* */
    ngx_uint_t                 failover;   /* NGX_HTTP_V3XY_FAILOVER_* */
    unsigned                   probe:1;    /* probes for the breaker */
    unsigned                   backup_failed:1;

    ngx_http_v3xy_gateway_ctx_t *gateway;  /* its lookup in Redis */
    ngx_http_v3xy_hold_ctx_t  *hold;       /* its hold's check */
} ngx_http_v3xy_ctx_t;


/* what one pass over the request headers found */
typedef struct {
    ngx_table_elt_t           *browser_mark;  /* the first browser mark */
    ngx_uint_t                 key_headers;   /* X-V3XY-API-Key headers */
    ngx_table_elt_t           *key_header;    /* the first of them */
    ngx_table_elt_t           *signature;     /* X-V3XY-Signature */
    ngx_uint_t                 signatures;    /* how many */
} ngx_http_v3xy_headers_t;


/* ngx_http_v3xy_ctx.c */
ngx_http_v3xy_ctx_t *ngx_http_v3xy_get_ctx(ngx_http_request_t *r);
ngx_http_v3xy_ctx_t *ngx_http_v3xy_find_ctx(ngx_http_request_t *r);

/* ngx_http_v3xy_error.c */
ngx_int_t ngx_http_v3xy_refuse(ngx_http_request_t *r,
    ngx_http_v3xy_err_e err);
ngx_str_t *ngx_http_v3xy_error_code(ngx_http_v3xy_err_e err);


/* one more in counter i of a group, if metrics are on */

static ngx_inline void
ngx_http_v3xy_count(ngx_atomic_t *group, ngx_uint_t i)
{
    if (group) {
        (void) ngx_atomic_fetch_add(&group[i], 1);
    }
}


/* Wall-clock milliseconds of nginx's cached time. */

static ngx_inline uint64_t
ngx_http_v3xy_now_ms(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (uint64_t) tp->sec * 1000 + tp->msec;
}


extern ngx_str_t  ngx_http_v3xy_role_names[];
extern ngx_http_v3xy_metrics_t  ngx_http_v3xy_metrics;
extern ngx_module_t  ngx_http_v3xy_module;


#endif /* _NGX_HTTP_V3XY_MODULE_H_INCLUDED_ */
