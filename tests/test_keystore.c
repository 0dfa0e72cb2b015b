/*
 * Unit tests of src/v3xy_keystore.c: the lines of a key store file, the
 * fields of a key's hash in Redis, the scopes and the tier of a key.
 */

#include <stdlib.h>

#include "v3xy_test.h"
#include "v3xy_keystore.h"


/*
 * sha256("v3xy_dev_k3ystore_test_key_0001"), computed with
 *
 *     python3 -c 'import hashlib;
 *         print(hashlib.sha256(b"v3xy_dev_k3ystore_test_key_0001")
 *               .hexdigest())'
 */
#define KS_HEX                                                                \
    "cf29d44cf50363e6ff2d97bdfb40f97eada465f22d7f6389591b83410f6e00e2"
#define KS_HEX_UPPER                                                          \
    "CF29D44CF50363E6FF2D97BDFB40F97EADA465F22D7F6389591B83410F6E00E2"

static const unsigned char  ks_digest[32] = {
    0xcf, 0x29, 0xd4, 0x4c, 0xf5, 0x03, 0x63, 0xe6,
    0xff, 0x2d, 0x97, 0xbd, 0xfb, 0x40, 0xf9, 0x7e,
    0xad, 0xa4, 0x65, 0xf2, 0x2d, 0x7f, 0x63, 0x89,
    0x59, 0x1b, 0x83, 0x41, 0x0f, 0x6e, 0x00, 0xe2
};


static v3xy_ks_status_e
parse(const char *line, v3xy_ks_entry_t *e)
{
    return v3xy_ks_parse_line((const unsigned char *) line, strlen(line), e);
}


static v3xy_ks_str_t
ks_str(const char *s)
{
    v3xy_ks_str_t  str;

    str.data = (const unsigned char *) s;
    str.len = strlen(s);

    return str;
}


static int
scope_valid(const char *s)
{
    return v3xy_ks_scope_valid((const unsigned char *) s, strlen(s));
}


static void
good_line_gives_digest_account_and_scopes(void **state)
{
    const char       *line;
    v3xy_ks_entry_t   e;

    (void) state;

    line = KS_HEX " acct_42 send:email,read";

    assert_int_equal(parse(line, &e), V3XY_KS_OK);
    assert_memory_equal(e.digest, ks_digest, 32);
    v3xy_assert_buf_str(e.account.data, e.account.len, "acct_42");
    assert_int_equal(e.nscopes, 2);
    v3xy_assert_buf_str(e.scopes[0].data, e.scopes[0].len, "send:email");
    v3xy_assert_buf_str(e.scopes[1].data, e.scopes[1].len, "read");
    assert_int_equal(e.revoked, 0);

    /* the strings point into the line, nothing is copied */
    assert_ptr_equal(e.account.data, (const unsigned char *) line + 65);
    assert_ptr_equal(e.scopes[0].data, (const unsigned char *) line + 73);
    assert_ptr_equal(e.scopes[1].data, (const unsigned char *) line + 84);
}


static void
upper_case_hex_gives_the_same_digest(void **state)
{
    v3xy_ks_entry_t  e;

    (void) state;

    assert_int_equal(parse(KS_HEX_UPPER " acct_42 read", &e), V3XY_KS_OK);
    assert_memory_equal(e.digest, ks_digest, 32);

    /* mixed case too */
    assert_int_equal(parse("Cf29D44cF50363E6ff2D97bdfb40f97eada465f22d7f6389"
                           "591b83410f6e00E2 acct_42 read", &e), V3XY_KS_OK);
    assert_memory_equal(e.digest, ks_digest, 32);
}


static void
tabs_spaces_and_trailing_cr_separate_fields(void **state)
{
    v3xy_ks_entry_t  e;

    (void) state;

    assert_int_equal(parse(" \t " KS_HEX "\t\tacct_42   \t read,write \t\r",
                           &e), V3XY_KS_OK);
    assert_memory_equal(e.digest, ks_digest, 32);
    v3xy_assert_buf_str(e.account.data, e.account.len, "acct_42");
    assert_int_equal(e.nscopes, 2);
    v3xy_assert_buf_str(e.scopes[0].data, e.scopes[0].len, "read");
    v3xy_assert_buf_str(e.scopes[1].data, e.scopes[1].len, "write");
    assert_int_equal(e.revoked, 0);

    assert_int_equal(parse(KS_HEX " acct_42 read\r", &e), V3XY_KS_OK);
    assert_int_equal(e.nscopes, 1);
    v3xy_assert_buf_str(e.scopes[0].data, e.scopes[0].len, "read");

    assert_int_equal(parse(KS_HEX "\tacct_42\tread\trevoked\r", &e),
                     V3XY_KS_OK);
    assert_int_equal(e.revoked, 1);
    v3xy_assert_buf_str(e.scopes[0].data, e.scopes[0].len, "read");
}


static void
one_scope_is_accepted(void **state)
{
    v3xy_ks_entry_t  e;

    (void) state;

    assert_int_equal(parse(KS_HEX " a x", &e), V3XY_KS_OK);
    v3xy_assert_buf_str(e.account.data, e.account.len, "a");
    assert_int_equal(e.nscopes, 1);
    v3xy_assert_buf_str(e.scopes[0].data, e.scopes[0].len, "x");
}


static void
sixteen_scopes_are_accepted_seventeen_refused(void **state)
{
    v3xy_ks_entry_t  e;

    (void) state;

    assert_int_equal(parse(KS_HEX " acct_42 a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p",
                           &e), V3XY_KS_OK);
    assert_int_equal(e.nscopes, V3XY_KS_SCOPES_MAX);
    v3xy_assert_buf_str(e.scopes[0].data, e.scopes[0].len, "a");
    v3xy_assert_buf_str(e.scopes[7].data, e.scopes[7].len, "h");
    v3xy_assert_buf_str(e.scopes[15].data, e.scopes[15].len, "p");

    assert_int_equal(parse(KS_HEX " acct_42 a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p"
                           " revoked", &e), V3XY_KS_OK);
    assert_int_equal(e.nscopes, V3XY_KS_SCOPES_MAX);
    assert_int_equal(e.revoked, 1);

    assert_int_equal(parse(KS_HEX " acct_42 a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q",
                           &e), V3XY_KS_TOO_MANY_SCOPES);
}


static void
revoked_fourth_field_marks_the_key_revoked(void **state)
{
    v3xy_ks_entry_t  e;

    (void) state;

    assert_int_equal(parse(KS_HEX " acct_42 read,write revoked", &e),
                     V3XY_KS_OK);
    assert_memory_equal(e.digest, ks_digest, 32);
    v3xy_assert_buf_str(e.account.data, e.account.len, "acct_42");
    assert_int_equal(e.nscopes, 2);
    assert_int_equal(e.revoked, 1);
}


