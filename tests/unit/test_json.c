// SPDX-License-Identifier: MIT
/* JSON: what the parser takes and refuses, the tree it builds, and the writers. */
#include "config.h"

#include "core/json.h"
#include "unit.h"

#include <errno.h>
#include <string.h>

static struct json *parse_ok(const char *text)
{
	char err[128];
	struct json *j;
	int ret = json_parse(text, strlen(text), &j, err, sizeof(err));

	ck_assert_msg(ret == 0, "'%s': %d (%s)", text, ret, err);
	ck_assert_ptr_nonnull(j);
	return j;
}

static int parse_bad(const char *text, size_t len)
{
	char err[128];
	struct json *j = (struct json *)1;
	int ret = json_parse(text, len, &j, err, sizeof(err));

	ck_assert_msg(ret < 0, "'%.*s' was taken", (int)len, text);
	ck_assert_ptr_null(j);
	ck_assert_msg(err[0] != '\0', "no reason given for '%.*s'", (int)len, text);
	return ret;
}

/* The compact form the writer gives j. */
static void written_as(const struct json *j, const char *want)
{
	struct jbuf b;

	jbuf_init(&b, 1 << 16);
	jbuf_json(&b, j);
	ck_assert(!jbuf_full(&b));
	ck_assert_uint_eq(b.len, strlen(want));
	ck_assert_msg(memcmp(b.p, want, b.len) == 0, "wrote '%.*s', not '%s'", (int)b.len, b.p,
		      want);
	jbuf_fini(&b);
}

START_TEST(a_qmp_command)
{
	struct json *j = parse_ok(" {\"execute\": \"query-status\", \"arguments\": {}, "
				  "\"id\": [1, \"two\", null, true, false, -2.5e1]}\r\n");
	const struct json *id;

	ck_assert_int_eq(j->type, JSON_OBJECT);
	ck_assert_uint_eq(j->obj.n, 3);
	ck_assert_str_eq(json_string(json_get(j, "execute")), "query-status");
	ck_assert_int_eq(json_get(j, "arguments")->type, JSON_OBJECT);
	ck_assert_uint_eq(json_get(j, "arguments")->obj.n, 0);
	ck_assert_ptr_null(json_get(j, "missing"));
	ck_assert_ptr_null(json_string(json_get(j, "arguments")));
	id = json_get(j, "id");
	ck_assert_int_eq(id->type, JSON_ARRAY);
	ck_assert_uint_eq(id->arr.n, 6);
	ck_assert(id->arr.v[0]->num.is_int);
	ck_assert_int_eq(id->arr.v[0]->num.i, 1);
	ck_assert_int_eq(id->arr.v[2]->type, JSON_NULL);
	ck_assert(id->arr.v[3]->b);
	ck_assert(!id->arr.v[4]->b);
	ck_assert(!id->arr.v[5]->num.is_int);
	ck_assert(id->arr.v[5]->num.d == -25.0);
	written_as(id, "[1,\"two\",null,true,false,-25]");
	json_free(j);
}
END_TEST

START_TEST(numbers)
{
	struct json *j = parse_ok("[0, -0, 9223372036854775807, -9223372036854775808, "
				  "9223372036854775808, 1.5, 1e3, 0.25E-2]");

	ck_assert(j->arr.v[0]->num.is_int && j->arr.v[0]->num.i == 0);
	ck_assert(j->arr.v[2]->num.is_int && j->arr.v[2]->num.i == INT64_MAX);
	ck_assert(j->arr.v[3]->num.is_int && j->arr.v[3]->num.i == INT64_MIN);
	/* Past int64: a double only. */
	ck_assert(!j->arr.v[4]->num.is_int && j->arr.v[4]->num.d == 9223372036854775808.0);
	ck_assert(!j->arr.v[6]->num.is_int && j->arr.v[6]->num.d == 1000.0);
	ck_assert(j->arr.v[7]->num.d == 0.0025);
	json_free(j);
	parse_bad("01", 2);
	parse_bad("-", 1);
	parse_bad("1.", 2);
	parse_bad(".5", 2);
	parse_bad("1e", 2);
	parse_bad("+1", 2);
	parse_bad("0x10", 4);
	parse_bad("1e999", 5); /* no infinity to write back */
	parse_bad("NaN", 3);
}
END_TEST

