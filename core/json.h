/* SPDX-License-Identifier: MIT */
/*
 * JSON (RFC 8259) for the control socket: a parser into a tree, and a
 * bounded output buffer with the writers the replies need.
 *
 * The parser takes one complete text, which its caller has already bounded
 * in size; a text of n bytes makes at most n nodes, and at most
 * JSON_MAX_DEPTH nested arrays and objects are allowed, so the recursion is
 * bounded too. Strings are UTF-8 with the escapes decoded; a string with
 * an escaped NUL (\u0000), invalid UTF-8 or a lone surrogate is refused, so
 * every string is also a C string. Numbers keep their text's value as a
 * double, and as an int64 when the text is an integer that fits one.
 * Duplicate keys in an object are refused.
 */
#ifndef EMBER_JSON_H
#define EMBER_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_DEPTH 32

enum json_type {
	JSON_NULL,
	JSON_BOOL,
	JSON_NUMBER,
	JSON_STRING,
	JSON_ARRAY,
	JSON_OBJECT,
};

struct json;

struct json_member {
	char *key;
	struct json *value;
};

struct json {
	enum json_type type;
	union {
		bool b;
		struct {
			double d;
			int64_t i;
			bool is_int; /* an integer's text, in int64's range: i holds it */
		} num;
		struct {
			char *s; /* NUL-terminated, no NUL inside */
			size_t len;
		} str;
		struct {
			struct json **v;
			size_t n;
		} arr;
		struct {
			struct json_member *m;
			size_t n;
		} obj;
	};
};

/*
 * Parses `len` bytes of `text` (one value, with white space around it at
 * most) into *out. 0; -EINVAL for text that is not JSON, with what is wrong
 * in `err` (errlen bytes, NUL-terminated); -E2BIG for nesting deeper than
 * JSON_MAX_DEPTH; -ENOMEM.
 */
int json_parse(const char *text, size_t len, struct json **out, char *err, size_t errlen);
void json_free(struct json *j);

/* The member `key` of an object, or NULL (also when `j` is not an object). */
const struct json *json_get(const struct json *j, const char *key);
/* The string of a JSON_STRING, or NULL. */
const char *json_string(const struct json *j);

/*
 * An output buffer that holds at most `max` bytes: an append that would
 * pass it appends nothing and marks the buffer full, which the caller
 * checks once at the end (jbuf_full()).
 */
struct jbuf {
	char *p;
	size_t len, cap, max;
	bool full;
};

void jbuf_init(struct jbuf *b, size_t max);
void jbuf_fini(struct jbuf *b);
bool jbuf_full(const struct jbuf *b);
/* Drops the first n bytes (what a socket took). */
void jbuf_consume(struct jbuf *b, size_t n);
void jbuf_add(struct jbuf *b, const void *data, size_t len);
__attribute__((format(printf, 2, 3))) void jbuf_printf(struct jbuf *b, const char *fmt, ...);
/* A JSON string: quotes and escapes added; `len` bytes of `s`. */
void jbuf_string(struct jbuf *b, const char *s, size_t len);
/* A value already parsed, written back compactly. */
void jbuf_json(struct jbuf *b, const struct json *j);

#endif
