/*
 * Unit tests of v3xy_json: the API's error body
 *
 *     {"success":false,"error":"<message>","code":"<code>"}
 *
 * with every string escaped.
 *
 * Where a test says "json.dumps", its expected body was computed
 * independently of the code under test, with Python's JSON encoder, and
 * pasted here as a C literal:
 *
 *     python3 -c 'import json; print(json.dumps({"success": False,
 *         "error": MSG, "code": CODE}, separators=(",", ":"),
 *         ensure_ascii=False))'
 *
 * Python writes DEL raw and U+0008/U+000C as \b and \f where this module
 * writes \u007f, \u0008 and \u000c: equally valid JSON.  For those bodies
 * the test says "json.loads" instead: the body was checked, when the test
 * was written, to parse back with Python's json.loads to exactly the
 * message and code given.
 */

#include "v3xy_test.h"

#include <stdio.h>
#include <stdlib.h>

#include "v3xy_json.h"


#define CANARY  0xa5

/* render a body of string literals, which may hold NUL bytes */
#define assert_body(msg, code, want)                                         \
    assert_body_is((const unsigned char *) (msg), V3XY_LIT_LEN(msg),        \
                   (const unsigned char *) (code), V3XY_LIT_LEN(code), want)


/*
 * Renders the body into a buffer of exactly v3xy_json_error_len() bytes
 * and a canary, and asserts that it fills the buffer and is want.
 */
static void
assert_body_is(const unsigned char *msg, size_t msg_len,
    const unsigned char *code, size_t code_len, const char *want)
{
    size_t          len;
    unsigned char  *buf, *end;

    len = v3xy_json_error_len(msg, msg_len, code, code_len);

    buf = malloc(len + 1);
    assert_non_null(buf);
    buf[len] = CANARY;

    end = v3xy_json_error(buf, msg, msg_len, code, code_len);

    assert_true(end == buf + len);
    assert_int_equal(buf[len], CANARY);
    v3xy_assert_buf_str(buf, len, want);

    free(buf);
}


/*
 * Renders the body of msg[0..msg_len) and code and asserts only that
 * v3xy_json_error_len() is the number of bytes written.
 */
static void
assert_len_is_written(const unsigned char *msg, size_t msg_len,
    const char *code)
{
    size_t          len, code_len;
    unsigned char  *buf, *end;

    code_len = strlen(code);
    len = v3xy_json_error_len(msg, msg_len, (const unsigned char *) code,
                              code_len);

    buf = malloc(len + 1);
    assert_non_null(buf);
    buf[len] = CANARY;

    end = v3xy_json_error(buf, msg, msg_len, (const unsigned char *) code,
                          code_len);

    assert_int_equal(end - buf, len);
    assert_int_equal(buf[len], CANARY);

    free(buf);
}


/* exact bodies */

static void
error_body_of_plain_message(void **state)
{
    (void) state;

    /* json.dumps */
    assert_body("invalid developer key", "invalid_key",
                "{\"success\":false,\"error\":\"invalid developer key\","
                "\"code\":\"invalid_key\"}");
}


static void
error_body_of_empty_message(void **state)
{
    (void) state;

    /* json.dumps */
    assert_body("", "empty",
                "{\"success\":false,\"error\":\"\",\"code\":\"empty\"}");

    assert_body("", "",
                "{\"success\":false,\"error\":\"\",\"code\":\"\"}");
}


static void
error_body_escapes_quote(void **state)
{
    (void) state;

    /* json.dumps */
    assert_body("say \"hi\"", "quote",
                "{\"success\":false,\"error\":\"say \\\"hi\\\"\","
                "\"code\":\"quote\"}");
}


static void
error_body_escapes_backslash(void **state)
{
    (void) state;

    /* json.dumps */
    assert_body("C:\\dir\\file", "backslash",
                "{\"success\":false,\"error\":\"C:\\\\dir\\\\file\","
                "\"code\":\"backslash\"}");
}


static void
error_body_escapes_newline_cr_and_tab(void **state)
{
    (void) state;

    /* json.dumps */
    assert_body("line1\nline2\r\n\tend", "ws",
                "{\"success\":false,\"error\":\"line1\\nline2\\r\\n\\tend\","
                "\"code\":\"ws\"}");
}


