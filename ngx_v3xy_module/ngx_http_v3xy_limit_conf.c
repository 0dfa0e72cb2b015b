/*
 * ngx_http_v3xy_limit_conf: the limits' configuration.
 *
 * v3xy_limit_zone declares a zone (rate, key, algorithm, shared memory,
 * a rate per tier); v3xy_limit names the zones a location must pass; a
 * location's merge puts them with the webhook replay guard's zone into
 * what it decides in one go.  And the limits' metric families.
 */

#include "ngx_http_v3xy_module.h"
#include "ngx_http_v3xy_key.h"
#include "ngx_http_v3xy_limit.h"
#include "ngx_http_v3xy_limit_internal.h"
#include "ngx_http_v3xy_metrics.h"
#include "v3xy_keystore.h"


/* tier= of one zone at most: the metrics' label set stays small */
#define NGX_HTTP_V3XY_LIMIT_TIERS_MAX  16


static char *ngx_http_v3xy_limit_tier(ngx_conf_t *cf, ngx_str_t *zone,
    ngx_str_t *value, ngx_array_t *tiers);
static ngx_int_t ngx_http_v3xy_zone_rate_init(ngx_conf_t *cf,
    ngx_http_v3xy_zone_t *zone, ngx_http_v3xy_zone_rate_t *zr);
static ngx_http_v3xy_zone_t *ngx_http_v3xy_limit_find_zone(ngx_conf_t *cf,
    ngx_str_t *name);
static ngx_int_t ngx_http_v3xy_limit_print_zones(ngx_http_v3xy_mout_t *out,
    ngx_array_t *zones, ngx_uint_t full, char *name, char *label);
static ngx_int_t ngx_http_v3xy_limit_print_usage(ngx_http_v3xy_mout_t *out,
    ngx_array_t *zones);


/* v3xy_limit_fail's modes: the directive's values and the metrics' labels */
ngx_conf_enum_t  ngx_http_v3xy_limit_fail_modes[] = {
    { ngx_string("open"), NGX_HTTP_V3XY_FAIL_OPEN },
    { ngx_string("closed"), NGX_HTTP_V3XY_FAIL_CLOSED },
    { ngx_string("local"), NGX_HTTP_V3XY_FAIL_LOCAL },
    { ngx_null_string, 0 }
};


/* $v3xy_limit_status, by NGX_HTTP_V3XY_LIMIT_* */
ngx_str_t  ngx_http_v3xy_limit_status_names[] = {
    ngx_null_string,
    ngx_string("PASSED"),
    ngx_string("REJECTED_DRY_RUN"),
    ngx_string("REJECTED")
};


/* configuration */

