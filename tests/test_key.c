/*
 * Unit tests of v3xy_key: the developer key's form, the status texts, the
 * trimming of a key file and the key's fingerprint.
 *
 * The documented contract is written out literally here ("v3xy_dev_", 16,
 * 256, 24) rather than taken from v3xy_key.h, so that a change of the
 * header's constants shows up as a failing test.
 */

#include "v3xy_test.h"

#include <openssl/sha.h>

#include "v3xy_key.h"


#define PREFIX      "v3xy_dev_"
#define PREFIX_LEN  9

/* check a string literal, which may hold NUL bytes */
#define check_lit(s)                                                         \
    v3xy_key_check((const unsigned char *) (s), V3XY_LIT_LEN(s))

#define trim_lit(s)                                                          \
    v3xy_key_trim((const unsigned char *) (s), V3XY_LIT_LEN(s))


/* the secret alphabet: URL-safe base64, 64 characters */
static const char  alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";


/*
 * Writes "v3xy_dev_" and a secret of n characters cycling through the
 * alphabet into buf; returns the key's length.
 */
static size_t
make_key(unsigned char *buf, size_t n)
{
    size_t  i;

    memcpy(buf, PREFIX, PREFIX_LEN);

    for (i = 0; i < n; i++) {
        buf[PREFIX_LEN + i] = (unsigned char) alphabet[i % 64];
    }

    return PREFIX_LEN + n;
}


/* form: accepted keys */

static void
check_accepts_16_char_secret(void **state)
{
    unsigned char  key[PREFIX_LEN + 16];

    (void) state;

    assert_int_equal(make_key(key, 16), PREFIX_LEN + 16);
    assert_int_equal(v3xy_key_check(key, sizeof(key)), V3XY_KEY_OK);
    assert_int_equal(check_lit(PREFIX "0123456789abcdef"), V3XY_KEY_OK);
}


static void
check_accepts_256_char_secret(void **state)
{
    unsigned char  key[PREFIX_LEN + 256];

    (void) state;

    assert_int_equal(make_key(key, 256), PREFIX_LEN + 256);
    assert_int_equal(v3xy_key_check(key, sizeof(key)), V3XY_KEY_OK);
}


