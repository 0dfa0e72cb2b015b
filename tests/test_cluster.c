/*
 * Unit tests of v3xy_cluster: CRC16 and key slots against the Redis
 * Cluster specification's test vector and the slots that redis-server
 * 7.0 itself gives (CLUSTER KEYSLOT), the slot map of CLUSTER SLOTS
 * ranges, and the MOVED and ASK errors.
 */

#include "v3xy_test.h"

#include <stdlib.h>

#include "v3xy_cluster.h"


#define SLOT(s)  v3xy_cluster_key_slot((const unsigned char *) (s),          \
                                       V3XY_LIT_LEN(s))


static void
test_crc16_vector(void **state)
{
    (void) state;

    /* the specification's: CRC16 of "123456789" is 0x31C3 */
    assert_int_equal(v3xy_crc16((const unsigned char *) "123456789", 9),
                     0x31c3);
    assert_int_equal(v3xy_crc16((const unsigned char *) "", 0), 0);
}


static void
test_key_slots(void **state)
{
    (void) state;

    /* CLUSTER KEYSLOT of redis-server 7.0 */
    assert_int_equal(SLOT("123456789"), 12739);
    assert_int_equal(SLOT("foo"), 12182);
    assert_int_equal(SLOT("bar"), 5061);
    assert_int_equal(SLOT("hello"), 866);
    assert_int_equal(SLOT("v3xy:key:abc"), 11036);
    assert_int_equal(SLOT(""), 0);
}


static void
test_hash_tags(void **state)
{
    (void) state;

    /* the hash tag is hashed, not the key */
    assert_int_equal(SLOT("{user1000}.following"), 3443);
    assert_int_equal(SLOT("{user1000}.followers"), 3443);
    assert_int_equal(SLOT("v3xy:{burst:fleet1}"), 8781);
    assert_int_equal(SLOT("v3xy:{burst:fleet1}"), SLOT("burst:fleet1"));

    /* the first "{" and the first "}" after it */
    assert_int_equal(SLOT("foo{bar}{zap}"), 5061);
    assert_int_equal(SLOT("foo{{bar}}zap"), 4015);
    assert_int_equal(SLOT("foo{{bar}}zap"), SLOT("{bar"));

    /* "{}" first, no "}", a "}" before the "{": the whole key */
    assert_int_equal(SLOT("foo{}{bar}"), 8363);
    assert_int_equal(SLOT("{"), 4092);
    assert_int_equal(SLOT("}{"), 12793);
    assert_int_equal(SLOT("a{b"), 13340);
}


static void
test_hash_part(void **state)
{
    size_t                n;
    const unsigned char  *p;
    const unsigned char   key[] = "v3xy:{z:k}:x";

    (void) state;

    v3xy_cluster_hash_part(key, V3XY_LIT_LEN(key), &p, &n);
    v3xy_assert_buf_str(p, n, "z:k");

    v3xy_cluster_hash_part(key, 0, &p, &n);
    assert_int_equal(n, 0);
}


static void
test_map(void **state)
{
    v3xy_cluster_map_t         *map;
    const v3xy_cluster_addr_t  *a;

    (void) state;

    map = malloc(sizeof(v3xy_cluster_map_t));
    assert_non_null(map);

    v3xy_cluster_map_init(map);
    assert_null(v3xy_cluster_map_owner(map, 0));
    assert_int_equal(map->covered, 0);

    /* three masters as redis-cli --cluster create splits the slots */
    assert_int_equal(v3xy_cluster_map_add(map, 0, 5460, "127.0.0.1", 9, 7001),
                     0);
    assert_int_equal(v3xy_cluster_map_add(map, 5461, 10922, "127.0.0.1", 9,
                                          7002), 1);
    assert_int_equal(v3xy_cluster_map_add(map, 10923, 16383, "127.0.0.1", 9,
                                          7003), 2);
    assert_int_equal(map->covered, 16384);
    assert_int_equal(map->nnodes, 3);

    a = v3xy_cluster_map_owner(map, 5461);
    assert_non_null(a);
    assert_string_equal(a->host, "127.0.0.1");
    assert_int_equal(a->port, 7002);
    assert_int_equal(v3xy_cluster_map_owner(map, 16383)->port, 7003);
    assert_int_equal(v3xy_cluster_map_owner(map, 0)->port, 7001);
    assert_null(v3xy_cluster_map_owner(map, 16384));

    /* a node listed again (a second range) keeps its index */
    assert_int_equal(v3xy_cluster_map_add(map, 100, 100, "127.0.0.1", 9,
                                          7003), 2);
    assert_int_equal(v3xy_cluster_map_owner(map, 100)->port, 7003);
    assert_int_equal(map->covered, 16384);
    assert_int_equal(map->nnodes, 3);

    /* invalid ranges and addresses change nothing */
    assert_int_equal(v3xy_cluster_map_add(map, 10, 9, "h", 1, 1), -1);
    assert_int_equal(v3xy_cluster_map_add(map, 0, 16384, "h", 1, 1), -1);
    assert_int_equal(v3xy_cluster_map_add(map, 0, 0, "", 0, 1), -1);
    assert_int_equal(v3xy_cluster_map_add(map, 0, 0, "h", 1, 0), -1);
    assert_int_equal(v3xy_cluster_map_add(map, 0, 0, "h", 1, 65536), -1);
    assert_int_equal(v3xy_cluster_map_add(map, 0, 0, "a\0b", 3, 1), -1);
    assert_int_equal(v3xy_cluster_map_owner(map, 0)->port, 7001);
    assert_int_equal(map->nnodes, 3);

    free(map);
}