char *
ngx_http_v3xy_limit_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_v3xy_main_conf_t *vmcf = conf;

    size_t                      size;
    ngx_int_t                   n;
    ngx_str_t                  *value, s, key;
    ngx_uint_t                  i;
    v3xy_rate_t                 rate;
    ngx_array_t                 tiers;
    ngx_http_v3xy_zone_t       *zone, **zp;
    ngx_http_v3xy_zone_rate_t  *zr;

    /* tier= repeats, one per tier (each tier once: checked below) */

    if (ngx_http_v3xy_conf_once(cf, 2, "tier=") != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    zp = vmcf->zones.elts;

    for (i = 0; i < vmcf->zones.nelts; i++) {
        if (zp[i]->name.len == value[1].len
            && ngx_strncmp(zp[i]->name.data, value[1].data, value[1].len)
               == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate v3xy_limit_zone \"%V\"",
                               &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    for (i = 0; i < value[1].len; i++) {
        if (!(value[1].data[i] >= 'a' && value[1].data[i] <= 'z')
            && !(value[1].data[i] >= 'A' && value[1].data[i] <= 'Z')
            && !(value[1].data[i] >= '0' && value[1].data[i] <= '9')
            && value[1].data[i] != '_' && value[1].data[i] != '-')
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "v3xy_limit_zone name \"%V\" may only have "
                               "letters, digits, \"_\" and \"-\"", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    ngx_memzero(&rate, sizeof(v3xy_rate_t));
    ngx_str_null(&key);
    size = 10 * 1024 * 1024;

    if (ngx_array_init(&tiers, cf->temp_pool, 4,
                       sizeof(ngx_http_v3xy_zone_rate_t))
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "tier=", 5) == 0) {
            if (ngx_http_v3xy_limit_tier(cf, &value[1], &value[i], &tiers)
                != NGX_CONF_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "rate=", 5) == 0) {
            if (v3xy_rate_parse(value[i].data + 5, value[i].len - 5,
                                &rate.limit, &rate.window_ms)
                != 0)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid rate \"%V\": use Nr/s, Nr/m, "
                                   "Nr/h or Nr/d with N from 1 to 1000000, "
                                   "or k units (Nr/30d) up to 30 days",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "key=", 4) == 0) {
            key.data = value[i].data + 4;
            key.len = value[i].len - 4;
            continue;
        }

        if (ngx_strncmp(value[i].data, "burst=", 6) == 0) {
            n = ngx_atoi(value[i].data + 6, value[i].len - 6);
            if (n <= 0 || n > 1000000) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid burst \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            rate.burst = n;
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
                return NGX_CONF_ERROR;
            }

            size = n;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (rate.burst > rate.limit) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "v3xy_limit_zone \"%V\": burst may not exceed "
                           "the rate's N (%uL)", &value[1], rate.limit);
        return NGX_CONF_ERROR;
    }

    if (rate.limit == 0 || key.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "v3xy_limit_zone \"%V\" needs rate= and key=",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    /* burst= applies to every tier's rate: one algorithm for the zone */

    zr = tiers.elts;

    for (i = 0; i < tiers.nelts; i++) {
        zr[i].rate.burst = rate.burst;

        if (rate.burst > zr[i].rate.limit) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "v3xy_limit_zone \"%V\": burst may not "
                               "exceed the N of tier \"%V\" (%uL)",
                               &value[1], &zr[i].tier, zr[i].rate.limit);
            return NGX_CONF_ERROR;
        }

        if (!v3xy_rate_valid(&zr[i].rate)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "v3xy_limit_zone \"%V\": invalid rate of "
                               "tier \"%V\"", &value[1], &zr[i].tier);
            return NGX_CONF_ERROR;
        }
    }

    zone = ngx_http_v3xy_zone_new(cf, &value[1], &rate, &tiers, &key, size);
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    zp = ngx_array_push(&vmcf->zones);
    if (zp == NULL) {
        return NGX_CONF_ERROR;
    }

    *zp = zone;

    return NGX_CONF_OK;
}


/*
 * tier=NAME:RATE: a rate for the keys of that tier (the key store's, or
 * the sidecar's v3xy_api_key_file tier=), checked as rate= is
 */