static void
fourth_field_other_than_revoked_is_refused(void **state)
{
    v3xy_ks_entry_t  e;

    (void) state;

    assert_int_equal(parse(KS_HEX " acct_42 read active", &e),
                     V3XY_KS_BAD_STATUS);
    assert_int_equal(parse(KS_HEX " acct_42 read Revoked", &e),
                     V3XY_KS_BAD_STATUS);
    assert_int_equal(parse(KS_HEX " acct_42 read REVOKED", &e),
                     V3XY_KS_BAD_STATUS);
    assert_int_equal(parse(KS_HEX " acct_42 read revoke", &e),
                     V3XY_KS_BAD_STATUS);
    assert_int_equal(parse(KS_HEX " acct_42 read revokedx", &e),
                     V3XY_KS_BAD_STATUS);
    assert_int_equal(parse(KS_HEX " acct_42 read #revoked", &e),
                     V3XY_KS_BAD_STATUS);
}


static void
six_or_more_fields_are_refused(void **state)
{
    v3xy_ks_entry_t  e;

    (void) state;

    assert_int_equal(parse(KS_HEX " acct_42 read tier=a revoked x", &e),
                     V3XY_KS_TRAILING);
    assert_int_equal(parse(KS_HEX " acct_42 read revoked # a note", &e),
                     V3XY_KS_TRAILING);
    assert_int_equal(parse(KS_HEX " acct_42 read revoked x y z", &e),
                     V3XY_KS_TRAILING);

    /* five: what follows the scopes is judged */
    assert_int_equal(parse(KS_HEX " acct_42 read revoked x", &e),
                     V3XY_KS_BAD_STATUS);
    assert_int_equal(parse(KS_HEX " acct_42 read revoked #note", &e),
                     V3XY_KS_BAD_STATUS);
}


static void
tier_field_names_the_key_tier_in_either_place(void **state)
{
    const char       *line;
    v3xy_ks_entry_t   e;

    (void) state;

    line = KS_HEX " acct_42 read tier=scale";

    assert_int_equal(parse(line, &e), V3XY_KS_OK);
    v3xy_assert_buf_str(e.tier.data, e.tier.len, "scale");
    assert_int_equal(e.revoked, 0);
    assert_int_equal(e.nscopes, 1);

    /* it points into the line */
    assert_ptr_equal(e.tier.data, (const unsigned char *) line + 83);

    assert_int_equal(parse(KS_HEX " acct_42 read tier=scale revoked", &e),
                     V3XY_KS_OK);
    v3xy_assert_buf_str(e.tier.data, e.tier.len, "scale");
    assert_int_equal(e.revoked, 1);

    assert_int_equal(parse(KS_HEX "\tacct_42 read\trevoked\ttier=ent-2_b\r",
                           &e),
                     V3XY_KS_OK);
    v3xy_assert_buf_str(e.tier.data, e.tier.len, "ent-2_b");
    assert_int_equal(e.revoked, 1);
}


static void
line_without_tier_has_none(void **state)
{
    v3xy_ks_entry_t  e;

    (void) state;

    /* the files of before tiers load as they did */
    assert_int_equal(parse(KS_HEX " acct_42 read", &e), V3XY_KS_OK);
    assert_int_equal(e.tier.len, 0);
    assert_int_equal(parse(KS_HEX " acct_42 read revoked", &e), V3XY_KS_OK);
    assert_int_equal(e.tier.len, 0);
}


static void
bad_tier_names_are_refused(void **state)
{
    size_t            i;
    const char       *bad[] = {
        KS_HEX " acct_42 read tier=",
        KS_HEX " acct_42 read tier=Scale",
        KS_HEX " acct_42 read tier=sc.ale",
        KS_HEX " acct_42 read tier=sc:ale",
        KS_HEX " acct_42 read tier=sc/ale",
        KS_HEX " acct_42 read tier=\"scale\"",
        KS_HEX " acct_42 read tier=scale= revoked",
        KS_HEX " acct_42 read tier=abcdefghijklmnopqrstuvwxyz0123456",
    };
    v3xy_ks_entry_t   e;

    (void) state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(parse(bad[i], &e), V3XY_KS_BAD_TIER);
    }

    /* 32 characters pass */
    assert_int_equal(
        parse(KS_HEX " acct_42 read tier=abcdefghijklmnopqrstuvwxyz012345",
              &e),
        V3XY_KS_OK);
    assert_int_equal(e.tier.len, V3XY_KS_TIER_MAX);

    /* not tier= */
    assert_int_equal(parse(KS_HEX " acct_42 read tier", &e),
                     V3XY_KS_BAD_STATUS);
    assert_int_equal(parse(KS_HEX " acct_42 read Tier=scale", &e),
                     V3XY_KS_BAD_STATUS);
    assert_int_equal(parse(KS_HEX " acct_42 read tier:scale", &e),
                     V3XY_KS_BAD_STATUS);
}


static void
revoked_or_tier_twice_is_refused(void **state)
{
    v3xy_ks_entry_t  e;

    (void) state;

    assert_int_equal(parse(KS_HEX " acct_42 read revoked revoked", &e),
                     V3XY_KS_TWICE);
    assert_int_equal(parse(KS_HEX " acct_42 read tier=a tier=b", &e),
                     V3XY_KS_TWICE);
    assert_int_equal(parse(KS_HEX " acct_42 read tier=a tier=a", &e),
                     V3XY_KS_TWICE);
}


static void
tier_valid_accepts_a_z_0_9_underscore_and_hyphen_only(void **state)
{
    (void) state;

    assert_true(v3xy_ks_tier_valid((const unsigned char *) "scale", 5));
    assert_true(v3xy_ks_tier_valid((const unsigned char *) "a", 1));
    assert_true(v3xy_ks_tier_valid((const unsigned char *) "pro_2-x", 7));
    assert_false(v3xy_ks_tier_valid((const unsigned char *) "", 0));
    assert_false(v3xy_ks_tier_valid((const unsigned char *) "Pro", 3));
    assert_false(v3xy_ks_tier_valid((const unsigned char *) "p:ro", 4));
    assert_false(v3xy_ks_tier_valid((const unsigned char *) "p ro", 4));
    assert_false(v3xy_ks_tier_valid((const unsigned char *) "p\0ro", 4));
    assert_false(v3xy_ks_tier_valid(
        (const unsigned char *) "abcdefghijklmnopqrstuvwxyz0123456", 33));
}


