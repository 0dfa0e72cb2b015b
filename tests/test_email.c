/*
 * Unit tests of src/v3xy_email.c: the canonical form of an address, the
 * key of the per-recipient limit.  Every spelling of one mailbox that was
 * admitted as another recipient folds into the mailbox or is refused; the
 * neighbours that are other mailboxes stay apart.
 */

#include "v3xy_test.h"

#include <stdio.h>

#include "v3xy_email.h"


#define FOLD  0
#define KEEP  V3XY_EMAIL_KEEP_SUBADDRESS


static v3xy_email_status_e
canon(const char *in, size_t n, unsigned flags, unsigned char *out,
    size_t *len)
{
    return v3xy_email_canonical((const unsigned char *) in, n, flags, out,
                                len);
}


/* in (a C string) folds into want */
#define assert_folds(in, flags, want)                                        \
    do {                                                                      \
        size_t         len_;                                                  \
        unsigned char  out_[V3XY_EMAIL_MAX];                                  \
                                                                              \
        assert_int_equal(canon((in), strlen(in), (flags), out_, &len_),       \
                         V3XY_EMAIL_OK);                                      \
        v3xy_assert_buf_str(out_, len_, (want));                              \
    } while (0)

/* in[0..n) is refused with status */
#define assert_refused_n(in, n, status)                                       \
    do {                                                                      \
        size_t         len_;                                                  \
        unsigned char  out_[V3XY_EMAIL_MAX];                                  \
                                                                              \
        assert_int_equal(canon((in), (n), FOLD, out_, &len_), (status));      \
        assert_int_equal(canon((in), (n), KEEP, out_, &len_), (status));      \
    } while (0)

#define assert_refused(in, status)  assert_refused_n(in, strlen(in), status)


/* a and b are other mailboxes: their keys differ */
static void
assert_apart(const char *a, const char *b, unsigned flags)
{
    size_t         la, lb;
    unsigned char  oa[V3XY_EMAIL_MAX], ob[V3XY_EMAIL_MAX];

    assert_int_equal(canon(a, strlen(a), flags, oa, &la), V3XY_EMAIL_OK);
    assert_int_equal(canon(b, strlen(b), flags, ob, &lb), V3XY_EMAIL_OK);

    if (la == lb && memcmp(oa, ob, la) == 0) {
        print_error("\"%s\" and \"%s\" share the key \"%.*s\"\n", a, b,
                    (int) la, (const char *) oa);
        fail();
    }
}


static void
plain_address_is_its_own_key(void **state)
{
    (void) state;

    assert_folds("victim@x.com", FOLD, "victim@x.com");
    assert_folds("victim@x.com", KEEP, "victim@x.com");
    assert_folds("a.b-c_d!#$%&'*/=?^`{|}~@sub.x-y.co.uk", FOLD,
                 "a.b-c_d!#$%&'*/=?^`{|}~@sub.x-y.co.uk");
    assert_folds("v@localhost", FOLD, "v@localhost");
}


static void
case_and_surrounding_ascii_space_fold(void **state)
{
    (void) state;

    assert_folds("Victim@X.COM", FOLD, "victim@x.com");
    assert_folds("VICTIM@x.Com", FOLD, "victim@x.com");
    assert_folds("  victim@x.com \t\r\n", FOLD, "victim@x.com");
}


static void
trailing_dot_of_the_domain_folds(void **state)
{
    (void) state;

    assert_folds("victim@x.com.", FOLD, "victim@x.com");
    assert_folds("Victim@X.Com.", KEEP, "victim@x.com");
    /* one dot is the root, two are an empty label */
    assert_refused("victim@x.com..", V3XY_EMAIL_DOMAIN_BAD);
    assert_refused("victim@.", V3XY_EMAIL_DOMAIN_BAD);
}


static void
plus_tag_folds_unless_kept(void **state)
{
    (void) state;

    assert_folds("victim+1@x.com", FOLD, "victim@x.com");
    assert_folds("victim+@x.com", FOLD, "victim@x.com");
    assert_folds("Victim+News+2@x.com", FOLD, "victim@x.com");
    assert_folds("victim+1@x.com", KEEP, "victim+1@x.com");
    assert_folds("Victim+News+2@x.com", KEEP, "victim+news+2@x.com");
    assert_apart("victim+1@x.com", "victim@x.com", KEEP);
    assert_apart("victim+1@x.com", "victim+2@x.com", KEEP);
}