static char *
ngx_http_v3xy_limit_tier(ngx_conf_t *cf, ngx_str_t *zone, ngx_str_t *value,
    ngx_array_t *tiers)
{
    u_char                     *colon, *last;
    ngx_str_t                   name;
    ngx_uint_t                  i;
    ngx_http_v3xy_zone_rate_t  *zr;

    last = value->data + value->len;
    colon = ngx_strlchr(value->data + 5, last, ':');

    if (colon == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\": use tier=NAME:RATE, "
                           "as tier=scale:600r/m", value);
        return NGX_CONF_ERROR;
    }

    name.data = value->data + 5;
    name.len = colon - name.data;

    if (!v3xy_ks_tier_valid(name.data, name.len)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid tier name in \"%V\": 1 to %d "
                           "characters of a-z 0-9 _ -", value,
                           V3XY_KS_TIER_MAX);
        return NGX_CONF_ERROR;
    }

    if (name.len == sizeof("default") - 1
        && ngx_strncmp(name.data, "default", name.len) == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\": the default tier's "
                           "rate is rate=", value);
        return NGX_CONF_ERROR;
    }

    zr = tiers->elts;

    for (i = 0; i < tiers->nelts; i++) {
        if (zr[i].tier.len == name.len
            && ngx_strncmp(zr[i].tier.data, name.data, name.len) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "v3xy_limit_zone \"%V\": tier \"%V\" is "
                               "given twice", zone, &name);
            return NGX_CONF_ERROR;
        }
    }

    if (tiers->nelts == NGX_HTTP_V3XY_LIMIT_TIERS_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "v3xy_limit_zone \"%V\": more than %d tiers",
                           zone, NGX_HTTP_V3XY_LIMIT_TIERS_MAX);
        return NGX_CONF_ERROR;
    }

    zr = ngx_array_push(tiers);
    if (zr == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(zr, sizeof(ngx_http_v3xy_zone_rate_t));

    zr->tier.data = ngx_pstrdup(cf->pool, &name);
    if (zr->tier.data == NULL) {
        return NGX_CONF_ERROR;
    }

    zr->tier.len = name.len;

    if (v3xy_rate_parse(colon + 1, last - colon - 1, &zr->rate.limit,
                        &zr->rate.window_ms)
        != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid rate of tier \"%V\" in \"%V\": use "
                           "Nr/s, Nr/m, Nr/h or Nr/d with N from 1 to "
                           "1000000, or k units (Nr/30d) up to 30 days",
                           &name, value);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * A zone: its key compiled, its shared memory, its rates (rate=, then
 * each tier's, NULL or empty: none) with their RateLimit-Policy
 */

ngx_http_v3xy_zone_t *
ngx_http_v3xy_zone_new(ngx_conf_t *cf, ngx_str_t *name, v3xy_rate_t *rate,
    ngx_array_t *tiers, ngx_str_t *key, size_t size)
{
    size_t                             i;
    ngx_str_t                          v;
    ngx_uint_t                         n;
    ngx_http_v3xy_zone_t              *zone;
    ngx_http_v3xy_zone_rate_t         *zr;
    ngx_http_compile_complex_value_t   ccv;

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_http_v3xy_zone_t));
    if (zone == NULL) {
        return NULL;
    }

    zone->name = *name;
    zone->rate = *rate;

    n = (tiers != NULL) ? tiers->nelts : 0;

    zone->rates = ngx_pcalloc(cf->pool,
                              (n + 1) * sizeof(ngx_http_v3xy_zone_rate_t));
    if (zone->rates == NULL) {
        return NULL;
    }

    zone->nrates = n + 1;

    ngx_str_set(&zone->rates[0].tier, "default");
    zone->rates[0].rate = *rate;

    if (n) {
        ngx_memcpy(&zone->rates[1], tiers->elts,
                   n * sizeof(ngx_http_v3xy_zone_rate_t));
    }

    /* the step that reads the body must run before the key */

    if (ngx_strlcasestrn(key->data, key->data + key->len,
                         (u_char *) "v3xy_body_email", 15 - 1)
        != NULL)
    {
        zone->body_email = 1;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = key;
    ccv.complex_value = &zone->key;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NULL;
    }

    /*
     * A key that is one variable alone ("$v3xy_key_id", "$http_x_user")
     * is read as that variable: the same value as the complex value's,
     * without its script run and copy into the request's pool.
     */

    zone->key_index = NGX_ERROR;

    v.data = key->data + 1;
    v.len = key->len - 1;

    if (key->len > 1 && key->data[0] == '$' && key->data[1] == '{'
        && key->data[key->len - 1] == '}')
    {
        v.data++;
        v.len -= 2;
    }

    for (i = 0; i < v.len; i++) {
        if (!(v.data[i] == '_' || (v.data[i] >= '0' && v.data[i] <= '9')
              || ((v.data[i] | 0x20) >= 'a' && (v.data[i] | 0x20) <= 'z')))
        {
            break;
        }
    }

    if (key->len > 1 && key->data[0] == '$' && v.len > 0 && i == v.len) {
        zone->key_index = ngx_http_get_variable_index(cf, &v);
        if (zone->key_index == NGX_ERROR) {
            return NULL;
        }
    }

    zone->shm_zone = ngx_http_v3xy_shm_zone_add(cf, &zone->name, size,
                                                &zone->rate, n > 0);
    if (zone->shm_zone == NULL) {
        return NULL;
    }

    for (i = 0; i < zone->nrates; i++) {
        zr = &zone->rates[i];

        if (ngx_http_v3xy_zone_rate_init(cf, zone, zr) != NGX_OK) {
            return NULL;
        }
    }

    return zone;
}