static void
blank_and_whitespace_only_lines_are_skipped(void **state)
{
    v3xy_ks_entry_t  e;

    (void) state;

    assert_int_equal(v3xy_ks_parse_line((const unsigned char *) "", 0, &e),
                     V3XY_KS_SKIP);
    assert_int_equal(parse(" ", &e), V3XY_KS_SKIP);
    assert_int_equal(parse("\t", &e), V3XY_KS_SKIP);
    assert_int_equal(parse("\r", &e), V3XY_KS_SKIP);
    assert_int_equal(parse("  \t \t  \r", &e), V3XY_KS_SKIP);
}


static void
comment_lines_are_skipped(void **state)
{
    v3xy_ks_entry_t  e;

    (void) state;

    assert_int_equal(parse("#", &e), V3XY_KS_SKIP);
    assert_int_equal(parse("# key store of the staging API", &e),
                     V3XY_KS_SKIP);
    assert_int_equal(parse("#" KS_HEX " acct_42 read", &e), V3XY_KS_SKIP);
    assert_int_equal(parse("# " KS_HEX " acct_42 read", &e), V3XY_KS_SKIP);
    assert_int_equal(parse("   # indented comment", &e), V3XY_KS_SKIP);
    assert_int_equal(parse("\t\t#tabbed comment\r", &e), V3XY_KS_SKIP);
    assert_int_equal(parse("  #", &e), V3XY_KS_SKIP);
}


static void
digest_of_63_or_65_hex_digits_is_refused(void **state)
{
    char             line[128];
    v3xy_ks_entry_t  e;

    (void) state;

    /* 63: the last digit dropped */
    memcpy(line, KS_HEX, 63);
    memcpy(line + 63, " acct_42 read", sizeof(" acct_42 read"));
    assert_int_equal(parse(line, &e), V3XY_KS_BAD_DIGEST);

    /* 65: one digit more */
    assert_int_equal(parse(KS_HEX "0 acct_42 read", &e), V3XY_KS_BAD_DIGEST);

    assert_int_equal(parse("cf29 acct_42 read", &e), V3XY_KS_BAD_DIGEST);
    assert_int_equal(parse(KS_HEX KS_HEX " acct_42 read", &e),
                     V3XY_KS_BAD_DIGEST);
}


static void
digest_with_non_hex_character_is_refused(void **state)
{
    size_t           i;
    char             line[128];
    v3xy_ks_entry_t  e;

    /* at the high nibble, a low nibble, the last digit */
    static const size_t  at[] = { 0, 1, 30, 63 };
    static const char    bad[] = { 'g', 'G', 'x', ':', '-', '\0' };

    (void) state;

    for (i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
        memcpy(line, KS_HEX " acct_42 read", sizeof(KS_HEX " acct_42 read"));
        line[at[i]] = 'g';
        assert_int_equal(parse(line, &e), V3XY_KS_BAD_DIGEST);
    }

    for (i = 0; bad[i] != '\0'; i++) {
        memcpy(line, KS_HEX " acct_42 read", sizeof(KS_HEX " acct_42 read"));
        line[40] = bad[i];
        assert_int_equal(parse(line, &e), V3XY_KS_BAD_DIGEST);
    }

    /* a NUL byte inside the digest, the length given explicitly */
    memcpy(line, KS_HEX " acct_42 read", sizeof(KS_HEX " acct_42 read"));
    line[20] = '\0';
    assert_int_equal(v3xy_ks_parse_line((const unsigned char *) line,
                                        V3XY_LIT_LEN(KS_HEX " acct_42 read"),
                                        &e), V3XY_KS_BAD_DIGEST);

    /* "0x" in front makes 66 characters */
    assert_int_equal(parse("0x" KS_HEX " acct_42 read", &e),
                     V3XY_KS_BAD_DIGEST);
}


static void
account_of_64_characters_passes_65_is_refused(void **state)
{
    char             line[256];
    v3xy_ks_entry_t  e;

    (void) state;

    memcpy(line, KS_HEX " ", 65);
    memset(line + 65, 'a', 64);
    memcpy(line + 129, " read", sizeof(" read"));

    assert_int_equal(parse(line, &e), V3XY_KS_OK);
    assert_int_equal(e.account.len, V3XY_KS_ACCOUNT_MAX);
    assert_ptr_equal(e.account.data, (const unsigned char *) line + 65);

    memset(line + 65, 'a', 65);
    memcpy(line + 130, " read", sizeof(" read"));

    assert_int_equal(parse(line, &e), V3XY_KS_BAD_ACCOUNT);
}


static void
account_of_every_allowed_character_is_accepted(void **state)
{
    v3xy_ks_entry_t  e;

    (void) state;

    assert_int_equal(parse(KS_HEX " azAZ09_.:-tenant:42 read", &e),
                     V3XY_KS_OK);
    v3xy_assert_buf_str(e.account.data, e.account.len, "azAZ09_.:-tenant:42");
}


static void
account_with_bad_characters_is_refused(void **state)
{
    size_t           i;
    char             line[128];
    v3xy_ks_entry_t  e;

    static const char  bad[] = "/@,+=!#*\"'\\~$%&()[]{}<>?|;\x7f\x80\xff";

    (void) state;

    for (i = 0; i < V3XY_LIT_LEN(bad); i++) {
        memcpy(line, KS_HEX " acct_42 read",
               sizeof(KS_HEX " acct_42 read"));
        line[68] = bad[i];
        assert_int_equal(parse(line, &e), V3XY_KS_BAD_ACCOUNT);
    }

    assert_int_equal(parse(KS_HEX " acct,42 read", &e), V3XY_KS_BAD_ACCOUNT);
    assert_int_equal(parse(KS_HEX " \xc3\xa9t\xc3\xa9 read", &e),
                     V3XY_KS_BAD_ACCOUNT);

    /* a NUL byte inside the account, the length given explicitly */
    memcpy(line, KS_HEX " acct_42 read", sizeof(KS_HEX " acct_42 read"));
    line[68] = '\0';
    assert_int_equal(v3xy_ks_parse_line((const unsigned char *) line,
                                        V3XY_LIT_LEN(KS_HEX " acct_42 read"),
                                        &e), V3XY_KS_BAD_ACCOUNT);
}


static void
missing_account_is_refused(void **state)
{
    v3xy_ks_entry_t  e;

    (void) state;

    assert_int_equal(parse(KS_HEX, &e), V3XY_KS_BAD_ACCOUNT);
    assert_int_equal(parse(KS_HEX " ", &e), V3XY_KS_BAD_ACCOUNT);
    assert_int_equal(parse(KS_HEX " \t\r", &e), V3XY_KS_BAD_ACCOUNT);
}


