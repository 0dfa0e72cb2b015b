/*
 * ngx_http_v3xy_key_cache: the answers of the gateway's key store in
 * Redis, in shared memory (what it offers and what an answer costs:
 * ngx_http_v3xy_key_cache.h).
 *
 * A zone is a slab pool whose data is the shared context: a red-black
 * tree of digests (the first bytes are the tree's key, the whole SHA-256
 * breaks ties), an LRU queue of valid keys, an LRU queue of refusals and
 * a list of free refusal nodes.  Refusal nodes are made when the zone is,
 * all of one size, from a quarter of it, and never freed: a flood of
 * made-up keys only recycles them.  Valid keys are slab allocations of
 * their own size from the rest; when none fits, the least recently used
 * valid keys are freed, never a refusal's node, never more than
 * NGX_HTTP_V3XY_KEY_CACHE_EVICT.  Every access takes the slab pool's
 * mutex for a tree walk and a copy of at most 640 bytes.
 */

#include "ngx_http_v3xy_module.h"
#include "ngx_http_v3xy_metrics.h"
#include "ngx_http_v3xy_key_cache.h"
#include "ngx_http_v3xy_shm.h"


/* valid keys forgotten at most to make room for one */
#define NGX_HTTP_V3XY_KEY_CACHE_EVICT  64

/* the warning of a full cache at most once per this many ms */
#define NGX_HTTP_V3XY_KEY_CACHE_LOG_MS  60000


/* an answer in the cache */
typedef struct {
    ngx_http_v3xy_key_tnode_t  tn;
    ngx_queue_t                queue;     /* LRU of its kind, or free */
    uint64_t                   fetched;   /* ms: when its lookup began */
    u_char                     answer;
    u_char                     why;       /* malformed: v3xy_ks_status_e */
    u_char                     account_len;
    u_char                     tier_len;
    u_short                    scopes_len;
    u_char                     data[1];   /* valid: account, scopes, tier */
} ngx_http_v3xy_key_node_t;


struct ngx_http_v3xy_key_cache_sh_s {
    ngx_rbtree_t               rbtree;
    ngx_rbtree_node_t          sentinel;
    ngx_queue_t                valid;     /* most recently used first */
    ngx_queue_t                refused;   /* most recently used first */
    ngx_queue_t                free;      /* refusal nodes not in use */
    ngx_uint_t                 nvalid;
    ngx_uint_t                 nrefused;
    ngx_uint_t                 max_refused;
    uint64_t                   full_logged;
};


static ngx_int_t ngx_http_v3xy_key_cache_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_v3xy_key_cache_free(ngx_http_v3xy_key_cache_t *kc,
    ngx_http_v3xy_key_node_t *node);


ngx_http_v3xy_key_cache_t *
ngx_http_v3xy_key_cache_add(ngx_conf_t *cf, ngx_http_v3xy_key_cache_t **kcp,
    char *zone, const char *what, size_t size)
{
    ngx_str_t                   name;
    ngx_http_v3xy_key_cache_t  *kc;

    kc = *kcp;

    if (kc == NULL) {
        kc = ngx_pcalloc(cf->pool, sizeof(ngx_http_v3xy_key_cache_t));
        if (kc == NULL) {
            return NULL;
        }

        name.data = (u_char *) zone;
        name.len = ngx_strlen(zone);

        /* the size is known once the http block is read */

        kc->shm_zone = ngx_shared_memory_add(cf, &name, 0,
                                             &ngx_http_v3xy_module);
        if (kc->shm_zone == NULL) {
            return NULL;
        }

        kc->shm_zone->init = ngx_http_v3xy_key_cache_init_zone;
        kc->shm_zone->data = kc;

        kc->file = cf->conf_file->file.name;
        kc->line = cf->conf_file->line;
        kc->what = what;

        *kcp = kc;
    }

    if (size > kc->shm_zone->shm.size) {
        kc->shm_zone->shm.size = size;
    }

    return kc;
}


/* a lookup's result (NGX_HTTP_V3XY_KC_*): $v3xy_key_cache, metrics */
ngx_str_t  ngx_http_v3xy_key_cache_names[] = {
    ngx_string("hit"),
    ngx_string("negative"),
    ngx_string("miss"),
    ngx_string("failed"),
};