/* a rate's RateLimit-Policy, "name";q=60;w=60, and its script arguments */

static ngx_int_t
ngx_http_v3xy_zone_rate_init(ngx_conf_t *cf, ngx_http_v3xy_zone_t *zone,
    ngx_http_v3xy_zone_rate_t *zr)
{
    u_char  *p;

    p = ngx_pnalloc(cf->pool, zone->name.len + 2 * NGX_INT64_LEN + 16);
    if (p == NULL) {
        return NGX_ERROR;
    }

    zr->policy.data = p;
    p = ngx_sprintf(p, "\"%V\";q=%uL;w=%uL", &zone->name, zr->rate.limit,
                    zr->rate.window_ms / 1000);
    zr->policy.len = p - zr->policy.data;

    p = ngx_pnalloc(cf->pool, 3 * NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    zr->args[0].data = p;
    p = ngx_sprintf(p, "%uL", zr->rate.limit);
    zr->args[0].len = p - zr->args[0].data;

    zr->args[1].data = p;
    p = ngx_sprintf(p, "%uL", zr->rate.window_ms);
    zr->args[1].len = p - zr->args[1].data;

    zr->args[2].data = p;
    p = ngx_sprintf(p, "%uL", zr->rate.burst);
    zr->args[2].len = p - zr->args[2].data;

    if (zr == &zone->rates[0]) {
        return NGX_OK;
    }

    zr->group.data = ngx_pnalloc(cf->pool, zone->name.len + 1 + zr->tier.len);
    if (zr->group.data == NULL) {
        return NGX_ERROR;
    }

    zr->group.len = ngx_sprintf(zr->group.data, "%V:%V", &zone->name,
                                &zr->tier)
                    - zr->group.data;

    return NGX_OK;
}


char *
ngx_http_v3xy_limit_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_v3xy_loc_conf_t *vlcf = conf;

    ngx_str_t                  *value;
    ngx_uint_t                  i, k;
    ngx_http_v3xy_zone_t       *zone, **zp;

    if (vlcf->limits != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        vlcf->limits = NULL;
        return NGX_CONF_OK;
    }

    vlcf->limits = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                    sizeof(ngx_http_v3xy_zone_t *));
    if (vlcf->limits == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 1; i < cf->args->nelts; i++) {

        zone = ngx_http_v3xy_limit_find_zone(cf, &value[i]);

        if (zone == NULL && ngx_strcmp(value[i].data, "off") == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "v3xy_limit: \"off\" stands alone");
            return NGX_CONF_ERROR;
        }

        if (zone == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "unknown v3xy_limit_zone \"%V\" (declare it "
                               "at the http level, before its use)",
                               &value[i]);
            return NGX_CONF_ERROR;
        }

        zp = vlcf->limits->elts;

        for (k = 0; k < vlcf->limits->nelts; k++) {
            if (zp[k] == zone) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "v3xy_limit zone \"%V\" is named twice",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }
        }

        zp = ngx_array_push(vlcf->limits);
        if (zp == NULL) {
            return NGX_CONF_ERROR;
        }

        *zp = zone;
    }

    return NGX_CONF_OK;
}


/*
 * v3xy_limit_dry_run on | off | zone ...: "on" puts every zone of the
 * location's v3xy_limit in dry run, zone names only those (a new limit
 * beside enforced ones); the webhook replay guard never is: it is no
 * limit to roll out, and a replay is refused whatever this says.
 */