static void
missing_scopes_are_refused(void **state)
{
    v3xy_ks_entry_t  e;

    (void) state;

    assert_int_equal(parse(KS_HEX " acct_42", &e), V3XY_KS_NO_SCOPES);
    assert_int_equal(parse(KS_HEX " acct_42 \t \r", &e), V3XY_KS_NO_SCOPES);
    assert_int_equal(parse(KS_HEX " acct_42 tier=gold", &e),
                     V3XY_KS_NO_SCOPES);
    assert_int_equal(parse(KS_HEX " acct_42 revoked", &e), V3XY_KS_NO_SCOPES);
    assert_int_equal(parse(KS_HEX " acct_42 tier= revoked", &e),
                     V3XY_KS_NO_SCOPES);
}


static void
empty_scope_between_or_after_commas_is_refused(void **state)
{
    v3xy_ks_entry_t  e;

    (void) state;

    assert_int_equal(parse(KS_HEX " acct_42 read,,write", &e),
                     V3XY_KS_BAD_SCOPE);
    assert_int_equal(parse(KS_HEX " acct_42 read,", &e), V3XY_KS_BAD_SCOPE);
    assert_int_equal(parse(KS_HEX " acct_42 ,read", &e), V3XY_KS_BAD_SCOPE);
    assert_int_equal(parse(KS_HEX " acct_42 ,", &e), V3XY_KS_BAD_SCOPE);
    assert_int_equal(parse(KS_HEX " acct_42 read, revoked", &e),
                     V3XY_KS_BAD_SCOPE);

    /* even after sixteen good scopes: the empty one is what is wrong */
    assert_int_equal(parse(KS_HEX " acct_42 a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,",
                           &e), V3XY_KS_BAD_SCOPE);
}


static void
scope_with_upper_case_or_bad_character_is_refused(void **state)
{
    v3xy_ks_entry_t  e;

    (void) state;

    assert_int_equal(parse(KS_HEX " acct_42 Read", &e), V3XY_KS_BAD_SCOPE);
    assert_int_equal(parse(KS_HEX " acct_42 read,sEnd", &e),
                     V3XY_KS_BAD_SCOPE);
    assert_int_equal(parse(KS_HEX " acct_42 read,SEND", &e),
                     V3XY_KS_BAD_SCOPE);
    assert_int_equal(parse(KS_HEX " acct_42 send/email", &e),
                     V3XY_KS_BAD_SCOPE);
    assert_int_equal(parse(KS_HEX " acct_42 send;email", &e),
                     V3XY_KS_BAD_SCOPE);
    assert_int_equal(parse(KS_HEX " acct_42 r\xc3\xa9" "ad", &e),
                     V3XY_KS_BAD_SCOPE);
}


static void
scope_of_32_characters_passes_33_is_refused(void **state)
{
    char             line[256];
    v3xy_ks_entry_t  e;

    (void) state;

    memcpy(line, KS_HEX " acct_42 read,", 78);
    memset(line + 78, 's', 32);
    memcpy(line + 110, ",write", sizeof(",write"));

    assert_int_equal(parse(line, &e), V3XY_KS_OK);
    assert_int_equal(e.nscopes, 3);
    assert_int_equal(e.scopes[1].len, V3XY_KS_SCOPE_MAX);
    assert_ptr_equal(e.scopes[1].data, (const unsigned char *) line + 78);
    v3xy_assert_buf_str(e.scopes[2].data, e.scopes[2].len, "write");

    memset(line + 78, 's', 33);
    memcpy(line + 111, ",write", sizeof(",write"));

    assert_int_equal(parse(line, &e), V3XY_KS_BAD_SCOPE);
}


static void
scope_valid_accepts_allowed_characters(void **state)
{
    (void) state;

    assert_true(scope_valid("a"));
    assert_true(scope_valid("read"));
    assert_true(scope_valid("send:email"));
    assert_true(scope_valid("abcdefghijklmnopqrstuvwxyz"));
    assert_true(scope_valid("0123456789_:.-"));
    assert_true(scope_valid("-"));
    assert_true(scope_valid("ssssssssssssssssssssssssssssssss"));
}


static void
scope_valid_refuses_empty_long_upper_case_and_others(void **state)
{
    (void) state;

    assert_false(v3xy_ks_scope_valid((const unsigned char *) "", 0));
    assert_false(v3xy_ks_scope_valid((const unsigned char *) "read", 0));
    assert_false(scope_valid("sssssssssssssssssssssssssssssssss"));
    assert_false(scope_valid("Read"));
    assert_false(scope_valid("READ"));
    assert_false(scope_valid("reaD"));
    assert_false(scope_valid("read,write"));
    assert_false(scope_valid("read write"));
    assert_false(scope_valid("read\t"));
    assert_false(scope_valid("read\r"));
    assert_false(scope_valid("send/email"));
    assert_false(scope_valid("send@email"));
    assert_false(scope_valid("r\xc3\xa9" "ad"));
    assert_false(scope_valid("\x80"));

    /* a NUL byte inside, the length given explicitly */
    assert_false(v3xy_ks_scope_valid((const unsigned char *) "re\0ad", 5));

    /* only the first len bytes count */
    assert_true(v3xy_ks_scope_valid((const unsigned char *) "readX", 4));
}


static void
has_scopes_is_true_when_all_are_present(void **state)
{
    v3xy_ks_str_t    want[3];
    v3xy_ks_entry_t  e;

    (void) state;

    assert_int_equal(parse(KS_HEX " acct_42 read,send:email,admin", &e),
                     V3XY_KS_OK);

    want[0] = ks_str("read");
    assert_true(v3xy_ks_has_scopes(&e, want, 1));

    want[0] = ks_str("admin");
    want[1] = ks_str("read");
    assert_true(v3xy_ks_has_scopes(&e, want, 2));

    want[0] = ks_str("send:email");
    want[1] = ks_str("admin");
    want[2] = ks_str("read");
    assert_true(v3xy_ks_has_scopes(&e, want, 3));
}


static void
has_scopes_is_false_when_one_is_missing(void **state)
{
    v3xy_ks_str_t    want[3];
    v3xy_ks_entry_t  e;

    (void) state;

    assert_int_equal(parse(KS_HEX " acct_42 read,send:email", &e),
                     V3XY_KS_OK);

    want[0] = ks_str("read");
    want[1] = ks_str("admin");
    want[2] = ks_str("send:email");
    assert_false(v3xy_ks_has_scopes(&e, want, 3));

    want[0] = ks_str("admin");
    assert_false(v3xy_ks_has_scopes(&e, want, 1));

    /* exact match only: no prefix, no extension, no case folding */
    want[0] = ks_str("send");
    assert_false(v3xy_ks_has_scopes(&e, want, 1));
    want[0] = ks_str("send:email:all");
    assert_false(v3xy_ks_has_scopes(&e, want, 1));
    want[0] = ks_str("rea");
    assert_false(v3xy_ks_has_scopes(&e, want, 1));
    want[0] = ks_str("READ");
    assert_false(v3xy_ks_has_scopes(&e, want, 1));
    want[0] = ks_str("");
    assert_false(v3xy_ks_has_scopes(&e, want, 1));
}