static void
plus_first_is_refused_in_both_modes(void **state)
{
    (void) state;

    /* a key made of a tag alone: every tag would be a new recipient */
    assert_refused("+tag@x.com", V3XY_EMAIL_TAG_ONLY);
    assert_refused("+@x.com", V3XY_EMAIL_TAG_ONLY);
    assert_refused("victim.+tag@x.com", V3XY_EMAIL_LOCAL_BAD);
}


static void
kelvin_sign_and_compatibility_forms_fold(void **state)
{
    (void) state;

    /* U+212A KELVIN SIGN for "k" */
    assert_folds("victim@x.com", FOLD, "victim@x.com");
    assert_folds("\xe2\x84\xaa" "ate@x.com", FOLD, "kate@x.com");
    assert_folds("vic\xe2\x84\xaa" "@x.com", FOLD, "vick@x.com");
    /* fullwidth letters, and the ligature "fi" (U+FB01) */
    assert_folds("\xef\xbd\x96ictim@x.com", FOLD, "victim@x.com");
    assert_folds("\xef\xac\x81" "fi@x.com", FOLD, "fifi@x.com");
    /* and in the domain: U+212A, fullwidth, U+3002 IDEOGRAPHIC FULL STOP */
    assert_folds("kate@\xe2\x84\xaa.com", FOLD, "kate@k.com");
    assert_folds("victim@\xef\xbd\x98.com", FOLD, "victim@x.com");
    assert_folds("victim@x\xe3\x80\x82" "com", FOLD, "victim@x.com");
}


static void
full_case_folding_not_only_ascii(void **state)
{
    (void) state;

    assert_folds("J\xc3\x96RG@x.de", FOLD, "j\xc3\xb6rg@x.de");
    /* sharp s folds to "ss" in the local part (full folding) */
    assert_folds("stra\xc3\x9f" "e@x.de", FOLD, "strasse@x.de");
    assert_folds("STRASSE@x.de", FOLD, "strasse@x.de");
    /* Greek final sigma and capital sigma are one letter */
    assert_folds("\xce\xa3\xce\xb9\xcf\x82@x.gr", FOLD,
                 "\xcf\x83\xce\xb9\xcf\x83@x.gr");
}


static void
internationalized_address_folds_by_nfkc(void **state)
{
    (void) state;

    /* "jöhn@exämple.de", precomposed and decomposed: one key */
    assert_folds("j\xc3\xb6hn@ex\xc3\xa4mple.de", FOLD,
                 "j\xc3\xb6hn@xn--exmple-cua.de");
    assert_folds("jo\xcc\x88hn@exa\xcc\x88mple.de", FOLD,
                 "j\xc3\xb6hn@xn--exmple-cua.de");
    assert_folds("J\xc3\x96HN@EX\xc3\x84MPLE.DE", FOLD,
                 "j\xc3\xb6hn@xn--exmple-cua.de");
    /* the domain's A-label is the same domain */
    assert_folds("j\xc3\xb6hn@XN--EXMPLE-CUA.de", FOLD,
                 "j\xc3\xb6hn@xn--exmple-cua.de");
    /* IDNA2008 keeps "ß" in a domain: straße.de is not strasse.de */
    assert_folds("a@stra\xc3\x9f" "e.de", FOLD, "a@xn--strae-oqa.de");
    assert_folds("a@xn--strae-oqa.de", FOLD, "a@xn--strae-oqa.de");
    assert_apart("a@stra\xc3\x9f" "e.de", "a@strasse.de", FOLD);
    /* other scripts */
    assert_folds("\xd0\x98\xd0\xb2\xd0\xb0\xd0\xbd@\xd0\xbf\xd1\x80"
                 "\xd0\xb8\xd0\xbc\xd0\xb5\xd1\x80.\xd1\x80\xd1\x84", FOLD,
                 "\xd0\xb8\xd0\xb2\xd0\xb0\xd0\xbd@xn--e1afmkfd.xn--p1ai");
}