void
ngx_http_v3xy_key_cache_init(ngx_http_v3xy_key_cache_t *kc)
{
    if (kc->shm_zone->shm.size == 0) {
        kc->shm_zone->shm.size = NGX_HTTP_V3XY_KEY_CACHE_SIZE;
    }
}


static ngx_int_t
ngx_http_v3xy_key_cache_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_v3xy_key_cache_t *okc = data;

    size_t                         len;
    u_char                        *p;
    ngx_uint_t                     i;
    ngx_http_v3xy_key_node_t      *node;
    ngx_http_v3xy_key_cache_t     *kc;
    ngx_http_v3xy_key_cache_sh_t  *sh;

    kc = shm_zone->data;

    if (okc != NULL) {
        /* a reload kept the zone (same size): its answers stay */
        kc->sh = okc->sh;
        kc->shpool = okc->shpool;

        return NGX_OK;
    }

    kc->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        kc->sh = kc->shpool->data;

        return NGX_OK;
    }

    sh = ngx_slab_calloc(kc->shpool, sizeof(ngx_http_v3xy_key_cache_sh_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    kc->sh = sh;
    kc->shpool->data = sh;

    ngx_rbtree_init(&sh->rbtree, &sh->sentinel,
                    ngx_http_v3xy_key_tree_insert);

    ngx_queue_init(&sh->valid);
    ngx_queue_init(&sh->refused);
    ngx_queue_init(&sh->free);

    /* a quarter of the zone for refusals, made now, never more */

    sh->max_refused = shm_zone->shm.size / 4
                      / sizeof(ngx_http_v3xy_key_node_t);

    p = ngx_slab_alloc(kc->shpool,
                       sh->max_refused * sizeof(ngx_http_v3xy_key_node_t));
    if (p == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < sh->max_refused; i++) {
        node = (ngx_http_v3xy_key_node_t *)
                   (p + i * sizeof(ngx_http_v3xy_key_node_t));
        ngx_queue_insert_tail(&sh->free, &node->queue);
    }

    len = sizeof(" in the  cache") - 1 + ngx_strlen(kc->what);

    kc->shpool->log_ctx = ngx_slab_alloc(kc->shpool, len + 1);
    if (kc->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(kc->shpool->log_ctx, " in the %s cache%Z", kc->what);

    /* a full cache is ours to report, once a minute, not nginx's each time */
    kc->shpool->log_nomem = 0;

    return NGX_OK;
}


ngx_uint_t
ngx_http_v3xy_key_cache_get(ngx_http_v3xy_key_cache_t *kc, u_char *digest,
    ngx_msec_t valid, u_char *buf, ngx_str_t *account, ngx_str_t *scopes,
    ngx_str_t *tier, ngx_uint_t *why)
{
    uint64_t                       now;
    ngx_uint_t                     answer;
    ngx_http_v3xy_key_node_t      *node;
    ngx_http_v3xy_key_cache_sh_t  *sh;

    now = ngx_http_v3xy_now_ms();
    sh = kc->sh;

    ngx_shmtx_lock(&kc->shpool->mutex);

    node = (ngx_http_v3xy_key_node_t *)
               ngx_http_v3xy_key_tree_find(&sh->rbtree, digest);

    /* an answer from the future (the clock stepped back) is stale too */

    if (node == NULL || now < node->fetched || now - node->fetched >= valid) {
        ngx_shmtx_unlock(&kc->shpool->mutex);
        return 0;
    }

    ngx_queue_remove(&node->queue);
    ngx_queue_insert_head(node->answer == NGX_HTTP_V3XY_KEY_VALID
                          ? &sh->valid : &sh->refused, &node->queue);

    answer = node->answer;
    *why = node->why;

    if (answer == NGX_HTTP_V3XY_KEY_VALID) {
        ngx_memcpy(buf, node->data,
                   node->account_len + node->scopes_len + node->tier_len);

        account->data = buf;
        account->len = node->account_len;
        scopes->data = buf + node->account_len;
        scopes->len = node->scopes_len;
        tier->data = scopes->data + node->scopes_len;
        tier->len = node->tier_len;
    }

    ngx_shmtx_unlock(&kc->shpool->mutex);

    return answer;
}


/*
 * A refusal takes a free refusal node or the least recently used one; a
 * valid key a new node, for which the least recently used valid keys are
 * forgotten if need be.
 */

void
ngx_http_v3xy_key_cache_put(ngx_http_v3xy_key_cache_t *kc, u_char *digest,
    uint64_t fetched, ngx_uint_t answer, ngx_uint_t why, v3xy_ks_entry_t *e,
    ngx_log_t *log)
{
    u_char                         scopes[V3XY_KS_SCOPES_JOINED_MAX];
    size_t                         size, len;
    uint64_t                       now;
    ngx_uint_t                     i, full;
#if (NGX_DEBUG)
    ngx_uint_t                     nvalid, nrefused;
#endif
    ngx_queue_t                   *q;
    ngx_http_v3xy_key_node_t      *node;
    ngx_http_v3xy_key_cache_sh_t  *sh;

    size = 0;
    len = 0;
    full = 0;
    sh = kc->sh;

    if (answer == NGX_HTTP_V3XY_KEY_VALID) {
        len = v3xy_ks_scopes_join(e, scopes);
        size = offsetof(ngx_http_v3xy_key_node_t, data) + e->account.len
               + len + e->tier.len;
    }

    ngx_shmtx_lock(&kc->shpool->mutex);

    node = (ngx_http_v3xy_key_node_t *)
               ngx_http_v3xy_key_tree_find(&sh->rbtree, digest);

    if (node != NULL) {
        if (node->fetched > fetched) {
            ngx_shmtx_unlock(&kc->shpool->mutex);
            return;
        }

        ngx_http_v3xy_key_cache_free(kc, node);
    }

    if (answer == NGX_HTTP_V3XY_KEY_VALID) {
        node = ngx_slab_alloc_locked(kc->shpool, size);

        for (i = 0;
             node == NULL && i < NGX_HTTP_V3XY_KEY_CACHE_EVICT
             && !ngx_queue_empty(&sh->valid);
             i++)
        {
            q = ngx_queue_last(&sh->valid);
            ngx_http_v3xy_key_cache_free(kc,
                ngx_queue_data(q, ngx_http_v3xy_key_node_t, queue));

            node = ngx_slab_alloc_locked(kc->shpool, size);
        }

        if (node == NULL) {
            now = ngx_http_v3xy_now_ms();

            if (sh->full_logged == 0 || now < sh->full_logged
                || now - sh->full_logged >= NGX_HTTP_V3XY_KEY_CACHE_LOG_MS)
            {
                sh->full_logged = now ? now : 1;
                full = 1;
            }

            ngx_shmtx_unlock(&kc->shpool->mutex);

            if (full) {
                ngx_log_error(NGX_LOG_WARN, log, 0,
                              "v3xy: the %s cache has no room for a valid "
                              "entry: it is looked up in redis each time; "
                              "a larger size= keeps more (logged at most "
                              "once a minute)", kc->what);
            }

            return;
        }

        node->account_len = (u_char) e->account.len;
        node->scopes_len = (u_short) len;
        node->tier_len = (u_char) e->tier.len;
        ngx_memcpy(ngx_cpymem(ngx_cpymem(node->data, e->account.data,
                                         e->account.len),
                              scopes, len),
                   e->tier.data, e->tier.len);

        ngx_queue_insert_head(&sh->valid, &node->queue);
        sh->nvalid++;

    } else {
        if (ngx_queue_empty(&sh->free)) {
            if (ngx_queue_empty(&sh->refused)) {
                /* a zone too small for even one refusal */
                ngx_shmtx_unlock(&kc->shpool->mutex);
                return;
            }

            q = ngx_queue_last(&sh->refused);
            ngx_http_v3xy_key_cache_free(kc,
                ngx_queue_data(q, ngx_http_v3xy_key_node_t, queue));
        }

        q = ngx_queue_head(&sh->free);
        ngx_queue_remove(q);
        node = ngx_queue_data(q, ngx_http_v3xy_key_node_t, queue);

        node->account_len = 0;
        node->scopes_len = 0;
        node->tier_len = 0;

        ngx_queue_insert_head(&sh->refused, &node->queue);
        sh->nrefused++;
    }

    ngx_memcpy(node->tn.digest, digest, SHA256_DIGEST_LENGTH);
    ngx_memcpy(&node->tn.rbnode.key, digest, sizeof(ngx_rbtree_key_t));
    node->fetched = fetched;
    node->answer = (u_char) answer;
    node->why = (u_char) why;

    ngx_rbtree_insert(&sh->rbtree, &node->tn.rbnode);

#if (NGX_DEBUG)
    nvalid = sh->nvalid;
    nrefused = sh->nrefused;
#endif

    ngx_shmtx_unlock(&kc->shpool->mutex);

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, log, 0,
                   "v3xy: key cache: stored answer %ui; %ui valid keys, "
                   "%ui of %ui refusals", answer, nvalid, nrefused,
                   sh->max_refused);
}


/* a node leaves the tree: a valid key's memory goes back to the slab */

static void
ngx_http_v3xy_key_cache_free(ngx_http_v3xy_key_cache_t *kc,
    ngx_http_v3xy_key_node_t *node)
{
    ngx_http_v3xy_key_cache_sh_t  *sh;

    sh = kc->sh;

    ngx_rbtree_delete(&sh->rbtree, &node->tn.rbnode);
    ngx_queue_remove(&node->queue);

    if (node->answer == NGX_HTTP_V3XY_KEY_VALID) {
        sh->nvalid--;
        ngx_slab_free_locked(kc->shpool, node);

    } else {
        sh->nrefused--;
        ngx_queue_insert_tail(&sh->free, &node->queue);
    }
}


/* both trees: the digest's first bytes are the key, the digest breaks ties */

void
ngx_http_v3xy_key_tree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t          **p;
    ngx_http_v3xy_key_tnode_t   *tn, *tt;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else {
            tn = (ngx_http_v3xy_key_tnode_t *) node;
            tt = (ngx_http_v3xy_key_tnode_t *) temp;

            p = (ngx_memcmp(tn->digest, tt->digest, SHA256_DIGEST_LENGTH)
                 < 0) ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


/*
 * The walk orders by the digest of the presented key, which tells nothing
 * about the stored ones (as the file store's binary search).
 */

ngx_http_v3xy_key_tnode_t *
ngx_http_v3xy_key_tree_find(ngx_rbtree_t *tree, u_char *digest)
{
    ngx_int_t                   rc;
    ngx_rbtree_key_t            key;
    ngx_rbtree_node_t          *node, *sentinel;
    ngx_http_v3xy_key_tnode_t  *tn;

    ngx_memcpy(&key, digest, sizeof(ngx_rbtree_key_t));

    node = tree->root;
    sentinel = tree->sentinel;

    while (node != sentinel) {

        if (key < node->key) {
            node = node->left;
            continue;
        }

        if (key > node->key) {
            node = node->right;
            continue;
        }

        tn = (ngx_http_v3xy_key_tnode_t *) node;

        rc = ngx_memcmp(digest, tn->digest, SHA256_DIGEST_LENGTH);

        if (rc == 0) {
            return tn;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


/* the metrics: lookups by result */

static ngx_int_t
ngx_http_v3xy_cache_metrics(ngx_http_v3xy_mout_t *out, ngx_atomic_t *v,
    char *family, char *help)
{
    u_char      *p;
    ngx_uint_t   i;

    if (ngx_http_v3xy_mfamily(out, family, "counter", help) != NGX_OK) {
        return NGX_ERROR;
    }

    for (i = 0; v != NULL && i < 4; i++) {
        p = ngx_http_v3xy_mreserve(out, 128);
        if (p == NULL) {
            return NGX_ERROR;
        }

        out->b->last = ngx_sprintf(p, "%s{result=\"%V\"} %uA\n", family,
                                   &ngx_http_v3xy_key_cache_names[i], v[i]);
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_v3xy_key_cache_metrics(ngx_http_v3xy_mout_t *out,
    ngx_http_v3xy_main_conf_t *vmcf)
{
    return ngx_http_v3xy_cache_metrics(out, vmcf->metrics.key_cache,
                                       "v3xy_key_lookups_total",
                                       "Developer keys looked up in the "
                                       "Redis key store's cache: hit, "
                                       "negative (a cached refusal), miss "
                                       "(asked Redis), failed (Redis could "
                                       "not answer).");
}


ngx_int_t
ngx_http_v3xy_session_cache_metrics(ngx_http_v3xy_mout_t *out,
    ngx_http_v3xy_main_conf_t *vmcf)
{
    return ngx_http_v3xy_cache_metrics(out, vmcf->metrics.session_cache,
                                       "v3xy_session_lookups_total",
                                       "Session tokens looked up in the "
                                       "Redis session store's cache: hit, "
                                       "negative (a cached refusal), miss "
                                       "(asked Redis), failed (Redis could "
                                       "not answer).");
}