static void
has_scopes_of_empty_want_list_is_true(void **state)
{
    v3xy_ks_str_t    want[1];
    v3xy_ks_entry_t  e;

    (void) state;

    assert_int_equal(parse(KS_HEX " acct_42 read", &e), V3XY_KS_OK);
    want[0] = ks_str("admin");
    assert_true(v3xy_ks_has_scopes(&e, want, 0));
    assert_true(v3xy_ks_has_scopes(&e, NULL, 0));

    /* even of an entry without scopes */
    memset(&e, 0, sizeof(v3xy_ks_entry_t));
    assert_true(v3xy_ks_has_scopes(&e, NULL, 0));
    assert_false(v3xy_ks_has_scopes(&e, want, 1));
}


static void
has_scopes_with_duplicates_counts_each_scope_once(void **state)
{
    v3xy_ks_str_t    want[4];
    v3xy_ks_entry_t  e;

    (void) state;

    assert_int_equal(parse(KS_HEX " acct_42 read,write", &e), V3XY_KS_OK);

    want[0] = ks_str("read");
    want[1] = ks_str("read");
    want[2] = ks_str("write");
    want[3] = ks_str("read");
    assert_true(v3xy_ks_has_scopes(&e, want, 4));

    want[3] = ks_str("admin");
    assert_false(v3xy_ks_has_scopes(&e, want, 4));

    /* a scope listed twice in the store */
    assert_int_equal(parse(KS_HEX " acct_42 read,read", &e), V3XY_KS_OK);
    want[0] = ks_str("read");
    assert_true(v3xy_ks_has_scopes(&e, want, 2));
    want[1] = ks_str("write");
    assert_false(v3xy_ks_has_scopes(&e, want, 2));
}


/* the Redis store's hashes */

/* a field of a hash; NULL: the hash lacks it */
static v3xy_ks_str_t
field(const char *s)
{
    v3xy_ks_str_t  f;

    f.data = (const unsigned char *) s;
    f.len = s ? strlen(s) : 0;

    return f;
}


static v3xy_ks_status_e
parse_hash_tier(const char *account, const char *scopes, const char *status,
    const char *tier, v3xy_ks_entry_t *e)
{
    v3xy_ks_str_t  a, sc, st, t;

    a = field(account);
    sc = field(scopes);
    st = field(status);
    t = field(tier);

    return v3xy_ks_parse_hash(&a, &sc, &st, &t, e);
}


static v3xy_ks_status_e
parse_hash(const char *account, const char *scopes, const char *status,
    v3xy_ks_entry_t *e)
{
    return parse_hash_tier(account, scopes, status, NULL, e);
}


static void
hash_active_gives_account_and_scopes(void **state)
{
    const char       *scopes;
    v3xy_ks_entry_t   e;

    (void) state;

    scopes = "payments:create payments:read";

    assert_int_equal(parse_hash("acct_1001", scopes, "active", &e),
                     V3XY_KS_OK);
    v3xy_assert_buf_str(e.account.data, e.account.len, "acct_1001");
    assert_int_equal(e.nscopes, 2);
    v3xy_assert_buf_str(e.scopes[0].data, e.scopes[0].len,
                        "payments:create");
    v3xy_assert_buf_str(e.scopes[1].data, e.scopes[1].len, "payments:read");
    assert_int_equal(e.revoked, 0);

    /* the strings point into the fields */
    assert_ptr_equal(e.scopes[1].data, (const unsigned char *) scopes + 16);
}


static void
hash_scopes_separated_by_runs_of_spaces_and_tabs(void **state)
{
    v3xy_ks_entry_t  e;

    (void) state;

    assert_int_equal(parse_hash("a", "  read \t write\t", "active", &e),
                     V3XY_KS_OK);
    assert_int_equal(e.nscopes, 2);
    v3xy_assert_buf_str(e.scopes[0].data, e.scopes[0].len, "read");
    v3xy_assert_buf_str(e.scopes[1].data, e.scopes[1].len, "write");

    assert_int_equal(parse_hash("a", "read", "active", &e), V3XY_KS_OK);
    assert_int_equal(e.nscopes, 1);
}


static void
hash_without_any_field_is_unknown(void **state)
{
    v3xy_ks_entry_t  e;

    (void) state;

    assert_int_equal(parse_hash(NULL, NULL, NULL, &e), V3XY_KS_UNKNOWN);
}


static void
hash_revoked_is_revoked_whatever_the_other_fields(void **state)
{
    v3xy_ks_entry_t  e;

    (void) state;

    assert_int_equal(parse_hash("acct_1", "read", "revoked", &e),
                     V3XY_KS_OK);
    assert_int_equal(e.revoked, 1);

    /* revoking is one HSET: nothing else needs to be right */
    assert_int_equal(parse_hash(NULL, NULL, "revoked", &e), V3XY_KS_OK);
    assert_int_equal(e.revoked, 1);

    assert_int_equal(parse_hash("bad account!", "BAD,SCOPE", "revoked", &e),
                     V3XY_KS_OK);
    assert_int_equal(e.revoked, 1);
}


static void
hash_without_status_is_malformed(void **state)
{
    v3xy_ks_entry_t  e;

    (void) state;

    assert_int_equal(parse_hash("acct_1", "read", NULL, &e),
                     V3XY_KS_NO_STATUS);
    assert_int_equal(parse_hash("acct_1", NULL, NULL, &e),
                     V3XY_KS_NO_STATUS);
    assert_int_equal(parse_hash(NULL, "read", NULL, &e), V3XY_KS_NO_STATUS);
}


static void
hash_status_other_than_active_or_revoked_is_malformed(void **state)
{
    static const char  *bad[] = {
        "", "Active", "ACTIVE", "active ", " active", "revoked ", "Revoked",
        "enabled", "activ", "actives", "1"
    };

    size_t           i;
    v3xy_ks_entry_t  e;

    (void) state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(parse_hash("acct_1", "read", bad[i], &e),
                         V3XY_KS_BAD_HASH_STATUS);
    }
}