static void
check_accepts_every_allowed_char(void **state)
{
    (void) state;

    assert_int_equal(V3XY_LIT_LEN(alphabet), 64);

    assert_int_equal(check_lit(PREFIX
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"),
        V3XY_KEY_OK);

    assert_int_equal(check_lit(PREFIX "ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
                     V3XY_KEY_OK);
    assert_int_equal(check_lit(PREFIX "abcdefghijklmnopqrstuvwxyz"),
                     V3XY_KEY_OK);
    assert_int_equal(check_lit(PREFIX "0123456789012345"), V3XY_KEY_OK);
    assert_int_equal(check_lit(PREFIX "________________"), V3XY_KEY_OK);
    assert_int_equal(check_lit(PREFIX "----------------"), V3XY_KEY_OK);
}


/* form: refused keys, each with its exact status */

static void
check_refuses_empty_key_as_empty(void **state)
{
    (void) state;

    assert_int_equal(v3xy_key_check((const unsigned char *) "", 0),
                     V3XY_KEY_EMPTY);
    assert_int_equal(v3xy_key_check((const unsigned char *) PREFIX
                                    "0123456789abcdef", 0),
                     V3XY_KEY_EMPTY);
}


static void
check_refuses_missing_prefix_as_no_prefix(void **state)
{
    (void) state;

    assert_int_equal(check_lit("0123456789abcdef0123456789"),
                     V3XY_KEY_NO_PREFIX);
    assert_int_equal(check_lit("Bearer 0123456789abcdef"),
                     V3XY_KEY_NO_PREFIX);
}


static void
check_refuses_upper_case_prefix_as_no_prefix(void **state)
{
    (void) state;

    assert_int_equal(check_lit("V3XY_DEV_0123456789abcdef"),
                     V3XY_KEY_NO_PREFIX);
    assert_int_equal(check_lit("V3xy_dev_0123456789abcdef"),
                     V3XY_KEY_NO_PREFIX);
}


static void
check_refuses_wrong_prefix_as_no_prefix(void **state)
{
    (void) state;

    assert_int_equal(check_lit("v3xy-dev_0123456789abcdef"),
                     V3XY_KEY_NO_PREFIX);
    assert_int_equal(check_lit("v3xy_prod_0123456789abcdef"),
                     V3XY_KEY_NO_PREFIX);
    assert_int_equal(check_lit("v3xy_dev0123456789abcdef"),
                     V3XY_KEY_NO_PREFIX);
    assert_int_equal(check_lit(" v3xy_dev_0123456789abcdef"),
                     V3XY_KEY_NO_PREFIX);
    assert_int_equal(check_lit("v2xy_dev_0123456789abcdef"),
                     V3XY_KEY_NO_PREFIX);
}


static void
check_refuses_key_shorter_than_prefix_as_no_prefix(void **state)
{
    (void) state;

    assert_int_equal(check_lit("v"), V3XY_KEY_NO_PREFIX);
    assert_int_equal(check_lit("v3xy_de"), V3XY_KEY_NO_PREFIX);
    assert_int_equal(check_lit("v3xy_dev"), V3XY_KEY_NO_PREFIX);
}


static void
check_refuses_prefix_only_as_too_short(void **state)
{
    (void) state;

    assert_int_equal(check_lit(PREFIX), V3XY_KEY_TOO_SHORT);
}


/* the specification sets no length: a short secret is weak, not wrong */
static void
check_accepts_short_secret_as_weak(void **state)
{
    unsigned char  key[PREFIX_LEN + 16];

    (void) state;

    make_key(key, 15);
    assert_int_equal(v3xy_key_check(key, PREFIX_LEN + 15), V3XY_KEY_OK);
    assert_true(v3xy_key_weak(key, PREFIX_LEN + 15));
    assert_int_equal(check_lit(PREFIX "a"), V3XY_KEY_OK);
    assert_true(v3xy_key_weak((const unsigned char *) PREFIX "a",
                              PREFIX_LEN + 1));

    make_key(key, 16);
    assert_false(v3xy_key_weak(key, PREFIX_LEN + 16));
}


static void
check_refuses_257_char_secret_as_too_long(void **state)
{
    unsigned char  key[PREFIX_LEN + 4096];

    (void) state;

    make_key(key, 257);
    assert_int_equal(v3xy_key_check(key, PREFIX_LEN + 257),
                     V3XY_KEY_TOO_LONG);

    make_key(key, 4096);
    assert_int_equal(v3xy_key_check(key, sizeof(key)), V3XY_KEY_TOO_LONG);
}


static void
check_refuses_space_inside_as_bad_char(void **state)
{
    (void) state;

    assert_int_equal(check_lit(PREFIX "01234567 89abcdef"),
                     V3XY_KEY_BAD_CHAR);
    assert_int_equal(check_lit(PREFIX " 0123456789abcdef"),
                     V3XY_KEY_BAD_CHAR);
    assert_int_equal(check_lit(PREFIX "0123456789abcdef "),
                     V3XY_KEY_BAD_CHAR);
    assert_int_equal(check_lit(PREFIX "01234567\t89abcdef"),
                     V3XY_KEY_BAD_CHAR);
}


static void
check_refuses_newline_inside_as_bad_char(void **state)
{
    (void) state;

    assert_int_equal(check_lit(PREFIX "01234567\n89abcdef"),
                     V3XY_KEY_BAD_CHAR);
    assert_int_equal(check_lit(PREFIX "01234567\r\n89abcdef"),
                     V3XY_KEY_BAD_CHAR);

    /* a header injection attempt */
    assert_int_equal(check_lit(PREFIX "0123456789abcdef\r\nX-Evil: 1"),
                     V3XY_KEY_BAD_CHAR);

    /* an untrimmed key file */
    assert_int_equal(check_lit(PREFIX "0123456789abcdef\n"),
                     V3XY_KEY_BAD_CHAR);
}


static void
check_refuses_nul_inside_as_bad_char(void **state)
{
    (void) state;

    /* "\0" and the digits after it are split so they do not read as octal */
    assert_int_equal(check_lit(PREFIX "01234567" "\0" "89abcdef"),
                     V3XY_KEY_BAD_CHAR);
    assert_int_equal(check_lit(PREFIX "0123456789abcdef" "\0"),
                     V3XY_KEY_BAD_CHAR);
}


static void
check_accepts_standard_base64_dot_and_punctuation(void **state)
{
    (void) state;

    assert_int_equal(check_lit(PREFIX "01234567+89abcdef"), V3XY_KEY_OK);
    assert_int_equal(check_lit(PREFIX "01234567/89abcdef"), V3XY_KEY_OK);
    assert_int_equal(check_lit(PREFIX "01234567.89abcdef"), V3XY_KEY_OK);
    assert_int_equal(check_lit(PREFIX "0123456789abcdef=="), V3XY_KEY_OK);
    assert_int_equal(check_lit(PREFIX "!\"#$%&'()*,:;<>?@[\\]^`{|}~"),
                     V3XY_KEY_OK);
}


static void
check_refuses_non_ascii_byte_as_bad_char(void **state)
{
    (void) state;

    /* U+00E9 in UTF-8; the literal is split to end the hex escape */
    assert_int_equal(check_lit(PREFIX "01234567" "\xc3\xa9" "89abcdef"),
                     V3XY_KEY_BAD_CHAR);
    assert_int_equal(check_lit(PREFIX "01234567" "\xc3" "89abcdef"),
                     V3XY_KEY_BAD_CHAR);
    assert_int_equal(check_lit(PREFIX "01234567" "\xff" "89abcdef"),
                     V3XY_KEY_BAD_CHAR);
}


static void
check_refuses_every_byte_but_visible_ascii_as_bad_char(void **state)
{
    int                 allowed;
    unsigned int        c;
    unsigned char       key[PREFIX_LEN + 16];
    v3xy_key_status_e   want;

    (void) state;

    for (c = 0; c < 256; c++) {
        make_key(key, 16);
        key[PREFIX_LEN + 7] = (unsigned char) c;

        /* visible ASCII: what a header value carries as it is */
        allowed = (c >= 0x21 && c <= 0x7e);
        want = allowed ? V3XY_KEY_OK : V3XY_KEY_BAD_CHAR;

        if (v3xy_key_check(key, sizeof(key)) != want) {
            print_error("byte 0x%02x: expected status %d\n", c, (int) want);
            fail();
        }
    }
}


static void
check_reports_bad_char_before_length(void **state)
{
    unsigned char  key[PREFIX_LEN + 257];

    (void) state;

    /* too short and a bad character: the character is what is wrong */
    assert_int_equal(check_lit(PREFIX "abc def"), V3XY_KEY_BAD_CHAR);

    /* too long and a newline: "too long" would mislead */
    make_key(key, 257);
    key[PREFIX_LEN + 100] = '\n';
    assert_int_equal(v3xy_key_check(key, sizeof(key)), V3XY_KEY_BAD_CHAR);
}


/* status texts */

static void
status_texts_do_not_contain_the_key(void **state)
{
    size_t              i, j;
    const char         *text;
    v3xy_key_status_e   status;

    static const char  *keys[] = {
        "",
        "Zq7XwK3mP9rT2vLb",
        "V3XY_DEV_Zq7XwK3mP9rT2vLb",
        PREFIX "Zq7XwK3mP9rT2vL",
        PREFIX "Zq7XwK3mP9rT2vLb",
        PREFIX "Zq7XwK3mP9rT2vLb Zq7XwK3mP9rT2vLb",
        PREFIX "Zq7XwK3mP9rT2vLb/Zq7XwK3mP9rT2vLb"
    };

    (void) state;

    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        status = v3xy_key_check((const unsigned char *) keys[i],
                                strlen(keys[i]));
        text = v3xy_key_status_text(status);

        assert_non_null(text);
        assert_true(strlen(text) > 0);

        /* whatever the key, no status text holds its secret */
        for (j = V3XY_KEY_OK; j <= V3XY_KEY_BAD_CHAR; j++) {
            text = v3xy_key_status_text((v3xy_key_status_e) j);
            assert_null(strstr(text, "Zq7XwK3m"));
            assert_null(strstr(text, "2vLb"));

            if (keys[i][0] != '\0') {
                assert_null(strstr(text, keys[i]));
            }
        }
    }
}


static void
status_texts_are_distinct_for_each_status(void **state)
{
    size_t  i, j;

    (void) state;

    for (i = V3XY_KEY_OK; i <= V3XY_KEY_BAD_CHAR; i++) {
        for (j = i + 1; j <= V3XY_KEY_BAD_CHAR; j++) {
            assert_string_not_equal(
                v3xy_key_status_text((v3xy_key_status_e) i),
                v3xy_key_status_text((v3xy_key_status_e) j));
        }
    }

    assert_string_equal(v3xy_key_status_text(V3XY_KEY_EMPTY), "empty");
    assert_string_equal(v3xy_key_status_text(V3XY_KEY_NO_PREFIX),
                        "does not start with \"v3xy_dev_\"");
}


static void
status_text_of_unknown_status_is_unknown(void **state)
{
    (void) state;

    assert_string_equal(v3xy_key_status_text((v3xy_key_status_e) 99),
                        "unknown");
}


/* trim */

static void
trim_drops_trailing_newline(void **state)
{
    (void) state;

    assert_int_equal(trim_lit(PREFIX "0123456789abcdef\n"),
                     PREFIX_LEN + 16);
    assert_int_equal(trim_lit(PREFIX "0123456789abcdef\n\n\n"),
                     PREFIX_LEN + 16);
}


static void
trim_drops_trailing_crlf(void **state)
{
    (void) state;

    assert_int_equal(trim_lit(PREFIX "0123456789abcdef\r\n"),
                     PREFIX_LEN + 16);
    assert_int_equal(trim_lit(PREFIX "0123456789abcdef\r"),
                     PREFIX_LEN + 16);
}


static void
trim_drops_trailing_spaces_and_tabs(void **state)
{
    (void) state;

    assert_int_equal(trim_lit(PREFIX "0123456789abcdef   "),
                     PREFIX_LEN + 16);
    assert_int_equal(trim_lit(PREFIX "0123456789abcdef\t\t"),
                     PREFIX_LEN + 16);
    assert_int_equal(trim_lit(PREFIX "0123456789abcdef \t\r\n \n"),
                     PREFIX_LEN + 16);
}


static void
trim_keeps_key_with_nothing_to_trim(void **state)
{
    (void) state;

    assert_int_equal(trim_lit(PREFIX "0123456789abcdef"), PREFIX_LEN + 16);
    assert_int_equal(trim_lit("x"), 1);
}


static void
trim_of_all_whitespace_is_zero(void **state)
{
    (void) state;

    assert_int_equal(trim_lit(" \t\r\n \n"), 0);
    assert_int_equal(trim_lit("\n"), 0);
    assert_int_equal(trim_lit(""), 0);
}


static void
trim_keeps_inner_newline_and_leading_space(void **state)
{
    (void) state;

    assert_int_equal(trim_lit("abc\ndef\n"), 7);
    assert_int_equal(trim_lit("abc\r\ndef"), 8);
    assert_int_equal(trim_lit(" \tabc\n"), 5);
}


static void
trim_keeps_other_trailing_bytes(void **state)
{
    (void) state;

    /* only CR, LF, space and tab are documented as white space */
    assert_int_equal(trim_lit("abc\v"), 4);
    assert_int_equal(trim_lit("abc\f"), 4);
    assert_int_equal(trim_lit("abc" "\0"), 4);
    assert_int_equal(trim_lit("abc" "\0" "\n"), 4);
}


static void
trim_then_check_accepts_echoed_key_file(void **state)
{
    static const char  file[] = PREFIX "0123456789abcdef\r\n";

    (void) state;

    assert_int_equal(check_lit(file), V3XY_KEY_BAD_CHAR);
    assert_int_equal(v3xy_key_check((const unsigned char *) file,
                                    trim_lit(file)),
                     V3XY_KEY_OK);
}


/* fingerprint */

/*
 * Expected fingerprints: "v3xy_dev_..." and the first 12 hex digits of
 * SHA-256 over the whole key, computed independently of the code under
 * test with
 *
 *     python3 -c 'import hashlib;
 *         print(hashlib.sha256(b"KEY").hexdigest()[:12])'
 *
 * "abc" and "" are also the published SHA-256 vectors (FIPS 180-2:
 * ba7816bf8f01cfea..., e3b0c44298fc1c14...).  The 256-character secret is
 * make_key(256), i.e. in Python
 *
 *     b"v3xy_dev_" + bytes(ALPHABET[i % 64] for i in range(256))
 */

typedef struct {
    const char  *key;
    size_t       len;
    const char  *id;
} key_id_vector_t;

#define VECTOR(key, id)  { key, V3XY_LIT_LEN(key), id }

static const key_id_vector_t  key_id_vectors[] = {
    VECTOR(PREFIX "0123456789abcdef", "v3xy_dev_...8c92ed0f2b7e"),
    VECTOR(PREFIX "0123456789abcdeg", "v3xy_dev_...6b34389ef058"),
    VECTOR(PREFIX "0123456789abcdef\n", "v3xy_dev_...914d2191beb5"),
    VECTOR(PREFIX
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-",
        "v3xy_dev_...8e5d7fa3d8b4"),
    VECTOR("abc", "v3xy_dev_...ba7816bf8f01"),
    VECTOR("", "v3xy_dev_...e3b0c44298fc")
};


static void
key_id_len_is_24(void **state)
{
    (void) state;

    /* "v3xy_dev_" + "..." + 12 hex digits */
    assert_int_equal(V3XY_KEY_ID_LEN, 24);
    assert_int_equal(V3XY_KEY_ID_LEN, PREFIX_LEN + 3 + 12);
}


static void
key_id_matches_sha256_vectors(void **state)
{
    size_t         i;
    unsigned char  id[V3XY_KEY_ID_LEN];

    (void) state;

    for (i = 0; i < sizeof(key_id_vectors) / sizeof(key_id_vectors[0]); i++)
    {
        assert_int_equal(v3xy_key_id(
                             (const unsigned char *) key_id_vectors[i].key,
                             key_id_vectors[i].len, id),
                         0);
        v3xy_assert_buf_str(id, sizeof(id), key_id_vectors[i].id);
    }
}


static void
key_id_of_256_char_secret_matches_sha256(void **state)
{
    unsigned char  key[PREFIX_LEN + 256], id[V3XY_KEY_ID_LEN];

    (void) state;

    assert_int_equal(v3xy_key_id(key, make_key(key, 256), id), 0);
    v3xy_assert_buf_str(id, sizeof(id), "v3xy_dev_...e862f862750f");
}


static void
key_id_writes_exactly_key_id_len_bytes(void **state)
{
    size_t         i;
    unsigned char  buf[V3XY_KEY_ID_LEN + 8];

    (void) state;

    memset(buf, 0xa5, sizeof(buf));

    assert_int_equal(v3xy_key_id((const unsigned char *) "abc", 3, buf), 0);

    for (i = 0; i < V3XY_KEY_ID_LEN; i++) {
        assert_true(buf[i] != 0xa5);
    }

    for (i = V3XY_KEY_ID_LEN; i < sizeof(buf); i++) {
        assert_int_equal(buf[i], 0xa5);
    }

    /* the hex digits are lower case */
    for (i = PREFIX_LEN + 3; i < V3XY_KEY_ID_LEN; i++) {
        assert_non_null(strchr("0123456789abcdef", buf[i]));
    }
}


static void
key_id_does_not_contain_the_secret(void **state)
{
    size_t         i, len;
    unsigned char  key[PREFIX_LEN + 256];
    char           id[V3XY_KEY_ID_LEN + 1];
    char           secret[256 + 1];

    static const size_t  lens[] = { 16, 17, 64, 255, 256 };

    (void) state;

    for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        len = make_key(key, lens[i]);

        assert_int_equal(v3xy_key_id(key, len, (unsigned char *) id), 0);
        id[V3XY_KEY_ID_LEN] = '\0';

        memcpy(secret, key + PREFIX_LEN, lens[i]);
        secret[lens[i]] = '\0';

        assert_null(strstr(id, secret));

        /* not even its first 8 characters */
        secret[8] = '\0';
        assert_null(strstr(id, secret));
    }
}