static void
legitimate_neighbours_stay_apart(void **state)
{
    (void) state;

    assert_apart("victim@x.com", "victim1@x.com", FOLD);
    assert_apart("victim@x.com", "vic.tim@x.com", FOLD);
    assert_apart("victim@x.com", "victim@x.co", FOLD);
    assert_apart("victim@x.com", "victim@y.x.com", FOLD);
    assert_apart("victim@x.com", "victim-1@x.com", FOLD);
    assert_apart("victim@x.com", "victim_@x.com", FOLD);
    assert_apart("j\xc3\xb6hn@x.de", "john@x.de", FOLD);
    /* Cyrillic "а" (U+0430) is another letter, another mailbox */
    assert_apart("victim@x.com", "vict\xd1\x96m@x.com", FOLD);
    assert_apart("a@x.com", "\xd0\xb0@x.com", FOLD);
}


static void
display_names_comments_and_quotes_are_refused(void **state)
{
    (void) state;

    assert_refused("\"victim\"@x.com", V3XY_EMAIL_LOCAL_BAD);
    assert_refused("victim(c)@x.com", V3XY_EMAIL_LOCAL_BAD);
    assert_refused("(c)victim@x.com", V3XY_EMAIL_LOCAL_BAD);
    assert_refused("victim@x.com(c)", V3XY_EMAIL_DOMAIN_BAD);
    assert_refused("victim@(c)x.com", V3XY_EMAIL_DOMAIN_BAD);
    /* the space is refused first; without it, the brackets */
    assert_refused("Victim <victim@x.com>", V3XY_EMAIL_INVISIBLE);
    assert_refused("<victim@x.com>", V3XY_EMAIL_LOCAL_BAD);
    assert_refused("Victim<victim@x.com>", V3XY_EMAIL_LOCAL_BAD);
    assert_refused("victim@x.com, other@x.com", V3XY_EMAIL_INVISIBLE);
    assert_refused("victim,other@x.com", V3XY_EMAIL_LOCAL_BAD);
    assert_refused("vic\\tim@x.com", V3XY_EMAIL_LOCAL_BAD);
    assert_refused("victim;@x.com", V3XY_EMAIL_LOCAL_BAD);
    assert_refused("victim:@x.com", V3XY_EMAIL_LOCAL_BAD);
    assert_refused("victim@[127.0.0.1]", V3XY_EMAIL_DOMAIN_BAD);
    assert_refused("victim@x_y.com", V3XY_EMAIL_DOMAIN_BAD);
    /* fullwidth quotation mark and parentheses become ASCII ones */
    assert_refused("\xef\xbc\x82victim\xef\xbc\x82@x.com",
                   V3XY_EMAIL_LOCAL_BAD);
    assert_refused("victim\xef\xbc\x88" "c\xef\xbc\x89@x.com",
                   V3XY_EMAIL_LOCAL_BAD);
    /* U+2474 PARENTHESIZED DIGIT ONE is "(1)" */
    assert_refused("victim\xe2\x91\xb4@x.com", V3XY_EMAIL_LOCAL_BAD);
}


static void
not_one_at_or_an_empty_side_is_refused(void **state)
{
    (void) state;

    assert_refused("a@b@x.com", V3XY_EMAIL_NOT_ONE_AT);
    assert_refused("@x.com", V3XY_EMAIL_NOT_ONE_AT);
    assert_refused("victim@", V3XY_EMAIL_NOT_ONE_AT);
    assert_refused("@", V3XY_EMAIL_NOT_ONE_AT);
    assert_refused("victim", V3XY_EMAIL_NOT_ONE_AT);
    assert_refused("victim@@x.com", V3XY_EMAIL_NOT_ONE_AT);
    /* U+FF20 FULLWIDTH COMMERCIAL AT is an "@" once folded */
    assert_refused("a\xef\xbc\xa0" "b@x.com", V3XY_EMAIL_NOT_ONE_AT);
    assert_refused("a@b\xef\xbc\xa0x.com", V3XY_EMAIL_DOMAIN_BAD);
    assert_refused("victim\xef\xbc\xa0x.com", V3XY_EMAIL_NOT_ONE_AT);
}