static void
hash_active_without_or_with_bad_account_is_malformed(void **state)
{
    char             long_account[V3XY_KS_ACCOUNT_MAX + 2];
    v3xy_ks_entry_t  e;

    (void) state;

    assert_int_equal(parse_hash(NULL, "read", "active", &e),
                     V3XY_KS_BAD_ACCOUNT);
    assert_int_equal(parse_hash("", "read", "active", &e),
                     V3XY_KS_BAD_ACCOUNT);
    assert_int_equal(parse_hash("acct 1", "read", "active", &e),
                     V3XY_KS_BAD_ACCOUNT);
    assert_int_equal(parse_hash("acct/1", "read", "active", &e),
                     V3XY_KS_BAD_ACCOUNT);

    memset(long_account, 'a', V3XY_KS_ACCOUNT_MAX);
    long_account[V3XY_KS_ACCOUNT_MAX] = '\0';
    assert_int_equal(parse_hash(long_account, "read", "active", &e),
                     V3XY_KS_OK);

    long_account[V3XY_KS_ACCOUNT_MAX] = 'a';
    long_account[V3XY_KS_ACCOUNT_MAX + 1] = '\0';
    assert_int_equal(parse_hash(long_account, "read", "active", &e),
                     V3XY_KS_BAD_ACCOUNT);
}


static void
hash_active_without_scopes_is_malformed(void **state)
{
    v3xy_ks_entry_t  e;

    (void) state;

    assert_int_equal(parse_hash("acct_1", NULL, "active", &e),
                     V3XY_KS_NO_SCOPES);
    assert_int_equal(parse_hash("acct_1", "", "active", &e),
                     V3XY_KS_NO_SCOPES);
    assert_int_equal(parse_hash("acct_1", " \t ", "active", &e),
                     V3XY_KS_NO_SCOPES);
}


static void
hash_bad_or_too_many_scopes_are_malformed(void **state)
{
    char             many[17 * 3 + 1];
    size_t           i;
    v3xy_ks_entry_t  e;

    (void) state;

    /* the file's commas are not the hash's separator */
    assert_int_equal(parse_hash("a", "read,write", "active", &e),
                     V3XY_KS_BAD_SCOPE);
    assert_int_equal(parse_hash("a", "Read", "active", &e),
                     V3XY_KS_BAD_SCOPE);
    assert_int_equal(parse_hash("a", "read\nwrite", "active", &e),
                     V3XY_KS_BAD_SCOPE);
    assert_int_equal(parse_hash("a", "read write\r", "active", &e),
                     V3XY_KS_BAD_SCOPE);

    /* sixteen scopes "s0 s1 ... sf", then seventeen */
    for (i = 0; i < 17; i++) {
        many[3 * i] = 's';
        many[3 * i + 1] = "0123456789abcdefg"[i];
        many[3 * i + 2] = ' ';
    }

    many[16 * 3 - 1] = '\0';
    assert_int_equal(parse_hash("a", many, "active", &e), V3XY_KS_OK);
    assert_int_equal(e.nscopes, 16);

    many[16 * 3 - 1] = ' ';
    many[17 * 3 - 1] = '\0';
    assert_int_equal(parse_hash("a", many, "active", &e),
                     V3XY_KS_TOO_MANY_SCOPES);
}


static void
hash_tier_names_the_key_tier(void **state)
{
    v3xy_ks_entry_t  e;

    (void) state;

    assert_int_equal(parse_hash_tier("acct_1", "read", "active", "scale", &e),
                     V3XY_KS_OK);
    v3xy_assert_buf_str(e.tier.data, e.tier.len, "scale");
    v3xy_assert_buf_str(e.account.data, e.account.len, "acct_1");

    /* absent or empty: none */
    assert_int_equal(parse_hash_tier("acct_1", "read", "active", NULL, &e),
                     V3XY_KS_OK);
    assert_int_equal(e.tier.len, 0);
    assert_int_equal(parse_hash_tier("acct_1", "read", "active", "", &e),
                     V3XY_KS_OK);
    assert_int_equal(e.tier.len, 0);
}


static void
hash_bad_tier_is_malformed_unless_revoked(void **state)
{
    v3xy_ks_entry_t  e;

    (void) state;

    assert_int_equal(parse_hash_tier("acct_1", "read", "active", "Scale", &e),
                     V3XY_KS_BAD_TIER);
    assert_int_equal(parse_hash_tier("acct_1", "read", "active", " scale",
                                     &e),
                     V3XY_KS_BAD_TIER);
    assert_int_equal(parse_hash_tier("acct_1", "read", "active",
                                     "abcdefghijklmnopqrstuvwxyz0123456", &e),
                     V3XY_KS_BAD_TIER);

    /* revoked is revoked, whatever the tier */
    assert_int_equal(parse_hash_tier("acct_1", "read", "revoked", "Bad!", &e),
                     V3XY_KS_OK);
    assert_int_equal(e.revoked, 1);
}


static void
hash_with_only_a_tier_is_malformed_not_unknown(void **state)
{
    v3xy_ks_entry_t  e;

    (void) state;

    assert_int_equal(parse_hash_tier(NULL, NULL, NULL, "scale", &e),
                     V3XY_KS_NO_STATUS);
    assert_int_equal(parse_hash_tier(NULL, NULL, NULL, NULL, &e),
                     V3XY_KS_UNKNOWN);
}


static void
hash_fields_are_bounded_not_nul_terminated(void **state)
{
    v3xy_ks_str_t    a, sc, st, t;
    v3xy_ks_entry_t  e;

    (void) state;

    /* lengths, not NUL bytes, end the fields */
    a.data = (const unsigned char *) "acct_1XXXX";
    a.len = 6;
    sc.data = (const unsigned char *) "read writeXXXX";
    sc.len = 10;
    st.data = (const unsigned char *) "activeXXXX";
    st.len = 6;
    t.data = (const unsigned char *) "scaleXXXX";
    t.len = 5;

    assert_int_equal(v3xy_ks_parse_hash(&a, &sc, &st, &t, &e), V3XY_KS_OK);
    v3xy_assert_buf_str(e.account.data, e.account.len, "acct_1");
    assert_int_equal(e.nscopes, 2);
    v3xy_assert_buf_str(e.scopes[1].data, e.scopes[1].len, "write");
    v3xy_assert_buf_str(e.tier.data, e.tier.len, "scale");

    /* a NUL byte inside a field is a character like another */
    t.data = (const unsigned char *) "sc\0ale";
    t.len = 6;
    assert_int_equal(v3xy_ks_parse_hash(&a, &sc, &st, &t, &e),
                     V3XY_KS_BAD_TIER);

    a.data = (const unsigned char *) "acct\0_1";
    a.len = 7;
    assert_int_equal(v3xy_ks_parse_hash(&a, &sc, &st, &t, &e),
                     V3XY_KS_BAD_ACCOUNT);
}