static void
error_body_escapes_control_bytes_as_u00xx(void **state)
{
    (void) state;

    /* json.dumps */
    assert_body("a\x01" "b\x1f" "c", "ctl",
                "{\"success\":false,\"error\":\"a\\u0001b\\u001fc\","
                "\"code\":\"ctl\"}");

    /* json.loads */
    assert_body("\x08\x0c", "bs_ff",
                "{\"success\":false,\"error\":\"\\u0008\\u000c\","
                "\"code\":\"bs_ff\"}");

    /* json.dumps: a NUL byte inside the message */
    assert_body("a" "\0" "b", "nul",
                "{\"success\":false,\"error\":\"a\\u0000b\","
                "\"code\":\"nul\"}");
}


static void
error_body_escapes_del_as_u007f(void **state)
{
    (void) state;

    /* json.loads */
    assert_body("a\x7f" "b", "del",
                "{\"success\":false,\"error\":\"a\\u007fb\","
                "\"code\":\"del\"}");
}


static void
error_body_passes_utf8_through(void **state)
{
    (void) state;

    /*
     * json.dumps, with ensure_ascii=False, of "caf\u00e9 \u2014 \U0001f600"
     * (an e acute, an em dash and an emoji): the UTF-8 is written as hex
     * escapes to keep this file ASCII
     */
    assert_body("caf\xc3\xa9 \xe2\x80\x94 \xf0\x9f\x98\x80", "utf8",
                "{\"success\":false,\"error\":"
                "\"caf\xc3\xa9 \xe2\x80\x94 \xf0\x9f\x98\x80\","
                "\"code\":\"utf8\"}");

    /* bytes >= 0x80 pass through one by one, valid UTF-8 or not */
    assert_body("\x80\xff", "raw",
                "{\"success\":false,\"error\":\"\x80\xff\","
                "\"code\":\"raw\"}");
}


static void
error_body_escapes_code_too(void **state)
{
    (void) state;

    /* json.dumps */
    assert_body("x", "a\"b\\c\nd",
                "{\"success\":false,\"error\":\"x\","
                "\"code\":\"a\\\"b\\\\c\\nd\"}");
}


static void
error_body_keeps_message_inside_its_string(void **state)
{
    (void) state;

    /* json.dumps: an attempt to close the string and add a member */
    assert_body("</script>\"}]{\\", "x",
                "{\"success\":false,\"error\":\"</script>\\\"}]{\\\\\","
                "\"code\":\"x\"}");

    /* json.dumps */
    assert_body("\",\"success\":true,\"x\":\"", "inject",
                "{\"success\":false,\"error\":"
                "\"\\\",\\\"success\\\":true,\\\"x\\\":\\\"\","
                "\"code\":\"inject\"}");
}


static void
error_body_escapes_every_byte_json_forbids_raw(void **state)
{
    size_t         len;
    unsigned int   c;
    unsigned char  msg[1], buf[64], *end;
    char           want[64];

    (void) state;

    /* RFC 8259: '"', '\\' and U+0000..U+001F must be escaped; DEL is too */

    for (c = 0; c < 256; c++) {
        msg[0] = (unsigned char) c;

        switch (c) {
        case '"':
            strcpy(want, "\\\"");
            break;
        case '\\':
            strcpy(want, "\\\\");
            break;
        case '\n':
            strcpy(want, "\\n");
            break;
        case '\r':
            strcpy(want, "\\r");
            break;
        case '\t':
            strcpy(want, "\\t");
            break;
        default:
            if (c < 0x20 || c == 0x7f) {
                sprintf(want, "\\u%04x", c);

            } else {
                want[0] = (char) c;
                want[1] = '\0';
            }
        }

        len = v3xy_json_error_len(msg, 1, (const unsigned char *) "c", 1);
        assert_true(len <= sizeof(buf));

        end = v3xy_json_error(buf, msg, 1, (const unsigned char *) "c", 1);
        assert_int_equal(end - buf, len);

        assert_memory_equal(buf, "{\"success\":false,\"error\":\"", 26);
        assert_memory_equal(buf + 26, want, strlen(want));
        assert_int_equal(len, 26 + strlen(want) + 13);
        assert_memory_equal(buf + 26 + strlen(want),
                            "\",\"code\":\"c\"}", 13);
    }
}


/* lengths */

