// SPDX-License-Identifier: MIT
#include "config.h"

#include "json.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- parsing ----------------------------------------------------------------------- */

struct parser {
	const char *p, *end;
	unsigned int depth;
	int ret; /* the first failure; 0 while all is well */
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 3, 4))) static void fail(struct parser *ps, int ret, const char *fmt,
						       ...)
{
	va_list ap;

	if (ps->ret)
		return;
	ps->ret = ret;
	if (!ps->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(ps->err, ps->errlen, fmt, ap);
	va_end(ap);
}

static void skip_ws(struct parser *ps)
{
	while (ps->p < ps->end &&
	       (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

static struct json *node(struct parser *ps, enum json_type type)
{
	struct json *j = calloc(1, sizeof(*j));

	if (!j)
		fail(ps, -ENOMEM, "out of memory");
	else
		j->type = type;
	return j;
}

/* A growing byte buffer for a string being decoded. */
struct sbuf {
	char *s;
	size_t len, cap;
};

static bool sbuf_add(struct parser *ps, struct sbuf *b, const char *data, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 16;
		char *s;

		while (cap < b->len + n + 1)
			cap *= 2;
		s = realloc(b->s, cap);
		if (!s) {
			fail(ps, -ENOMEM, "out of memory");
			return false;
		}
		b->s = s;
		b->cap = cap;
	}
	memcpy(b->s + b->len, data, n);
	b->len += n;
	b->s[b->len] = '\0';
	return true;
}

/* Encodes code point `c` (not a surrogate, at most U+10FFFF) as UTF-8 into out; the length. */
static size_t utf8_put(uint32_t c, char out[4])
{
	if (c < 0x80) {
		out[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		out[0] = (char)(0xc0 | (c >> 6));
		out[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		out[0] = (char)(0xe0 | (c >> 12));
		out[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		out[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (c >> 18));
	out[1] = (char)(0x80 | ((c >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((c >> 6) & 0x3f));
	out[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}

/*
 * The length of the well-formed UTF-8 sequence at p (before end), or 0:
 * no overlong forms, no surrogates, nothing above U+10FFFF (RFC 3629).
 */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
	size_t n, left = (size_t)(end - p);
	uint32_t c, min;

	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xe0) == 0xc0) {
		n = 2;
		c = p[0] & 0x1f;
		min = 0x80;
	} else if ((p[0] & 0xf0) == 0xe0) {
		n = 3;
		c = p[0] & 0x0f;
		min = 0x800;
	} else if ((p[0] & 0xf8) == 0xf0) {
		n = 4;
		c = p[0] & 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	if (left < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (p[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	return n;
}

static int hex4(const char *p)
{
	int v = 0;

	for (int i = 0; i < 4; i++) {
		char c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

/* A \uXXXX escape at ps->p (after the backslash and 'u'), with its pair when a surrogate. */
static bool unicode_escape(struct parser *ps, struct sbuf *b)
{
	char out[4];
	int hi, lo;
	uint32_t c;

	if (ps->end - ps->p < 4 || (hi = hex4(ps->p)) < 0) {
		fail(ps, -EINVAL, "a bad \\u escape");
		return false;
	}
	ps->p += 4;
	c = (uint32_t)hi;
	if (hi >= 0xdc00 && hi <= 0xdfff) {
		fail(ps, -EINVAL, "a lone low surrogate");
		return false;
	}
	if (hi >= 0xd800 && hi <= 0xdbff) {
		if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u' ||
		    (lo = hex4(ps->p + 2)) < 0 || lo < 0xdc00 || lo > 0xdfff) {
			fail(ps, -EINVAL, "a lone high surrogate");
			return false;
		}
		ps->p += 6;
		c = 0x10000 + (((uint32_t)hi - 0xd800) << 10) + ((uint32_t)lo - 0xdc00);
	}
	if (c == 0) {
		fail(ps, -EINVAL, "a NUL in a string");
		return false;
	}
	return sbuf_add(ps, b, out, utf8_put(c, out));
}

/* The string at ps->p (its opening quote) into *out, allocated; false on failure. */
static bool parse_string(struct parser *ps, char **out, size_t *out_len)
{
	struct sbuf b = { 0 };

	ps->p++; /* the quote */
	if (!sbuf_add(ps, &b, "", 0))
		return false;
	for (;;) {
		const char *run = ps->p;
		unsigned char c;
		size_t n;

		/* A run of plain characters, checked and copied at once. */
		while (ps->p < ps->end && (unsigned char)*ps->p >= 0x20 && *ps->p != '"' &&
		       *ps->p != '\\') {
			n = utf8_len((const unsigned char *)ps->p, (const unsigned char *)ps->end);
			if (!n) {
				fail(ps, -EINVAL, "invalid UTF-8 in a string");
				goto bad;
			}
			ps->p += n;
		}
		if (ps->p > run && !sbuf_add(ps, &b, run, (size_t)(ps->p - run)))
			goto bad;
		if (ps->p >= ps->end) {
			fail(ps, -EINVAL, "a string without its closing quote");
			goto bad;
		}
		c = (unsigned char)*ps->p++;
		if (c == '"')
			break;
		if (c < 0x20) {
			fail(ps, -EINVAL, "a control character in a string");
			goto bad;
		}
		/* A backslash. */
		if (ps->p >= ps->end) {
			fail(ps, -EINVAL, "a string without its closing quote");
			goto bad;
		}
		c = (unsigned char)*ps->p++;
		switch (c) {
		case '"':
		case '\\':
		case '/':
			if (!sbuf_add(ps, &b, (const char *)&c, 1))
				goto bad;
			break;
		case 'b':
			if (!sbuf_add(ps, &b, "\b", 1))
				goto bad;
			break;
		case 'f':
			if (!sbuf_add(ps, &b, "\f", 1))
				goto bad;
			break;
		case 'n':
			if (!sbuf_add(ps, &b, "\n", 1))
				goto bad;
			break;
		case 'r':
			if (!sbuf_add(ps, &b, "\r", 1))
				goto bad;
			break;
		case 't':
			if (!sbuf_add(ps, &b, "\t", 1))
				goto bad;
			break;
		case 'u':
			if (!unicode_escape(ps, &b))
				goto bad;
			break;
		default:
			fail(ps, -EINVAL, "a bad escape in a string");
			goto bad;
		}
	}
	*out = b.s;
	*out_len = b.len;
	return true;
bad:
	free(b.s);
	return false;
}

static bool is_digit(const struct parser *ps)
{
	return ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9';
}

static struct json *parse_number(struct parser *ps)
{
	const char *start = ps->p;
	bool integer = true;
	struct json *j;
	char *copy, *endp;
	size_t len;

	if (*ps->p == '-')
		ps->p++;
	if (!is_digit(ps)) {
		fail(ps, -EINVAL, "a number without digits");
		return NULL;
	}
	if (*ps->p == '0')
		ps->p++;
	else
		while (is_digit(ps))
			ps->p++;
	if (ps->p < ps->end && *ps->p == '.') {
		integer = false;
		ps->p++;
		if (!is_digit(ps)) {
			fail(ps, -EINVAL, "a number without digits after its point");
			return NULL;
		}
		while (is_digit(ps))
			ps->p++;
	}
	if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
		integer = false;
		ps->p++;
		if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
			ps->p++;
		if (!is_digit(ps)) {
			fail(ps, -EINVAL, "a number without digits in its exponent");
			return NULL;
		}
		while (is_digit(ps))
			ps->p++;
	}
	/* strtod and strtoll want a C string: the text is not one. */
	len = (size_t)(ps->p - start);
	copy = malloc(len + 1);
	j = copy ? node(ps, JSON_NUMBER) : NULL;
	if (!j) {
		free(copy);
		fail(ps, -ENOMEM, "out of memory");
		return NULL;
	}
	memcpy(copy, start, len);
	copy[len] = '\0';
	j->num.d = strtod(copy, &endp);
	if (!isfinite(j->num.d)) {
		fail(ps, -EINVAL, "a number out of range");
		free(copy);
		free(j);
		return NULL;
	}
	if (integer) {
		errno = 0;
		j->num.i = strtoll(copy, &endp, 10);
		j->num.is_int = errno == 0 && *endp == '\0';
		if (!j->num.is_int)
			j->num.i = 0;
	}
	free(copy);
	return j;
}

static bool literal(struct parser *ps, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0) {
		fail(ps, -EINVAL, "an unknown word");
		return false;
	}
	ps->p += n;
	return true;
}

static struct json *parse_value(struct parser *ps);

/* Appends v to a growing pointer array (*items, *n of *cap). */
static bool grow(struct parser *ps, void **items, size_t size, size_t n, size_t *cap)
{
	void *p;

	if (n < *cap)
		return true;
	p = realloc(*items, (*cap ? *cap * 2 : 4) * size);
	if (!p) {
		fail(ps, -ENOMEM, "out of memory");
		return false;
	}
	*items = p;
	*cap = *cap ? *cap * 2 : 4;
	return true;
}

static struct json *parse_array(struct parser *ps, struct json *j)
{
	size_t cap = 0;

	ps->p++;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == ']') {
		ps->p++;
		return j;
	}
	for (;;) {
		struct json *v = parse_value(ps);

		if (!v)
			return j;
		if (!grow(ps, (void **)&j->arr.v, sizeof(*j->arr.v), j->arr.n, &cap)) {
			json_free(v);
			return j;
		}
		j->arr.v[j->arr.n++] = v;
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			continue;
		}
		if (ps->p < ps->end && *ps->p == ']') {
			ps->p++;
			return j;
		}
		fail(ps, -EINVAL, "an array without ',' or ']' after a value");
		return j;
	}
}

static int cmp_member(const void *a, const void *b)
{
	const struct json_member *x = *(const struct json_member *const *)a;
	const struct json_member *y = *(const struct json_member *const *)b;

	return strcmp(x->key, y->key);
}

/* Whether two members share a key: sorted pointers, so in O(n log n). */
static bool duplicate_keys(struct parser *ps, const struct json *j)
{
	const struct json_member **m;
	bool dup = false;

	if (j->obj.n < 2)
		return false;
	m = malloc(j->obj.n * sizeof(*m));
	if (!m) {
		fail(ps, -ENOMEM, "out of memory");
		return true;
	}
	for (size_t i = 0; i < j->obj.n; i++)
		m[i] = &j->obj.m[i];
	qsort(m, j->obj.n, sizeof(*m), cmp_member);
	for (size_t i = 1; i < j->obj.n && !dup; i++)
		dup = strcmp(m[i - 1]->key, m[i]->key) == 0;
	free(m);
	if (dup)
		fail(ps, -EINVAL, "a key twice in an object");
	return dup;
}

static struct json *parse_object(struct parser *ps, struct json *j)
{
	size_t cap = 0;

	ps->p++;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == '}') {
		ps->p++;
		return j;
	}
	for (;;) {
		struct json_member *m;
		size_t len;
		char *key;

		skip_ws(ps);
		if (ps->p >= ps->end || *ps->p != '"') {
			fail(ps, -EINVAL, "an object key that is not a string");
			return j;
		}
		if (!parse_string(ps, &key, &len))
			return j;
		if (!grow(ps, (void **)&j->obj.m, sizeof(*j->obj.m), j->obj.n, &cap)) {
			free(key);
			return j;
		}
		m = &j->obj.m[j->obj.n++];
		m->key = key;
		m->value = NULL;
		skip_ws(ps);
		if (ps->p >= ps->end || *ps->p != ':') {
			fail(ps, -EINVAL, "an object key without ':'");
			return j;
		}
		ps->p++;
		m->value = parse_value(ps);
		if (!m->value)
			return j;
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			continue;
		}
		if (ps->p < ps->end && *ps->p == '}') {
			ps->p++;
			duplicate_keys(ps, j);
			return j;
		}
		fail(ps, -EINVAL, "an object without ',' or '}' after a value");
		return j;
	}
}

/* A value, or NULL with ps->ret set. A container comes back even when it failed part-way. */
static struct json *parse_value(struct parser *ps)
{
	struct json *j = NULL;

	skip_ws(ps);
	if (ps->p >= ps->end) {
		fail(ps, -EINVAL, "the text ends where a value should be");
		return NULL;
	}
	switch (*ps->p) {
	case '{':
	case '[':
		if (ps->depth >= JSON_MAX_DEPTH) {
			fail(ps, -E2BIG, "nested deeper than %d", JSON_MAX_DEPTH);
			return NULL;
		}
		j = node(ps, *ps->p == '{' ? JSON_OBJECT : JSON_ARRAY);
		if (!j)
			return NULL;
		ps->depth++;
		j = j->type == JSON_OBJECT ? parse_object(ps, j) : parse_array(ps, j);
		ps->depth--;
		break;
	case '"':
		j = node(ps, JSON_STRING);
		if (j && !parse_string(ps, &j->str.s, &j->str.len)) {
			free(j);
			return NULL;
		}
		break;
	case 't':
	case 'f': {
		bool t = *ps->p == 't';

		j = literal(ps, t ? "true" : "false") ? node(ps, JSON_BOOL) : NULL;
		if (j)
			j->b = t;
		break;
	}
	case 'n':
		j = literal(ps, "null") ? node(ps, JSON_NULL) : NULL;
		break;
	default:
		if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9'))
			return parse_number(ps);
		fail(ps, -EINVAL, "an unexpected character");
		return NULL;
	}
	if (j && ps->ret) {
		json_free(j);
		return NULL;
	}
	return j;
}

int json_parse(const char *text, size_t len, struct json **out, char *err, size_t errlen)
{
	struct parser ps = { .p = text, .end = text + len, .err = err, .errlen = errlen };
	struct json *j;

	*out = NULL;
	if (errlen)
		err[0] = '\0';
	j = parse_value(&ps);
	if (j) {
		skip_ws(&ps);
		if (ps.p != ps.end)
			fail(&ps, -EINVAL, "more after the value");
	}
	if (ps.ret) {
		json_free(j);
		return ps.ret;
	}
	*out = j;
	return 0;
}

void json_free(struct json *j)
{
	if (!j)
		return;
	switch (j->type) {
	case JSON_STRING:
		free(j->str.s);
		break;
	case JSON_ARRAY:
		for (size_t i = 0; i < j->arr.n; i++)
			json_free(j->arr.v[i]);
		free(j->arr.v);
		break;
	case JSON_OBJECT:
		for (size_t i = 0; i < j->obj.n; i++) {
			free(j->obj.m[i].key);
			json_free(j->obj.m[i].value);
		}
		free(j->obj.m);
		break;
	default:
		break;
	}
	free(j);
}

const struct json *json_get(const struct json *j, const char *key)
{
	if (!j || j->type != JSON_OBJECT)
		return NULL;
	for (size_t i = 0; i < j->obj.n; i++)
		if (strcmp(j->obj.m[i].key, key) == 0)
			return j->obj.m[i].value;
	return NULL;
}

const char *json_string(const struct json *j)
{
	return j && j->type == JSON_STRING ? j->str.s : NULL;
}

/* --- output ------------------------------------------------------------------------ */

void jbuf_init(struct jbuf *b, size_t max)
{
	*b = (struct jbuf){ .max = max };
}

void jbuf_fini(struct jbuf *b)
{
	free(b->p);
	*b = (struct jbuf){ 0 };
}

bool jbuf_full(const struct jbuf *b)
{
	return b->full;
}

void jbuf_consume(struct jbuf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
}

void jbuf_add(struct jbuf *b, const void *data, size_t len)
{
	if (b->full || len > b->max - b->len) {
		b->full = true;
		return;
	}
	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *p;

		while (cap < b->len + len)
			cap *= 2;
		if (cap > b->max)
			cap = b->max;
		p = realloc(b->p, cap);
		if (!p) {
			b->full = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
}

void jbuf_printf(struct jbuf *b, const char *fmt, ...)
{
	char small[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->full = true;
		return;
	}
	if ((size_t)n < sizeof(small)) {
		jbuf_add(b, small, (size_t)n);
		return;
	}
	{
		char *big = malloc((size_t)n + 1);

		if (!big) {
			b->full = true;
			return;
		}
		va_start(ap, fmt);
		vsnprintf(big, (size_t)n + 1, fmt, ap);
		va_end(ap);
		jbuf_add(b, big, (size_t)n);
		free(big);
	}
}

void jbuf_string(struct jbuf *b, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;

	jbuf_add(b, "\"", 1);
	while (p < end) {
		const unsigned char *run = p;
		size_t n = 0;

		while (p < end && *p >= 0x20 && *p != '"' && *p != '\\' &&
		       (n = utf8_len(p, end)) != 0)
			p += n;
		jbuf_add(b, run, (size_t)(p - run));
		if (p >= end)
			break;
		switch (*p) {
		case '"':
			jbuf_add(b, "\\\"", 2);
			break;
		case '\\':
			jbuf_add(b, "\\\\", 2);
			break;
		case '\n':
			jbuf_add(b, "\\n", 2);
			break;
		case '\r':
			jbuf_add(b, "\\r", 2);
			break;
		case '\t':
			jbuf_add(b, "\\t", 2);
			break;
		default:
			if (*p < 0x20)
				jbuf_printf(b, "\\u%04x", *p);
			else /* a byte that is not UTF-8: the replacement character */
				jbuf_add(b, "\\ufffd", 6);
			break;
		}
		p++;
	}
	jbuf_add(b, "\"", 1);
}

void jbuf_json(struct jbuf *b, const struct json *j)
{
	switch (j->type) {
	case JSON_NULL:
		jbuf_add(b, "null", 4);
		break;
	case JSON_BOOL:
		if (j->b)
			jbuf_add(b, "true", 4);
		else
			jbuf_add(b, "false", 5);
		break;
	case JSON_NUMBER:
		if (j->num.is_int)
			jbuf_printf(b, "%lld", (long long)j->num.i);
		else
			jbuf_printf(b, "%.17g", j->num.d);
		break;
	case JSON_STRING:
		jbuf_string(b, j->str.s, j->str.len);
		break;
	case JSON_ARRAY:
		jbuf_add(b, "[", 1);
		for (size_t i = 0; i < j->arr.n; i++) {
			if (i)
				jbuf_add(b, ",", 1);
			jbuf_json(b, j->arr.v[i]);
		}
		jbuf_add(b, "]", 1);
		break;
	case JSON_OBJECT:
		jbuf_add(b, "{", 1);
		for (size_t i = 0; i < j->obj.n; i++) {
			if (i)
				jbuf_add(b, ",", 1);
			jbuf_string(b, j->obj.m[i].key, strlen(j->obj.m[i].key));
			jbuf_add(b, ":", 1);
			jbuf_json(b, j->obj.m[i].value);
		}
		jbuf_add(b, "}", 1);
		break;
	}
}