static void
stray_dots_are_refused(void **state)
{
    (void) state;

    assert_refused(".victim@x.com", V3XY_EMAIL_LOCAL_BAD);
    assert_refused("victim.@x.com", V3XY_EMAIL_LOCAL_BAD);
    assert_refused("vic..tim@x.com", V3XY_EMAIL_LOCAL_BAD);
    assert_refused("victim@.x.com", V3XY_EMAIL_DOMAIN_BAD);
    assert_refused("victim@x..com", V3XY_EMAIL_DOMAIN_BAD);
    /* U+2025 TWO DOT LEADER is ".." */
    assert_refused("vic\xe2\x80\xa5tim@x.com", V3XY_EMAIL_LOCAL_BAD);
}


static void
white_space_inside_or_not_ascii_is_refused(void **state)
{
    (void) state;

    assert_refused("vic tim@x.com", V3XY_EMAIL_INVISIBLE);
    assert_refused("victim @x.com", V3XY_EMAIL_INVISIBLE);
    assert_refused("victim@ x.com", V3XY_EMAIL_INVISIBLE);
    assert_refused("victim@x.com\v", V3XY_EMAIL_INVISIBLE);
    assert_refused("victim@x.com\f", V3XY_EMAIL_INVISIBLE);
    /* U+00A0 NO-BREAK SPACE, trailing and leading */
    assert_refused("victim@x.com\xc2\xa0", V3XY_EMAIL_INVISIBLE);
    assert_refused("\xc2\xa0victim@x.com", V3XY_EMAIL_INVISIBLE);
    /* U+3000 IDEOGRAPHIC SPACE, U+2028 LINE SEPARATOR, U+1680 */
    assert_refused("victim@x.com\xe3\x80\x80", V3XY_EMAIL_INVISIBLE);
    assert_refused("victim\xe2\x80\xa8@x.com", V3XY_EMAIL_INVISIBLE);
    assert_refused("victim\xe1\x9a\x80@x.com", V3XY_EMAIL_INVISIBLE);
    /* U+00A8 DIAERESIS is a space and a mark once folded */
    assert_refused("victim\xc2\xa8@x.com", V3XY_EMAIL_INVISIBLE);
}


static void
invisible_and_control_characters_are_refused(void **state)
{
    static const char  *zw[] = {
        "\xe2\x80\x8b",         /* U+200B ZERO WIDTH SPACE */
        "\xe2\x80\x8c",         /* U+200C ZERO WIDTH NON-JOINER */
        "\xe2\x80\x8d",         /* U+200D ZERO WIDTH JOINER */
        "\xe2\x81\xa0",         /* U+2060 WORD JOINER */
        "\xef\xbb\xbf",         /* U+FEFF ZERO WIDTH NO-BREAK SPACE */
        "\xc2\xad",             /* U+00AD SOFT HYPHEN */
        "\xcd\x8f",             /* U+034F COMBINING GRAPHEME JOINER */
        "\xef\xb8\x8f",         /* U+FE0F VARIATION SELECTOR-16 */
        "\xe1\x85\x9f",         /* U+115F HANGUL CHOSEONG FILLER */
        "\xe3\x85\xa4",         /* U+3164 HANGUL FILLER */
        "\xe1\xa0\x8e",         /* U+180E MONGOLIAN VOWEL SEPARATOR */
        "\xf3\xa0\x80\x81",     /* U+E0001 LANGUAGE TAG */
        "\xe2\x80\x8e",         /* U+200E LEFT-TO-RIGHT MARK */
        "\xe2\x80\x8f",         /* U+200F RIGHT-TO-LEFT MARK */
        "\xd8\x9c",             /* U+061C ARABIC LETTER MARK */
        "\xe2\x80\xaa",         /* U+202A LEFT-TO-RIGHT EMBEDDING */
        "\xe2\x80\xae",         /* U+202E RIGHT-TO-LEFT OVERRIDE */
        "\xe2\x81\xa6",         /* U+2066 LEFT-TO-RIGHT ISOLATE */
        "\xe2\x81\xa9",         /* U+2069 POP DIRECTIONAL ISOLATE */
        "\xee\x80\x80",         /* U+E000 private use */
        "\xcd\xb8",             /* U+0378 unassigned */
        "\xc2\x85",             /* U+0085 NEXT LINE, a C1 control */
        "\x7f",
        "\x01",
        "\x1b",
        NULL
    };

    static const char  *where[] = {
        "vic%stim@x.com", "victim@x%s.com", "victim@x.com%s",
        "%svictim@x.com", NULL
    };

    int    i, j;
    char   in[64];

    (void) state;

    for (i = 0; zw[i] != NULL; i++) {
        for (j = 0; where[j] != NULL; j++) {
            snprintf(in, sizeof(in), where[j], zw[i]);
            assert_refused(in, V3XY_EMAIL_INVISIBLE);
        }
    }

    /* a NUL inside, which a JSON string can carry */
    assert_refused_n("vic\0tim@x.com", V3XY_LIT_LEN("vic\0tim@x.com"),
                     V3XY_EMAIL_INVISIBLE);
}