static void
test_map_full(void **state)
{
    int                  i;
    char                 host[16];
    v3xy_cluster_map_t  *map;

    (void) state;

    map = malloc(sizeof(v3xy_cluster_map_t));
    assert_non_null(map);
    v3xy_cluster_map_init(map);

    for (i = 0; i < V3XY_CLUSTER_MAX_NODES; i++) {
        assert_int_equal(v3xy_cluster_map_add(map, i, i, "127.0.0.9", 9,
                                              1000 + i), i);
    }

    /* no room for one more, a known one still fits */
    assert_int_equal(v3xy_cluster_map_add(map, 300, 300, "127.0.0.9", 9, 999),
                     -1);
    assert_int_equal(v3xy_cluster_map_add(map, 300, 300, "127.0.0.9", 9, 1000),
                     0);
    assert_int_equal(map->covered, V3XY_CLUSTER_MAX_NODES + 1);

    memset(host, 'h', sizeof(host));
    assert_int_equal(v3xy_cluster_map_add(map, 0, 0, host,
                                          V3XY_CLUSTER_HOST_LEN, 1), -1);

    free(map);
}


static void
test_redirects(void **state)
{
    v3xy_redirect_t  r;

    (void) state;

#define PARSE(s)  v3xy_cluster_redirect_parse(s, V3XY_LIT_LEN(s), &r)

    assert_int_equal(PARSE("MOVED 3999 127.0.0.1:6381"), 0);
    assert_int_equal(r.type, V3XY_REDIRECT_MOVED);
    assert_int_equal(r.slot, 3999);
    assert_string_equal(r.addr.host, "127.0.0.1");
    assert_int_equal(r.addr.port, 6381);

    assert_int_equal(PARSE("ASK 16383 127.0.0.2:7000"), 0);
    assert_int_equal(r.type, V3XY_REDIRECT_ASK);
    assert_int_equal(r.slot, 16383);
    assert_string_equal(r.addr.host, "127.0.0.2");
    assert_int_equal(r.addr.port, 7000);

    /* an unknown endpoint: the node that answered */
    assert_int_equal(PARSE("MOVED 0 :7002"), 0);
    assert_int_equal(r.type, V3XY_REDIRECT_MOVED);
    assert_string_equal(r.addr.host, "");
    assert_int_equal(r.addr.port, 7002);

    /* IPv6: the port follows the last colon */
    assert_int_equal(PARSE("ASK 1 ::1:7000"), 0);
    assert_string_equal(r.addr.host, "::1");
    assert_int_equal(r.addr.port, 7000);

    /* other errors are not redirects */
    assert_int_equal(PARSE("NOSCRIPT No matching script"), 0);
    assert_int_equal(r.type, V3XY_REDIRECT_NONE);
    assert_int_equal(PARSE("CLUSTERDOWN The cluster is down"), 0);
    assert_int_equal(r.type, V3XY_REDIRECT_NONE);
    assert_int_equal(PARSE("MOVED"), 0);
    assert_int_equal(r.type, V3XY_REDIRECT_NONE);
    assert_int_equal(PARSE("ASKING"), 0);
    assert_int_equal(r.type, V3XY_REDIRECT_NONE);

    /* malformed redirects */
    assert_int_equal(PARSE("MOVED 16384 127.0.0.1:1"), -1);
    assert_int_equal(PARSE("MOVED 99999999999999999999 127.0.0.1:1"), -1);
    assert_int_equal(PARSE("MOVED x 127.0.0.1:1"), -1);
    assert_int_equal(PARSE("MOVED 1 127.0.0.1"), -1);
    assert_int_equal(PARSE("MOVED 1 127.0.0.1:"), -1);
    assert_int_equal(PARSE("MOVED 1 127.0.0.1:0"), -1);
    assert_int_equal(PARSE("MOVED 1 127.0.0.1:65536"), -1);
    assert_int_equal(PARSE("MOVED 1 127.0.0.1:7x"), -1);
    assert_int_equal(PARSE("MOVED 1 127.0.0.1:7 x"), -1);
    assert_int_equal(PARSE("MOVED 1"), -1);
    assert_int_equal(PARSE("ASK  127.0.0.1:1"), -1);
    assert_int_equal(PARSE("ASK 1 "
                           "hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh"
                           "hhhhhhhhhhhhhhhhhhhh:1"), -1);
    assert_int_equal(r.type, V3XY_REDIRECT_NONE);

#undef PARSE
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc16_vector),
        cmocka_unit_test(test_key_slots),
        cmocka_unit_test(test_hash_tags),
        cmocka_unit_test(test_hash_part),
        cmocka_unit_test(test_map),
        cmocka_unit_test(test_map_full),
        cmocka_unit_test(test_redirects),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
