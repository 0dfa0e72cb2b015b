/*
 * Unit tests of src/v3xy_body.c: the "email" of a JSON body, as the
 * per-recipient limit keys it.
 */

#include "v3xy_test.h"
#include "v3xy_body.h"


static v3xy_email_status_e  why;


static v3xy_body_status_e
email_of(const char *body, unsigned char *out, size_t *len)
{
    return v3xy_body_email((const unsigned char *) body, strlen(body), 0,
                           out, len, &why);
}


static void
email_is_lower_cased_and_trimmed(void **state)
{
    size_t         len;
    unsigned char  out[V3XY_EMAIL_MAX];

    (void) state;

    assert_int_equal(email_of("{\"email\":\"  User@Example.COM\\t\\n\"}",
                              out, &len), V3XY_BODY_OK);
    v3xy_assert_buf_str(out, len, "user@example.com");
}


static void
email_among_other_members_is_found(void **state)
{
    size_t         len;
    unsigned char  out[V3XY_EMAIL_MAX];

    (void) state;

    assert_int_equal(email_of("{\"purpose\":\"signup\",\"template\":\"d\","
                              "\"email\":\"a@b.c\",\"n\":[1,{\"email\":1}]}",
                              out, &len), V3XY_BODY_OK);
    v3xy_assert_buf_str(out, len, "a@b.c");
}


static void
escaped_json_string_is_decoded(void **state)
{
    size_t         len;
    unsigned char  out[V3XY_EMAIL_MAX];

    (void) state;

    /* "\u0041" is "A", lower-cased after decoding */
    assert_int_equal(email_of("{\"email\":\"\\u0041@example.com\"}",
                              out, &len), V3XY_BODY_OK);
    v3xy_assert_buf_str(out, len, "a@example.com");
}


static void
non_ascii_is_case_folded_and_plus_tag_cut(void **state)
{
    size_t         len;
    unsigned char  out[V3XY_EMAIL_MAX];

    (void) state;

    /* the canonical form of v3xy_email: tests/test_email.c has the rest */
    assert_int_equal(email_of("{\"email\":\"J\xc3\x96rg+X@Example.de.\"}",
                              out, &len), V3XY_BODY_OK);
    v3xy_assert_buf_str(out, len, "j\xc3\xb6rg@example.de");
}


static void
not_json_is_refused(void **state)
{
    size_t         len;
    unsigned char  out[V3XY_EMAIL_MAX];

    (void) state;

    assert_int_equal(email_of("email=a@b.c", out, &len), V3XY_BODY_NOT_JSON);
    assert_int_equal(email_of("", out, &len), V3XY_BODY_NOT_JSON);
    assert_int_equal(email_of("{\"email\":\"a@b.c\"", out, &len),
                     V3XY_BODY_NOT_JSON);
    assert_int_equal(email_of("[\"a@b.c\"]", out, &len), V3XY_BODY_NOT_JSON);
    assert_int_equal(email_of("\"a@b.c\"", out, &len), V3XY_BODY_NOT_JSON);
    assert_int_equal(email_of("{\"email\":\"a@b.c\"} trailing", out, &len),
                     V3XY_BODY_NOT_JSON);
}


static void
duplicate_email_members_are_refused(void **state)
{
    size_t         len;
    unsigned char  out[V3XY_EMAIL_MAX];

    (void) state;

    /* which one would the API use?  neither: refuse */
    assert_int_equal(email_of("{\"email\":\"a@b.c\",\"email\":\"x@y.z\"}",
                              out, &len), V3XY_BODY_NOT_JSON);
}


static void
missing_or_wrong_email_is_refused(void **state)
{
    size_t         len;
    unsigned char  out[V3XY_EMAIL_MAX];

    (void) state;

    assert_int_equal(email_of("{}", out, &len), V3XY_BODY_NO_EMAIL);
    assert_int_equal(email_of("{\"Email\":\"a@b.c\"}", out, &len),
                     V3XY_BODY_NO_EMAIL);
    assert_int_equal(email_of("{\"email\":null}", out, &len),
                     V3XY_BODY_EMAIL_NOT_STRING);
    assert_int_equal(email_of("{\"email\":42}", out, &len),
                     V3XY_BODY_EMAIL_NOT_STRING);
    assert_int_equal(email_of("{\"email\":\" \\t \"}", out, &len),
                     V3XY_BODY_EMAIL_BAD);
    assert_int_equal(why, V3XY_EMAIL_EMPTY);
    assert_int_equal(email_of("{\"email\":\"nobody\"}", out, &len),
                     V3XY_BODY_EMAIL_BAD);
    assert_int_equal(why, V3XY_EMAIL_NOT_ONE_AT);
    /* jansson refuses NUL inside strings unless asked: not JSON to us */
    assert_int_equal(email_of("{\"email\":\"a\\u0000@b.c\"}", out, &len),
                     V3XY_BODY_NOT_JSON);
    assert_int_equal(email_of("{\"email\":\"a@b\\nc\"}", out, &len),
                     V3XY_BODY_EMAIL_BAD);
    assert_int_equal(why, V3XY_EMAIL_INVISIBLE);
}


static void
email_of_254_passes_255_is_refused(void **state)
{
    char           body[400];
    size_t         len;
    unsigned char  out[V3XY_EMAIL_MAX];

    (void) state;

    /* "a...a@b.c": 250 + 4 = 254 characters */
    memcpy(body, "{\"email\":\"", 10);
    memset(body + 10, 'a', 250);
    memcpy(body + 260, "@b.c\"}", 7);

    assert_int_equal(email_of(body, out, &len), V3XY_BODY_OK);
    assert_int_equal(len, 254);

    memset(body + 10, 'a', 251);
    memcpy(body + 261, "@b.c\"}", 7);

    assert_int_equal(email_of(body, out, &len), V3XY_BODY_EMAIL_BAD);
    assert_int_equal(why, V3XY_EMAIL_TOO_LONG);
}


static void
status_texts_are_distinct_sentences(void **state)
{
    int          i, j, n;
    const char  *text[16];

    (void) state;

    n = 0;

    for (i = V3XY_BODY_NOT_JSON; i < V3XY_BODY_EMAIL_BAD; i++) {
        text[n++] = v3xy_body_status_text(i, V3XY_EMAIL_OK);
    }

    for (i = V3XY_EMAIL_EMPTY; i <= V3XY_EMAIL_DOMAIN_BAD; i++) {
        text[n++] = v3xy_body_status_text(V3XY_BODY_EMAIL_BAD, i);
    }

    for (i = 0; i < n; i++) {
        assert_true(strlen(text[i]) > 10);

        for (j = 0; j < i; j++) {
            assert_string_not_equal(text[i], text[j]);
        }
    }
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(email_is_lower_cased_and_trimmed),
        cmocka_unit_test(email_among_other_members_is_found),
        cmocka_unit_test(escaped_json_string_is_decoded),
        cmocka_unit_test(non_ascii_is_case_folded_and_plus_tag_cut),
        cmocka_unit_test(not_json_is_refused),
        cmocka_unit_test(duplicate_email_members_are_refused),
        cmocka_unit_test(missing_or_wrong_email_is_refused),
        cmocka_unit_test(email_of_254_passes_255_is_refused),
        cmocka_unit_test(status_texts_are_distinct_sentences),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