static void
invalid_utf8_is_refused(void **state)
{
    (void) state;

    assert_refused("vic\xfftim@x.com", V3XY_EMAIL_NOT_UTF8);
    assert_refused("victim@x.com\xc3", V3XY_EMAIL_NOT_UTF8);
    assert_refused("vic\x80tim@x.com", V3XY_EMAIL_NOT_UTF8);
    /* overlong "." and "@", a surrogate, over U+10FFFF */
    assert_refused("vic\xc0\xaetim@x.com", V3XY_EMAIL_NOT_UTF8);
    assert_refused("victim\xc1\x80x.com", V3XY_EMAIL_NOT_UTF8);
    assert_refused("victim\xe0\x81\x80x.com", V3XY_EMAIL_NOT_UTF8);
    assert_refused("vic\xed\xa0\x80tim@x.com", V3XY_EMAIL_NOT_UTF8);
    assert_refused("vic\xf4\x90\x80\x80tim@x.com", V3XY_EMAIL_NOT_UTF8);
}


static void
empty_and_too_long_are_refused(void **state)
{
    char           in[300];
    size_t         len;
    unsigned char  out[V3XY_EMAIL_MAX];

    (void) state;

    assert_refused("", V3XY_EMAIL_EMPTY);
    assert_refused(" \t\r\n ", V3XY_EMAIL_EMPTY);

    /* 250 + "@b.c": 254, the most; 255 is refused */
    memset(in, 'a', 250);
    memcpy(in + 250, "@b.c", 5);
    assert_int_equal(canon(in, 254, FOLD, out, &len), V3XY_EMAIL_OK);
    assert_int_equal(len, 254);

    memset(in, 'a', 251);
    memcpy(in + 251, "@b.c", 5);
    assert_refused_n(in, 255, V3XY_EMAIL_TOO_LONG);

    /* 63 U+2167 ROMAN NUMERAL EIGHT (3 bytes) fold into 252 letters */
    for (len = 0; len < 63; len++) {
        memcpy(in + 3 * len, "\xe2\x85\xa7", 3);
    }

    memcpy(in + 189, "@b", 3);
    assert_folds(in, FOLD, "viiiviiiviiiviiiviiiviiiviiiviiiviiiviiiviiiviii"
                           "viiiviiiviiiviiiviiiviiiviiiviiiviiiviiiviiiviii"
                           "viiiviiiviiiviiiviiiviiiviiiviiiviiiviiiviiiviii"
                           "viiiviiiviiiviiiviiiviiiviiiviiiviiiviiiviiiviii"
                           "viiiviiiviiiviiiviiiviiiviiiviiiviiiviiiviiiviii"
                           "viiiviiiviii@b");
    memcpy(in + 189, "@b.c", 5);
    assert_refused_n(in, 193, V3XY_EMAIL_TOO_LONG);

    /*
     * U+FDFA folds into 18 letters and 3 spaces: 84 of them are too long
     * to fold, 40 fold and are refused for their spaces
     */
    for (len = 0; len < 84; len++) {
        memcpy(in + 3 * len, "\xef\xb7\xba", 3);
    }

    memcpy(in + 252, "@b", 3);
    assert_refused_n(in, 254, V3XY_EMAIL_TOO_LONG);

    memcpy(in + 120, "@b", 3);
    assert_refused_n(in, 122, V3XY_EMAIL_INVISIBLE);
}


