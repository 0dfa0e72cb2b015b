/*
 * v3xy_cluster: the pure part of Redis Cluster routing, as the Redis
 * Cluster specification defines it.
 *
 *   slot      CRC16 (XMODEM: polynomial 0x1021, initial value 0) of the
 *             key's hash tag, modulo 16384.  The hash tag is what lies
 *             between the first "{" and the first "}" after it, when that
 *             is not empty; otherwise the whole key.
 *   map       which master owns each slot, built from the ranges of a
 *             CLUSTER SLOTS reply (start, end, address), the addresses
 *             numbered in the order they first appear.
 *   redirect  the "MOVED slot host:port" and "ASK slot host:port" errors;
 *             an empty host means the node that sent the error.
 *
 * nginx-free: C99 only.
 */

#ifndef V3XY_CLUSTER_H
#define V3XY_CLUSTER_H

#include <stddef.h>
#include <stdint.h>


#define V3XY_CLUSTER_SLOTS      16384
#define V3XY_CLUSTER_MAX_NODES  256
#define V3XY_CLUSTER_HOST_LEN   64        /* "host" with its NUL */
#define V3XY_CLUSTER_NO_NODE    0xffff

#define V3XY_REDIRECT_NONE      0         /* not a redirect */
#define V3XY_REDIRECT_MOVED     1
#define V3XY_REDIRECT_ASK       2


typedef struct {
    char            host[V3XY_CLUSTER_HOST_LEN];
    int             port;
} v3xy_cluster_addr_t;


typedef struct {
    uint16_t             owner[V3XY_CLUSTER_SLOTS];   /* node, or NO_NODE */
    size_t               nnodes;
    size_t               covered;                     /* slots owned */
    v3xy_cluster_addr_t  nodes[V3XY_CLUSTER_MAX_NODES];
} v3xy_cluster_map_t;


typedef struct {
    int                  type;                        /* V3XY_REDIRECT_* */
    unsigned             slot;
    v3xy_cluster_addr_t  addr;                        /* host may be "" */
} v3xy_redirect_t;


uint16_t v3xy_crc16(const unsigned char *p, size_t len);

/* the part of the key that is hashed: the hash tag, or the whole key */
void v3xy_cluster_hash_part(const unsigned char *key, size_t len,
    const unsigned char **part, size_t *part_len);

unsigned v3xy_cluster_key_slot(const unsigned char *key, size_t len);

/* an empty map: no slot has an owner */
void v3xy_cluster_map_init(v3xy_cluster_map_t *map);

/*
 * Slots start..end belong to host:port.  Returns the node's index, or -1
 * if the range or the address is invalid or the map has no room for
 * another node; the map is unchanged then.
 */
int v3xy_cluster_map_add(v3xy_cluster_map_t *map, unsigned start,
    unsigned end, const char *host, size_t host_len, int port);

/* the owner of a slot, or NULL */
const v3xy_cluster_addr_t *v3xy_cluster_map_owner(
    const v3xy_cluster_map_t *map, unsigned slot);

/*
 * Reads an error reply.  Returns 0 with r->type MOVED or ASK for a well
 * formed redirect, 0 with r->type NONE for any other error, -1 for a
 * MOVED or ASK that is malformed.
 */
int v3xy_cluster_redirect_parse(const char *err, size_t len,
    v3xy_redirect_t *r);


#endif /* V3XY_CLUSTER_H */