static void
scopes_join_separates_by_one_space(void **state)
{
    unsigned char    out[V3XY_KS_SCOPES_JOINED_MAX];
    size_t           len;
    v3xy_ks_entry_t  e, again;
    v3xy_ks_str_t    a, sc, st, t;

    (void) state;

    assert_int_equal(parse_hash("a", "  read \t\t write  x ", "active", &e),
                     V3XY_KS_OK);

    len = v3xy_ks_scopes_join(&e, out);
    v3xy_assert_buf_str(out, len, "read write x");

    /* what join writes parses back to the same scopes */
    a = field("a");
    sc.data = out;
    sc.len = len;
    st = field("active");
    t = field(NULL);
    assert_int_equal(v3xy_ks_parse_hash(&a, &sc, &st, &t, &again),
                     V3XY_KS_OK);
    assert_int_equal(again.nscopes, 3);
    assert_true(v3xy_ks_has_scopes(&again, e.scopes, e.nscopes));
}


static void
scopes_join_of_the_longest_list_fits_the_maximum(void **state)
{
    char             line[V3XY_KS_SCOPES_MAX * (V3XY_KS_SCOPE_MAX + 1) + 1];
    unsigned char    out[V3XY_KS_SCOPES_JOINED_MAX];
    size_t           i, len;
    v3xy_ks_entry_t  e;

    (void) state;

    /* sixteen scopes of 32 characters, each a different letter */
    for (i = 0; i < V3XY_KS_SCOPES_MAX; i++) {
        memset(line + i * (V3XY_KS_SCOPE_MAX + 1), (int) ('a' + i),
               V3XY_KS_SCOPE_MAX);
        line[i * (V3XY_KS_SCOPE_MAX + 1) + V3XY_KS_SCOPE_MAX] = ' ';
    }

    line[sizeof(line) - 2] = '\0';

    assert_int_equal(parse_hash("a", line, "active", &e), V3XY_KS_OK);
    assert_int_equal(e.nscopes, V3XY_KS_SCOPES_MAX);

    len = v3xy_ks_scopes_join(&e, out);
    assert_int_equal(len, V3XY_KS_SCOPES_JOINED_MAX);
    v3xy_assert_buf_str(out, len, line);
}


static void
status_texts_are_non_empty_and_distinct(void **state)
{
    int  i, j;

    (void) state;

    for (i = V3XY_KS_OK; i <= V3XY_KS_TWICE; i++) {
        assert_non_null(v3xy_ks_status_text((v3xy_ks_status_e) i));
        assert_true(strlen(v3xy_ks_status_text((v3xy_ks_status_e) i)) > 0);

        for (j = V3XY_KS_OK; j < i; j++) {
            assert_string_not_equal(
                v3xy_ks_status_text((v3xy_ks_status_e) i),
                v3xy_ks_status_text((v3xy_ks_status_e) j));
        }
    }
}


static void
status_text_of_unknown_status_is_non_empty(void **state)
{
    const char  *text;

    (void) state;

    text = v3xy_ks_status_text(
               (v3xy_ks_status_e) (V3XY_KS_TWICE + 1));
    assert_non_null(text);
    assert_true(strlen(text) > 0);
}


/* sessions: the hash, the Authorization header, the fingerprint */

static v3xy_ks_status_e
parse_session(const char *account, const char *status, v3xy_ks_entry_t *e)
{
    v3xy_ks_str_t  a, st;

    a.data = (const unsigned char *) account;
    a.len = account ? strlen(account) : 0;
    st.data = (const unsigned char *) status;
    st.len = status ? strlen(status) : 0;

    return v3xy_ks_parse_session(&a, &st, e);
}


static v3xy_ks_bearer_e
bearer(const char *value, v3xy_ks_str_t *token)
{
    token->data = NULL;
    token->len = 0;

    return v3xy_ks_bearer((const unsigned char *) value, strlen(value),
                          token);
}


static void
session_active_gives_account_and_no_scopes(void **state)
{
    v3xy_ks_entry_t  e;

    (void) state;

    assert_int_equal(parse_session("acct_1001", "active", &e), V3XY_KS_OK);
    assert_int_equal(e.revoked, 0);
    assert_int_equal(e.account.len, 9);
    assert_memory_equal(e.account.data, "acct_1001", 9);
    assert_int_equal(e.nscopes, 0);
}


static void
session_revoked_unknown_and_malformed(void **state)
{
    v3xy_ks_entry_t  e;

    (void) state;

    assert_int_equal(parse_session("acct_1", "revoked", &e), V3XY_KS_OK);
    assert_int_equal(e.revoked, 1);
    assert_int_equal(parse_session(NULL, "revoked", &e), V3XY_KS_OK);
    assert_int_equal(e.revoked, 1);

    assert_int_equal(parse_session(NULL, NULL, &e), V3XY_KS_UNKNOWN);
    assert_int_equal(parse_session("acct_1", NULL, &e), V3XY_KS_NO_STATUS);
    assert_int_equal(parse_session("acct_1", "Active", &e),
                     V3XY_KS_BAD_HASH_STATUS);
    assert_int_equal(parse_session("acct_1", "", &e),
                     V3XY_KS_BAD_HASH_STATUS);
    assert_int_equal(parse_session(NULL, "active", &e), V3XY_KS_BAD_ACCOUNT);
    assert_int_equal(parse_session("", "active", &e), V3XY_KS_BAD_ACCOUNT);
    assert_int_equal(parse_session("acct 1", "active", &e),
                     V3XY_KS_BAD_ACCOUNT);
}


static void
bearer_token_of_the_form_is_taken(void **state)
{
    v3xy_ks_str_t  t;

    (void) state;

    assert_int_equal(bearer("Bearer abc.DEF-_~+/09==", &t),
                     V3XY_KS_BEARER_OK);
    assert_int_equal(t.len, strlen("abc.DEF-_~+/09=="));
    assert_memory_equal(t.data, "abc.DEF-_~+/09==", t.len);

    assert_int_equal(bearer("bEARER   tok", &t), V3XY_KS_BEARER_OK);
    assert_int_equal(t.len, 3);
    assert_memory_equal(t.data, "tok", 3);
}


static void
bearer_other_schemes_are_none(void **state)
{
    v3xy_ks_str_t  t;

    (void) state;

    assert_int_equal(bearer("", &t), V3XY_KS_BEARER_NONE);
    assert_int_equal(bearer("Basic dXNlcjpwYXNz", &t), V3XY_KS_BEARER_NONE);
    assert_int_equal(bearer("Bear", &t), V3XY_KS_BEARER_NONE);
    assert_int_equal(bearer("Bearerx tok", &t), V3XY_KS_BEARER_NONE);
    assert_int_equal(bearer("v3xy_dev_abc", &t), V3XY_KS_BEARER_NONE);
}