char *
ngx_http_v3xy_limit_dry_run(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_v3xy_loc_conf_t *vlcf = conf;

    ngx_str_t              *value;
    ngx_uint_t              i, k;
    ngx_http_v3xy_zone_t   *zone, **zp;

    if (vlcf->limit_dry != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        vlcf->limit_dry = NULL;
        return NGX_CONF_OK;
    }

    /* "on": no zone named, every zone */

    vlcf->limit_dry = ngx_array_create(cf->pool, cf->args->nelts,
                                       sizeof(ngx_http_v3xy_zone_t *));
    if (vlcf->limit_dry == NULL) {
        return NGX_CONF_ERROR;
    }

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "on") == 0) {
        return NGX_CONF_OK;
    }

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strcmp(value[i].data, "on") == 0
            || ngx_strcmp(value[i].data, "off") == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "v3xy_limit_dry_run: \"%V\" stands alone",
                               &value[i]);
            return NGX_CONF_ERROR;
        }

        zone = ngx_http_v3xy_limit_find_zone(cf, &value[i]);

        if (zone == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "v3xy_limit_dry_run: unknown v3xy_limit_zone "
                               "\"%V\" (declare it at the http level, "
                               "before its use)", &value[i]);
            return NGX_CONF_ERROR;
        }

        zp = vlcf->limit_dry->elts;

        for (k = 0; k < vlcf->limit_dry->nelts; k++) {
            if (zp[k] == zone) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "v3xy_limit_dry_run zone \"%V\" is "
                                   "named twice", &value[i]);
                return NGX_CONF_ERROR;
            }
        }

        zp = ngx_array_push(vlcf->limit_dry);
        if (zp == NULL) {
            return NGX_CONF_ERROR;
        }

        *zp = zone;
    }

    return NGX_CONF_OK;
}


static ngx_http_v3xy_zone_t *
ngx_http_v3xy_limit_find_zone(ngx_conf_t *cf, ngx_str_t *name)
{
    ngx_uint_t                  i;
    ngx_http_v3xy_zone_t      **zones;
    ngx_http_v3xy_main_conf_t  *vmcf;

    vmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_v3xy_module);

    zones = vmcf->zones.elts;

    for (i = 0; i < vmcf->zones.nelts; i++) {
        if (zones[i]->name.len == name->len
            && ngx_strncmp(zones[i]->name.data, name->data, name->len) == 0)
        {
            return zones[i];
        }
    }

    return NULL;
}


ngx_int_t
ngx_http_v3xy_limit_init(ngx_conf_t *cf)
{
    if (ngx_http_v3xy_limit_redis_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_v3xy_limit_header_init(cf);
}


/*
 * What a location decides in one go: its v3xy_limit zones and, where the
 * webhook side asked for one (ngx_http_v3xy_webhook_merge), the replay
 * guard's zone: counted with the limits, in the same Redis round trip or
 * shared memory, under the same fail modes.
 */

char *
ngx_http_v3xy_limit_merge(ngx_conf_t *cf, ngx_http_v3xy_loc_conf_t *conf)
{
    ngx_uint_t               i, j, n;
    ngx_http_v3xy_zone_t   **zones, **zp, **dry;

    conf->body_email = 0;
    conf->decide = NULL;
    conf->decide_dry = NULL;

    n = (conf->limits != NULL) ? conf->limits->nelts : 0;

    if (n == 0 && conf->replay_zone == NULL) {
        return NGX_CONF_OK;
    }

    conf->decide = ngx_array_create(cf->pool, n + 1,
                                    sizeof(ngx_http_v3xy_zone_t *));
    if (conf->decide == NULL) {
        return NGX_CONF_ERROR;
    }

    if (n) {
        zones = conf->limits->elts;

        for (i = 0; i < n; i++) {
            if (zones[i]->body_email) {
                conf->body_email = 1;
            }

            zp = ngx_array_push(conf->decide);
            *zp = zones[i];
        }
    }

    if (conf->replay_zone != NULL) {
        zp = ngx_array_push(conf->decide);
        *zp = conf->replay_zone;
    }

    /* v3xy_limit_dry_run: "on" (none named) or the zones named */

    if (n == 0 || conf->limit_dry == NULL) {
        return NGX_CONF_OK;
    }

    conf->decide_dry = ngx_pcalloc(cf->pool, n + 1);
    if (conf->decide_dry == NULL) {
        return NGX_CONF_ERROR;
    }

    dry = conf->limit_dry->elts;

    for (i = 0; i < n; i++) {
        for (j = 0; j < conf->limit_dry->nelts; j++) {
            if (dry[j] == zones[i]) {
                break;
            }
        }

        if (conf->limit_dry->nelts == 0 || j < conf->limit_dry->nelts) {
            conf->decide_dry[i] = 1;
        }
    }

    return NGX_CONF_OK;
}


/*
 * The replay guard's zone for a window: one per window in the http block,
 * admitting each key once in it, keyed on $v3xy_webhook_delivery.
 */

ngx_http_v3xy_zone_t *
ngx_http_v3xy_limit_replay_zone(ngx_conf_t *cf, uint64_t window_ms)
{
    ngx_str_t                   name, key;
    ngx_uint_t                  i;
    v3xy_rate_t                 rate;
    ngx_http_v3xy_zone_t      **zones, **zp, *zone;
    ngx_http_v3xy_main_conf_t  *vmcf;

    vmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_v3xy_module);

    zones = vmcf->replay_zones.elts;

    for (i = 0; i < vmcf->replay_zones.nelts; i++) {
        if (zones[i]->rate.window_ms == window_ms) {
            return zones[i];
        }
    }

    /* a name that v3xy_limit_zone cannot give: half the window, seconds */

    name.data = ngx_pnalloc(cf->pool, NGX_TIME_T_LEN + 16);
    if (name.data == NULL) {
        return NULL;
    }

    name.len = ngx_sprintf(name.data, "webhook.replay.%T",
                           (time_t) (window_ms / 2000))
               - name.data;

    ngx_str_set(&key, "$v3xy_webhook_delivery");

    rate.limit = 1;
    rate.window_ms = window_ms;
    rate.burst = 0;

    zone = ngx_http_v3xy_zone_new(cf, &name, &rate, NULL, &key,
                                  4 * 1024 * 1024);
    if (zone == NULL) {
        return NULL;
    }

    zone->replay = 1;

    zp = ngx_array_push(&vmcf->replay_zones);
    if (zp == NULL) {
        return NULL;
    }

    *zp = zone;

    return zone;
}