static void
key_id_covers_the_whole_key(void **state)
{
    unsigned char  a[V3XY_KEY_ID_LEN], b[V3XY_KEY_ID_LEN];

    (void) state;

    /* keys differing only in their last byte */
    assert_int_equal(v3xy_key_id((const unsigned char *) PREFIX
                                 "0123456789abcdef", PREFIX_LEN + 16, a), 0);
    assert_int_equal(v3xy_key_id((const unsigned char *) PREFIX
                                 "0123456789abcdeg", PREFIX_LEN + 16, b), 0);
    assert_memory_not_equal(a, b, V3XY_KEY_ID_LEN);

    /* a key and its secret alone: the prefix is hashed too */
    assert_int_equal(v3xy_key_id((const unsigned char *) PREFIX
                                 "0123456789abcdef", PREFIX_LEN + 16, a), 0);
    assert_int_equal(v3xy_key_id((const unsigned char *)
                                 "0123456789abcdef", 16, b), 0);
    assert_memory_not_equal(a, b, V3XY_KEY_ID_LEN);
}



static void
key_id_from_digest_is_key_id(void **state)
{
    unsigned char        a[V3XY_KEY_ID_LEN], b[V3XY_KEY_ID_LEN];
    unsigned char        md[SHA256_DIGEST_LENGTH];
    static const char    key[] = "v3xy_dev_FromDigest_0123456789abcdef";

    (void) state;

    assert_int_equal(v3xy_key_id((const unsigned char *) key,
                                 sizeof(key) - 1, a), 0);
    SHA256((const unsigned char *) key, sizeof(key) - 1, md);
    v3xy_key_id_from_digest(md, b);

    assert_memory_equal(a, b, V3XY_KEY_ID_LEN);
}