START_TEST(strings_and_escapes)
{
	struct json *j = parse_ok("\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u00e9\\u20AC\\ud83d\\ude00\"");

	ck_assert_str_eq(j->str.s, "a\"b\\c/d\b\f\n\r\t\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
	ck_assert_uint_eq(j->str.len, strlen(j->str.s));
	written_as(j,
		   "\"a\\\"b\\\\c/d\\u0008\\u000c\\n\\r\\t\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
	json_free(j);
	/* UTF-8 as it comes, when well formed. */
	j = parse_ok("\"\xc3\xa9\xf0\x9f\x98\x80\"");
	ck_assert_str_eq(j->str.s, "\xc3\xa9\xf0\x9f\x98\x80");
	json_free(j);

	parse_bad("\"abc", 4);
	parse_bad("\"a\\x\"", 5);
	parse_bad("\"\\u12\"", 6);
	parse_bad("\"\\u0000\"", 8);	      /* no NUL inside a C string */
	parse_bad("\"\\ud83d\"", 8);	      /* a high surrogate alone */
	parse_bad("\"\\ude00\"", 8);	      /* a low one */
	parse_bad("\"\\ud83d\\u0041\"", 14);  /* a high one with no low one after */
	parse_bad("\"a\nb\"", 5);	      /* a raw control character */
	parse_bad("\"\xc3\"", 3);	      /* a cut sequence */
	parse_bad("\"\xc0\xaf\"", 4);	      /* overlong */
	parse_bad("\"\xed\xa0\x80\"", 5);     /* an encoded surrogate */
	parse_bad("\"\xf4\x90\x80\x80\"", 6); /* above U+10FFFF */
	parse_bad("\"\xff\"", 3);
	parse_bad("\"a\0b\"", 5);
}
END_TEST

START_TEST(structure_refused)
{
	static const char *const bad[] = {
		"",
		" ",
		"{",
		"}",
		"[1,]",
		"[1 2]",
		"{\"a\"}",
		"{\"a\":}",
		"{\"a\":1,}",
		"{a:1}",
		"{1:1}",
		"{\"a\":1 \"b\":2}",
		"[1]]",
		"{} {}",
		"tru",
		"nul",
		"falsey",
		"'a'",
		"{\"a\":1,\"a\":2}",
	};

	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_int_eq(parse_bad(bad[i], strlen(bad[i])), -EINVAL);
}
END_TEST

START_TEST(depth_is_bounded)
{
	char text[2 * (JSON_MAX_DEPTH + 1) + 1];
	struct json *j;

	/* JSON_MAX_DEPTH arrays nested: taken. */
	memset(text, '[', JSON_MAX_DEPTH);
	memset(text + JSON_MAX_DEPTH, ']', JSON_MAX_DEPTH);
	text[2 * JSON_MAX_DEPTH] = '\0';
	j = parse_ok(text);
	written_as(j, text);
	json_free(j);
	/* One more: refused. */
	memset(text, '[', JSON_MAX_DEPTH + 1);
	memset(text + JSON_MAX_DEPTH + 1, ']', JSON_MAX_DEPTH + 1);
	ck_assert_int_eq(parse_bad(text, 2 * (JSON_MAX_DEPTH + 1)), -E2BIG);
}
END_TEST

START_TEST(many_keys_one_twice)
{
	char text[8192];
	size_t n = 0;
	struct json *j;

	n += (size_t)snprintf(text + n, sizeof(text) - n, "{");
	for (int i = 0; i < 500; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%s\"k%d\":%d", i ? "," : "", i,
				      i);
	snprintf(text + n, sizeof(text) - n, "}");
	j = parse_ok(text);
	ck_assert_uint_eq(j->obj.n, 500);
	ck_assert_int_eq(json_get(j, "k499")->num.i, 499);
	json_free(j);
	/* The same with the last key again. */
	snprintf(text + n, sizeof(text) - n, ",\"k17\":0}");
	ck_assert_int_eq(parse_bad(text, strlen(text)), -EINVAL);
}
END_TEST

START_TEST(writer_escapes_what_it_must)
{
	struct jbuf b;
	const char raw[] = "q\"b\\n\n\x01\x1f\xff\xc3\xa9";

	jbuf_init(&b, 256);
	jbuf_string(&b, raw, sizeof(raw) - 1);
	/* Control characters escaped; a byte that is not UTF-8 replaced; UTF-8 kept. */
	ck_assert_uint_eq(b.len, strlen("\"q\\\"b\\\\n\\n\\u0001\\u001f\\ufffd\xc3\xa9\""));
	ck_assert(memcmp(b.p, "\"q\\\"b\\\\n\\n\\u0001\\u001f\\ufffd\xc3\xa9\"", b.len) == 0);
	jbuf_fini(&b);
}
END_TEST

START_TEST(jbuf_bounded)
{
	struct jbuf b;

	jbuf_init(&b, 10);
	jbuf_add(&b, "12345", 5);
	jbuf_printf(&b, "%d", 6789);
	ck_assert(!jbuf_full(&b));
	ck_assert_uint_eq(b.len, 9);
	/* Two more bytes do not fit: nothing of them is added. */
	jbuf_add(&b, "ab", 2);
	ck_assert(jbuf_full(&b));
	ck_assert_uint_eq(b.len, 9);
	jbuf_consume(&b, 4);
	ck_assert_uint_eq(b.len, 5);
	ck_assert(memcmp(b.p, "56789", 5) == 0);
	jbuf_consume(&b, 100);
	ck_assert_uint_eq(b.len, 0);
	jbuf_fini(&b);
	/* A long printf goes through whole, or not at all. */
	jbuf_init(&b, 1000);
	jbuf_printf(&b, "%0300d", 7);
	ck_assert_uint_eq(b.len, 300);
	jbuf_printf(&b, "%0800d", 7);
	ck_assert(jbuf_full(&b));
	ck_assert_uint_eq(b.len, 300);
	jbuf_fini(&b);
}
END_TEST

static Suite *json_suite(void)
{
	Suite *s = suite_create("json");
	TCase *tc = tcase_create("json");

	tcase_add_test(tc, a_qmp_command);
	tcase_add_test(tc, numbers);
	tcase_add_test(tc, strings_and_escapes);
	tcase_add_test(tc, structure_refused);
	tcase_add_test(tc, depth_is_bounded);
	tcase_add_test(tc, many_keys_one_twice);
	tcase_add_test(tc, writer_escapes_what_it_must);
	tcase_add_test(tc, jbuf_bounded);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(json_suite());
}