/* the metrics: decisions and full zones by zone, fallbacks by mode */

ngx_int_t
ngx_http_v3xy_limit_metrics(ngx_http_v3xy_mout_t *out,
    ngx_http_v3xy_main_conf_t *vmcf)
{
    u_char                   *p;
    ngx_uint_t                i;
    ngx_http_v3xy_metrics_t  *m;

    m = &vmcf->metrics;

    if (ngx_http_v3xy_mfamily(out, "v3xy_limit_decisions_total", "counter",
                              "Limit decisions by zone and tier (the rate "
                              "the zone applied: default for rate=): "
                              "admitted (the request passed every zone and "
                              "was counted), refused (by this zone) or "
                              "refused_dry_run (this zone in "
                              "v3xy_limit_dry_run would have refused it).")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_v3xy_limit_print_zones(out, &vmcf->zones, 0,
                                        "v3xy_limit_decisions_total",
                                        "decision")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_v3xy_mfamily(out, "v3xy_limit_zone_full_total", "counter",
                              "Requests with a key that a full zone could "
                              "not hold without forgetting a key that still "
                              "counts, by the v3xy_limit_fail outcome: "
                              "admitted (uncounted) or refused (503).")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* the limits' zones, then the replay guard's */

    if (ngx_http_v3xy_limit_print_zones(out, &vmcf->zones, 1,
                                        "v3xy_limit_zone_full_total",
                                        "outcome")
        != NGX_OK
        || ngx_http_v3xy_limit_print_zones(out, &vmcf->replay_zones, 1,
                                           "v3xy_limit_zone_full_total",
                                           "outcome")
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_v3xy_mfamily(out, "v3xy_limit_zone_keys", "gauge",
                              "Keys a zone holds in shared memory (state "
                              "\"held\"), and keys its free pages could "
                              "still hold (\"room\", at least that many).")
        != NGX_OK
        || ngx_http_v3xy_limit_print_usage(out, &vmcf->zones) != NGX_OK
        || ngx_http_v3xy_limit_print_usage(out, &vmcf->replay_zones)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_v3xy_mfamily(out, "v3xy_limit_fallbacks_total", "counter",
                              "Limit decisions that Redis could not make, "
                              "by the v3xy_limit_fail mode that made them.")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; m->fallback != NULL && i < 3; i++) {
        p = ngx_http_v3xy_mreserve(out, 128);
        if (p == NULL) {
            return NGX_ERROR;
        }

        out->b->last = ngx_sprintf(p,
                                   "v3xy_limit_fallbacks_total{mode=\"%V\"} "
                                   "%uA\n",
                                   &ngx_http_v3xy_limit_fail_modes[i].name,
                                   m->fallback[i]);
    }

    return NGX_OK;
}


/*
 * A family's counters of each zone, [0] admitted, [1] refused (and, of
 * the decisions, [2] refused in dry run): the decisions by zone and tier
 * (the rate the zone applied: "default" for rate=, a tier that it names),
 * the full zones by zone.
 */

static ngx_int_t
ngx_http_v3xy_limit_print_zones(ngx_http_v3xy_mout_t *out,
    ngx_array_t *zones, ngx_uint_t full, char *name, char *label)
{
    u_char                 *p;
    size_t                  len;
    ngx_uint_t              i, j;
    ngx_atomic_t           *v;
    ngx_http_v3xy_zone_t  **zp;

    zp = zones->elts;
    len = ngx_strlen(name) + ngx_strlen(label);

    for (i = 0; i < zones->nelts; i++) {

        if (full) {
            v = zp[i]->full_metrics;

            if (v == NULL) {
                continue;
            }

            p = ngx_http_v3xy_mreserve(out, 2 * (64 + len + zp[i]->name.len));
            if (p == NULL) {
                return NGX_ERROR;
            }

            out->b->last = ngx_sprintf(p,
                                       "%s{zone=\"%V\",%s=\"admitted\"} %uA\n"
                                       "%s{zone=\"%V\",%s=\"refused\"} %uA\n",
                                       name, &zp[i]->name, label, v[0],
                                       name, &zp[i]->name, label, v[1]);
            continue;
        }

        for (j = 0; j < zp[i]->nrates; j++) {
            v = zp[i]->rates[j].metrics;

            if (v == NULL) {
                continue;
            }

            p = ngx_http_v3xy_mreserve(out, 3 * (80 + len + zp[i]->name.len
                                                 + zp[i]->rates[j].tier.len));
            if (p == NULL) {
                return NGX_ERROR;
            }

            /* the third: what v3xy_limit_dry_run let pass */

            out->b->last = ngx_sprintf(p,
                                       "%s{zone=\"%V\",tier=\"%V\","
                                       "%s=\"admitted\"} %uA\n"
                                       "%s{zone=\"%V\",tier=\"%V\","
                                       "%s=\"refused\"} %uA\n"
                                       "%s{zone=\"%V\",tier=\"%V\","
                                       "%s=\"refused_dry_run\"} %uA\n",
                                       name, &zp[i]->name,
                                       &zp[i]->rates[j].tier, label, v[0],
                                       name, &zp[i]->name,
                                       &zp[i]->rates[j].tier, label, v[1],
                                       name, &zp[i]->name,
                                       &zp[i]->rates[j].tier, label, v[2]);
        }
    }

    return NGX_OK;
}


/* v3xy_limit_zone_keys of each zone in shared memory */

static ngx_int_t
ngx_http_v3xy_limit_print_usage(ngx_http_v3xy_mout_t *out,
    ngx_array_t *zones)
{
    u_char                 *p;
    ngx_uint_t              i, keys, room;
    ngx_http_v3xy_zone_t  **zp;

    zp = zones->elts;

    for (i = 0; i < zones->nelts; i++) {

        if (zp[i]->shm_zone == NULL || zp[i]->shm_zone->data == NULL) {
            continue;
        }

        ngx_http_v3xy_shm_usage(zp[i]->shm_zone, &keys, &room);

        p = ngx_http_v3xy_mreserve(out, 2 * (80 + zp[i]->name.len));
        if (p == NULL) {
            return NGX_ERROR;
        }

        out->b->last = ngx_sprintf(p,
                                   "v3xy_limit_zone_keys{zone=\"%V\","
                                   "state=\"held\"} %ui\n"
                                   "v3xy_limit_zone_keys{zone=\"%V\","
                                   "state=\"room\"} %ui\n",
                                   &zp[i]->name, keys, &zp[i]->name, room);
    }

    return NGX_OK;
}