int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(check_accepts_16_char_secret),
        cmocka_unit_test(check_accepts_256_char_secret),
        cmocka_unit_test(check_accepts_every_allowed_char),
        cmocka_unit_test(check_refuses_empty_key_as_empty),
        cmocka_unit_test(check_refuses_missing_prefix_as_no_prefix),
        cmocka_unit_test(check_refuses_upper_case_prefix_as_no_prefix),
        cmocka_unit_test(check_refuses_wrong_prefix_as_no_prefix),
        cmocka_unit_test(check_refuses_key_shorter_than_prefix_as_no_prefix),
        cmocka_unit_test(check_refuses_prefix_only_as_too_short),
        cmocka_unit_test(check_accepts_short_secret_as_weak),
        cmocka_unit_test(check_refuses_257_char_secret_as_too_long),
        cmocka_unit_test(check_refuses_space_inside_as_bad_char),
        cmocka_unit_test(check_refuses_newline_inside_as_bad_char),
        cmocka_unit_test(check_refuses_nul_inside_as_bad_char),
        cmocka_unit_test(check_accepts_standard_base64_dot_and_punctuation),
        cmocka_unit_test(check_refuses_non_ascii_byte_as_bad_char),
        cmocka_unit_test(
            check_refuses_every_byte_but_visible_ascii_as_bad_char),
        cmocka_unit_test(check_reports_bad_char_before_length),
        cmocka_unit_test(status_texts_do_not_contain_the_key),
        cmocka_unit_test(status_texts_are_distinct_for_each_status),
        cmocka_unit_test(status_text_of_unknown_status_is_unknown),
        cmocka_unit_test(trim_drops_trailing_newline),
        cmocka_unit_test(trim_drops_trailing_crlf),
        cmocka_unit_test(trim_drops_trailing_spaces_and_tabs),
        cmocka_unit_test(trim_keeps_key_with_nothing_to_trim),
        cmocka_unit_test(trim_of_all_whitespace_is_zero),
        cmocka_unit_test(trim_keeps_inner_newline_and_leading_space),
        cmocka_unit_test(trim_keeps_other_trailing_bytes),
        cmocka_unit_test(trim_then_check_accepts_echoed_key_file),
        cmocka_unit_test(key_id_len_is_24),
        cmocka_unit_test(key_id_matches_sha256_vectors),
        cmocka_unit_test(key_id_of_256_char_secret_matches_sha256),
        cmocka_unit_test(key_id_writes_exactly_key_id_len_bytes),
        cmocka_unit_test(key_id_does_not_contain_the_secret),
        cmocka_unit_test(key_id_covers_the_whole_key),
        cmocka_unit_test(key_id_from_digest_is_key_id)
    };

    return cmocka_run_group_tests_name("v3xy_key", tests, NULL, NULL);
}