static void
domain_that_is_no_host_name_is_refused(void **state)
{
    (void) state;

    assert_refused("victim@-x.com", V3XY_EMAIL_DOMAIN_BAD);
    assert_refused("victim@x-.com", V3XY_EMAIL_DOMAIN_BAD);
    assert_refused("victim@xn--zz.com", V3XY_EMAIL_DOMAIN_BAD);
    /* a snowman is no letter of a host name (IDNA2008) */
    assert_refused("victim@\xe2\x98\x83.com", V3XY_EMAIL_DOMAIN_BAD);
    assert_refused("victim@x/y.com", V3XY_EMAIL_DOMAIN_BAD);
}


static void
canonical_form_is_a_fixed_point(void **state)
{
    static const char  *in[] = {
        "Victim+1@X.com.",
        "\xe2\x84\xaa" "ate@x.com",
        "jo\xcc\x88hn@exa\xcc\x88mple.de",
        "stra\xc3\x9f" "e@stra\xc3\x9f" "e.de",
        "\xef\xac\x81@x.com",
        "\xce\xa3\xce\xb9\xcf\x82@x.gr",
        NULL
    };

    int            i;
    size_t         l1, l2;
    unsigned char  o1[V3XY_EMAIL_MAX], o2[V3XY_EMAIL_MAX];

    (void) state;

    /* the key, given back as an address, is the same key */

    for (i = 0; in[i] != NULL; i++) {
        assert_int_equal(canon(in[i], strlen(in[i]), FOLD, o1, &l1),
                         V3XY_EMAIL_OK);
        assert_int_equal(canon((const char *) o1, l1, FOLD, o2, &l2),
                         V3XY_EMAIL_OK);
        assert_int_equal(l1, l2);
        assert_memory_equal(o1, o2, l1);
    }
}


static void
status_texts_do_not_quote_the_address(void **state)
{
    int  i, j;

    (void) state;

    for (i = V3XY_EMAIL_EMPTY; i <= V3XY_EMAIL_DOMAIN_BAD; i++) {
        assert_true(strlen(v3xy_email_status_text(i)) > 10);
        assert_null(strstr(v3xy_email_status_text(i), "%"));

        for (j = V3XY_EMAIL_EMPTY; j < i; j++) {
            assert_string_not_equal(v3xy_email_status_text(i),
                                    v3xy_email_status_text(j));
        }
    }
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(plain_address_is_its_own_key),
        cmocka_unit_test(case_and_surrounding_ascii_space_fold),
        cmocka_unit_test(trailing_dot_of_the_domain_folds),
        cmocka_unit_test(plus_tag_folds_unless_kept),
        cmocka_unit_test(plus_first_is_refused_in_both_modes),
        cmocka_unit_test(kelvin_sign_and_compatibility_forms_fold),
        cmocka_unit_test(full_case_folding_not_only_ascii),
        cmocka_unit_test(internationalized_address_folds_by_nfkc),
        cmocka_unit_test(legitimate_neighbours_stay_apart),
        cmocka_unit_test(display_names_comments_and_quotes_are_refused),
        cmocka_unit_test(not_one_at_or_an_empty_side_is_refused),
        cmocka_unit_test(stray_dots_are_refused),
        cmocka_unit_test(white_space_inside_or_not_ascii_is_refused),
        cmocka_unit_test(invisible_and_control_characters_are_refused),
        cmocka_unit_test(invalid_utf8_is_refused),
        cmocka_unit_test(empty_and_too_long_are_refused),
        cmocka_unit_test(domain_that_is_no_host_name_is_refused),
        cmocka_unit_test(canonical_form_is_a_fixed_point),
        cmocka_unit_test(status_texts_do_not_quote_the_address),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