static void
escaped_len_counts_each_escape(void **state)
{
    (void) state;

#define escaped_len_lit(s)                                                   \
    v3xy_json_escaped_len((const unsigned char *) (s), V3XY_LIT_LEN(s))

    assert_int_equal(escaped_len_lit(""), 0);
    assert_int_equal(escaped_len_lit("abc"), 3);
    assert_int_equal(escaped_len_lit("\""), 2);
    assert_int_equal(escaped_len_lit("\\"), 2);
    assert_int_equal(escaped_len_lit("\n\r\t"), 6);
    assert_int_equal(escaped_len_lit("\x01"), 6);
    assert_int_equal(escaped_len_lit("\0"), 6);
    assert_int_equal(escaped_len_lit("\x1f"), 6);
    assert_int_equal(escaped_len_lit("\x7f"), 6);
    assert_int_equal(escaped_len_lit(" "), 1);
    assert_int_equal(escaped_len_lit("\x80\xff"), 2);

#undef escaped_len_lit
}


static void
error_len_equals_bytes_written(void **state)
{
    size_t  i;

    static const struct {
        const char  *msg;
        size_t       len;
    } msgs[] = {
        { "", 0 },
        { "invalid developer key", 21 },
        { "say \"hi\"", 8 },
        { "C:\\dir\\file", 11 },
        { "line1\nline2\r\n\tend", 17 },
        { "a\x01" "b\x1f" "c\x7f", 6 },
        { "\0\0\0", 3 },
        { "caf\xc3\xa9 \xe2\x80\x94", 9 },
        { "\"\\\n\r\t\x01\x7f\x80", 8 }
    };

    (void) state;

    for (i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
        assert_len_is_written((const unsigned char *) msgs[i].msg,
                              msgs[i].len, "code");
        assert_len_is_written((const unsigned char *) msgs[i].msg,
                              msgs[i].len, "a\"b\\c\x01");
    }

    /* the fixed parts: 26 + 10 + 2 bytes around message and code */
    assert_int_equal(v3xy_json_error_len((const unsigned char *) "", 0,
                                         (const unsigned char *) "", 0),
                     38);
}


static void
error_len_of_10k_quotes_equals_bytes_written(void **state)
{
    unsigned char  *msg;

    (void) state;

    msg = malloc(10240);
    assert_non_null(msg);
    memset(msg, '"', 10240);

    /* every quote doubles: 26 + 2 * 10240 + 10 + 4 + 2 */
    assert_int_equal(v3xy_json_error_len(msg, 10240,
                                         (const unsigned char *) "code", 4),
                     20522);
    assert_len_is_written(msg, 10240, "code");

    free(msg);
}


static void
error_len_of_10k_control_bytes_equals_bytes_written(void **state)
{
    unsigned char  *msg;

    (void) state;

    msg = malloc(10240);
    assert_non_null(msg);
    memset(msg, 0x01, 10240);

    /* the worst case, six bytes each: 26 + 6 * 10240 + 10 + 4 + 2 */
    assert_int_equal(v3xy_json_error_len(msg, 10240,
                                         (const unsigned char *) "code", 4),
                     61482);
    assert_len_is_written(msg, 10240, "code");

    free(msg);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(error_body_of_plain_message),
        cmocka_unit_test(error_body_of_empty_message),
        cmocka_unit_test(error_body_escapes_quote),
        cmocka_unit_test(error_body_escapes_backslash),
        cmocka_unit_test(error_body_escapes_newline_cr_and_tab),
        cmocka_unit_test(error_body_escapes_control_bytes_as_u00xx),
        cmocka_unit_test(error_body_escapes_del_as_u007f),
        cmocka_unit_test(error_body_passes_utf8_through),
        cmocka_unit_test(error_body_escapes_code_too),
        cmocka_unit_test(error_body_keeps_message_inside_its_string),
        cmocka_unit_test(error_body_escapes_every_byte_json_forbids_raw),
        cmocka_unit_test(escaped_len_counts_each_escape),
        cmocka_unit_test(error_len_equals_bytes_written),
        cmocka_unit_test(error_len_of_10k_quotes_equals_bytes_written),
        cmocka_unit_test(error_len_of_10k_control_bytes_equals_bytes_written)
    };

    return cmocka_run_group_tests_name("v3xy_json", tests, NULL, NULL);
}
