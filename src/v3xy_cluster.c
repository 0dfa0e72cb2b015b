/*
 * v3xy_cluster: key slots, the slot map and redirects of Redis Cluster
 * (see v3xy_cluster.h).
 */

#include "v3xy_cluster.h"

#include <string.h>


/* bit by bit: keys are short, and a table would be 512 bytes of magic */

uint16_t
v3xy_crc16(const unsigned char *p, size_t len)
{
    int       bit;
    size_t    i;
    uint16_t  crc;

    crc = 0;

    for (i = 0; i < len; i++) {
        crc ^= (uint16_t) (p[i] << 8);

        for (bit = 0; bit < 8; bit++) {
            if (crc & 0x8000) {
                crc = (uint16_t) ((crc << 1) ^ 0x1021);

            } else {
                crc = (uint16_t) (crc << 1);
            }
        }
    }

    return crc;
}


void
v3xy_cluster_hash_part(const unsigned char *key, size_t len,
    const unsigned char **part, size_t *part_len)
{
    size_t  lb, rb;

    *part = key;
    *part_len = len;

    for (lb = 0; lb < len; lb++) {
        if (key[lb] == '{') {
            break;
        }
    }

    if (lb == len) {
        return;
    }

    for (rb = lb + 1; rb < len; rb++) {
        if (key[rb] == '}') {
            break;
        }
    }

    /* no "}", or "{}": the whole key */

    if (rb == len || rb == lb + 1) {
        return;
    }

    *part = key + lb + 1;
    *part_len = rb - lb - 1;
}


unsigned
v3xy_cluster_key_slot(const unsigned char *key, size_t len)
{
    size_t                n;
    const unsigned char  *p;

    v3xy_cluster_hash_part(key, len, &p, &n);

    return v3xy_crc16(p, n) & (V3XY_CLUSTER_SLOTS - 1);
}


void
v3xy_cluster_map_init(v3xy_cluster_map_t *map)
{
    /* NO_NODE is all ones in each byte */
    memset(map->owner, 0xff, sizeof(map->owner));
    map->nnodes = 0;
    map->covered = 0;
}


int
v3xy_cluster_map_add(v3xy_cluster_map_t *map, unsigned start, unsigned end,
    const char *host, size_t host_len, int port)
{
    size_t    i;
    unsigned  s;

    if (start > end || end >= V3XY_CLUSTER_SLOTS
        || host_len == 0 || host_len >= V3XY_CLUSTER_HOST_LEN
        || memchr(host, '\0', host_len) != NULL
        || port <= 0 || port > 65535)
    {
        return -1;
    }

    for (i = 0; i < map->nnodes; i++) {
        if (map->nodes[i].port == port
            && strlen(map->nodes[i].host) == host_len
            && memcmp(map->nodes[i].host, host, host_len) == 0)
        {
            break;
        }
    }

    if (i == map->nnodes) {
        if (map->nnodes == V3XY_CLUSTER_MAX_NODES) {
            return -1;
        }

        memcpy(map->nodes[i].host, host, host_len);
        map->nodes[i].host[host_len] = '\0';
        map->nodes[i].port = port;
        map->nnodes++;
    }

    for (s = start; s <= end; s++) {
        if (map->owner[s] == V3XY_CLUSTER_NO_NODE) {
            map->covered++;
        }

        map->owner[s] = (uint16_t) i;
    }

    return (int) i;
}


const v3xy_cluster_addr_t *
v3xy_cluster_map_owner(const v3xy_cluster_map_t *map, unsigned slot)
{
    if (slot >= V3XY_CLUSTER_SLOTS
        || map->owner[slot] == V3XY_CLUSTER_NO_NODE)
    {
        return NULL;
    }

    return &map->nodes[map->owner[slot]];
}


/* "MOVED 3999 127.0.0.1:6381", "ASK 3999 :6381", "ASK 1 ::1:7000" */

int
v3xy_cluster_redirect_parse(const char *err, size_t len, v3xy_redirect_t *r)
{
    size_t       i, colon, host_len;
    unsigned     slot, port;
    const char  *p, *end;

    memset(r, 0, sizeof(v3xy_redirect_t));

    if (len > 6 && memcmp(err, "MOVED ", 6) == 0) {
        r->type = V3XY_REDIRECT_MOVED;
        p = err + 6;

    } else if (len > 4 && memcmp(err, "ASK ", 4) == 0) {
        r->type = V3XY_REDIRECT_ASK;
        p = err + 4;

    } else {
        return 0;
    }

    end = err + len;

    /* the slot */

    slot = 0;

    for (i = 0; p + i < end && p[i] >= '0' && p[i] <= '9'; i++) {
        slot = slot * 10 + (unsigned) (p[i] - '0');

        if (slot >= V3XY_CLUSTER_SLOTS) {
            goto invalid;
        }
    }

    if (i == 0 || p + i == end || p[i] != ' ') {
        goto invalid;
    }

    p += i + 1;

    /* host:port, the port after the last colon (IPv6 hosts have colons) */

    colon = (size_t) -1;

    for (i = 0; p + i < end; i++) {
        if (p[i] == ':') {
            colon = i;

        } else if (p[i] == ' ' || p[i] == '\0') {
            goto invalid;
        }
    }

    if (colon == (size_t) -1 || colon + 1 == i) {
        goto invalid;
    }

    host_len = colon;

    if (host_len >= V3XY_CLUSTER_HOST_LEN) {
        goto invalid;
    }

    port = 0;

    for (i = colon + 1; p + i < end; i++) {
        if (p[i] < '0' || p[i] > '9') {
            goto invalid;
        }

        port = port * 10 + (unsigned) (p[i] - '0');

        if (port > 65535) {
            goto invalid;
        }
    }

    if (port == 0) {
        goto invalid;
    }

    memcpy(r->addr.host, p, host_len);
    r->addr.host[host_len] = '\0';
    r->addr.port = (int) port;
    r->slot = slot;

    return 0;

invalid:

    memset(r, 0, sizeof(v3xy_redirect_t));

    return -1;
}