static void
bearer_without_a_token_of_the_form_is_malformed(void **state)
{
    char           *big;
    v3xy_ks_str_t   t;

    (void) state;

    assert_int_equal(bearer("Bearer", &t), V3XY_KS_BEARER_MALFORMED);
    assert_int_equal(bearer("Bearer ", &t), V3XY_KS_BEARER_MALFORMED);
    assert_int_equal(bearer("Bearer a b", &t), V3XY_KS_BEARER_MALFORMED);
    assert_int_equal(bearer("Bearer a=b", &t), V3XY_KS_BEARER_MALFORMED);
    assert_int_equal(bearer("Bearer ===", &t), V3XY_KS_BEARER_MALFORMED);
    assert_int_equal(bearer("Bearer a\tb", &t), V3XY_KS_BEARER_MALFORMED);
    assert_int_equal(bearer("Bearer a\"b", &t), V3XY_KS_BEARER_MALFORMED);
    assert_int_equal(bearer("Bearer \xc3\xa9", &t),
                     V3XY_KS_BEARER_MALFORMED);

    /* 4096 characters pass, 4097 do not */

    big = malloc(7 + V3XY_KS_TOKEN_MAX + 2);
    assert_non_null(big);
    memcpy(big, "Bearer ", 7);
    memset(big + 7, 'a', V3XY_KS_TOKEN_MAX);
    big[7 + V3XY_KS_TOKEN_MAX] = '\0';
    assert_int_equal(bearer(big, &t), V3XY_KS_BEARER_OK);
    assert_int_equal(t.len, V3XY_KS_TOKEN_MAX);

    big[7 + V3XY_KS_TOKEN_MAX] = 'a';
    big[7 + V3XY_KS_TOKEN_MAX + 1] = '\0';
    assert_int_equal(bearer(big, &t), V3XY_KS_BEARER_MALFORMED);

    free(big);
}


static void
session_id_is_prefix_and_twelve_hex_digits(void **state)
{
    unsigned char  out[V3XY_KS_SESSION_ID_LEN];

    (void) state;

    v3xy_ks_session_id(ks_digest, out);

    assert_int_equal(V3XY_KS_SESSION_ID_LEN, 22);
    assert_memory_equal(out, "session...cf29d44cf503", 22);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(good_line_gives_digest_account_and_scopes),
        cmocka_unit_test(upper_case_hex_gives_the_same_digest),
        cmocka_unit_test(tabs_spaces_and_trailing_cr_separate_fields),
        cmocka_unit_test(one_scope_is_accepted),
        cmocka_unit_test(sixteen_scopes_are_accepted_seventeen_refused),
        cmocka_unit_test(revoked_fourth_field_marks_the_key_revoked),
        cmocka_unit_test(fourth_field_other_than_revoked_is_refused),
        cmocka_unit_test(six_or_more_fields_are_refused),
        cmocka_unit_test(tier_field_names_the_key_tier_in_either_place),
        cmocka_unit_test(line_without_tier_has_none),
        cmocka_unit_test(bad_tier_names_are_refused),
        cmocka_unit_test(revoked_or_tier_twice_is_refused),
        cmocka_unit_test(
            tier_valid_accepts_a_z_0_9_underscore_and_hyphen_only),
        cmocka_unit_test(blank_and_whitespace_only_lines_are_skipped),
        cmocka_unit_test(comment_lines_are_skipped),
        cmocka_unit_test(digest_of_63_or_65_hex_digits_is_refused),
        cmocka_unit_test(digest_with_non_hex_character_is_refused),
        cmocka_unit_test(account_of_64_characters_passes_65_is_refused),
        cmocka_unit_test(account_of_every_allowed_character_is_accepted),
        cmocka_unit_test(account_with_bad_characters_is_refused),
        cmocka_unit_test(missing_account_is_refused),
        cmocka_unit_test(missing_scopes_are_refused),
        cmocka_unit_test(empty_scope_between_or_after_commas_is_refused),
        cmocka_unit_test(scope_with_upper_case_or_bad_character_is_refused),
        cmocka_unit_test(scope_of_32_characters_passes_33_is_refused),
        cmocka_unit_test(scope_valid_accepts_allowed_characters),
        cmocka_unit_test(scope_valid_refuses_empty_long_upper_case_and_others),
        cmocka_unit_test(has_scopes_is_true_when_all_are_present),
        cmocka_unit_test(has_scopes_is_false_when_one_is_missing),
        cmocka_unit_test(has_scopes_of_empty_want_list_is_true),
        cmocka_unit_test(has_scopes_with_duplicates_counts_each_scope_once),
        cmocka_unit_test(hash_active_gives_account_and_scopes),
        cmocka_unit_test(hash_scopes_separated_by_runs_of_spaces_and_tabs),
        cmocka_unit_test(hash_without_any_field_is_unknown),
        cmocka_unit_test(hash_revoked_is_revoked_whatever_the_other_fields),
        cmocka_unit_test(hash_without_status_is_malformed),
        cmocka_unit_test(
            hash_status_other_than_active_or_revoked_is_malformed),
        cmocka_unit_test(
            hash_active_without_or_with_bad_account_is_malformed),
        cmocka_unit_test(hash_active_without_scopes_is_malformed),
        cmocka_unit_test(hash_bad_or_too_many_scopes_are_malformed),
        cmocka_unit_test(hash_tier_names_the_key_tier),
        cmocka_unit_test(hash_bad_tier_is_malformed_unless_revoked),
        cmocka_unit_test(hash_with_only_a_tier_is_malformed_not_unknown),
        cmocka_unit_test(hash_fields_are_bounded_not_nul_terminated),
        cmocka_unit_test(scopes_join_separates_by_one_space),
        cmocka_unit_test(scopes_join_of_the_longest_list_fits_the_maximum),
        cmocka_unit_test(status_texts_are_non_empty_and_distinct),
        cmocka_unit_test(status_text_of_unknown_status_is_non_empty),
        cmocka_unit_test(session_active_gives_account_and_no_scopes),
        cmocka_unit_test(session_revoked_unknown_and_malformed),
        cmocka_unit_test(bearer_token_of_the_form_is_taken),
        cmocka_unit_test(bearer_other_schemes_are_none),
        cmocka_unit_test(bearer_without_a_token_of_the_form_is_malformed),
        cmocka_unit_test(session_id_is_prefix_and_twelve_hex_digits),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
