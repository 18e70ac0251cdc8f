// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests for the command-line value parsers. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <string.h>

#include "core/parse.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- parse_size ---- */

static void size_ok(const char *s, uint64_t want)
{
	uint64_t v = 0xdeadbeefULL;

	if (parse_size(s, &v) != 0)
		fail_msg("parse_size(\"%s\") failed", s);
	if (v != want)
		fail_msg("parse_size(\"%s\") = %llu, want %llu", s,
			 (unsigned long long)v, (unsigned long long)want);
}

static void size_bad(const char *s)
{
	uint64_t v = 0xdeadbeefULL;
	int ret = parse_size(s, &v);

	if (ret != -EINVAL)
		fail_msg("parse_size(\"%s\") = %d (value %llu), want -EINVAL",
			 s, ret, (unsigned long long)v);
}

static void test_size_plain(void **state)
{
	size_ok("0", 0);
	size_ok("1", 1);
	size_ok("4096", 4096);
	size_ok("007", 7);	/* decimal, not octal */
	size_ok("18446744073709551615", UINT64_MAX);
}

static void test_size_units(void **state)
{
	size_ok("64K", 64ULL << 10);
	size_ok("1M", 1ULL << 20);
	size_ok("1G", 1ULL << 30);
	size_ok("2T", 2ULL << 40);
	size_ok("3P", 3ULL << 50);
	size_ok("1E", 1ULL << 60);
	size_ok("0K", 0);
	size_ok("0E", 0);
	size_ok("100M", 100ULL << 20);
}

static void test_size_suffixes(void **state)
{
	size_ok("1GiB", 1ULL << 30);
	size_ok("1GB", 1ULL << 30);
	size_ok("4KiB", 4096);
	size_ok("512MiB", 512ULL << 20);
	/* lower case, binary all the same */
	size_ok("1kb", 1024);
	size_ok("1k", 1024);
	size_ok("64k", 65536);
	size_ok("1m", 1ULL << 20);
	size_ok("1gib", 1ULL << 30);
	size_ok("2t", 2ULL << 40);
}

static void test_size_largest(void **state)
{
	/* the largest value each unit can carry */
	size_ok("15E", 15ULL << 60);
	size_ok("16383P", 16383ULL << 50);
	size_ok("17179869183G", 17179869183ULL << 30);
	size_ok("17592186044415M", 17592186044415ULL << 20);
	size_ok("18014398509481983K", 18014398509481983ULL << 10);
}

static void test_size_reject(void **state)
{
	static const char *const bad[] = {
		"",
		"abc",
		"-1",
		"+1",
		" 1",
		"1 ",
		"1X",
		"1GG",
		"1Gi",
		"1Ki",
		"1iB",
		"1GiBx",
		"1GBB",
		"1.5G",
		"K",
		"G1",
		"0x10",
		"1 G",
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		size_bad(bad[i]);
	assert_int_equal(parse_size(NULL, &(uint64_t){ 0 }), -EINVAL);
}

static void test_size_overflow(void **state)
{
	size_bad("17179869184G");	/* 2^34 G = 2^64 */
	size_bad("16E");
	size_bad("16384P");
	size_bad("17592186044416M");
	size_bad("18014398509481984K");
	size_bad("18446744073709551616");	/* 2^64 */
	size_bad("99999999999999999999999999");
	size_bad("18446744073709551615K");
}

/* ---- parse_uint ---- */

static void uint_ok(const char *s, unsigned min, unsigned max, unsigned want)
{
	unsigned v = 0xdeadbeef;

	if (parse_uint(s, min, max, &v) != 0)
		fail_msg("parse_uint(\"%s\", %u, %u) failed", s, min, max);
	if (v != want)
		fail_msg("parse_uint(\"%s\") = %u, want %u", s, v, want);
}

static void uint_bad(const char *s, unsigned min, unsigned max)
{
	unsigned v = 0xdeadbeef;
	int ret = parse_uint(s, min, max, &v);

	if (ret != -EINVAL)
		fail_msg("parse_uint(\"%s\", %u, %u) = %d (value %u), "
			 "want -EINVAL",
			 s, min, max, ret, v);
}

static void test_uint_bounds(void **state)
{
	uint_ok("0", 0, 10, 0);
	uint_ok("10", 0, 10, 10);
	uint_ok("5", 5, 5, 5);
	uint_ok("1", 1, 65535, 1);
	uint_ok("65535", 1, 65535, 65535);
	uint_bad("11", 0, 10);
	uint_bad("0", 1, 10);
	uint_bad("4", 5, 5);
	uint_bad("6", 5, 5);
	uint_bad("0", 1, 65535);
	uint_bad("65536", 1, 65535);
}

static void test_uint_extremes(void **state)
{
	uint_ok("4294967295", 0, UINT_MAX, UINT_MAX);
	uint_ok("0", 0, UINT_MAX, 0);
	/* one past unsigned must not wrap to 0 */
	uint_bad("4294967296", 0, UINT_MAX);
	uint_bad("4294967297", 0, UINT_MAX);
	uint_bad("18446744073709551615", 0, UINT_MAX);
	uint_bad("18446744073709551616", 0, UINT_MAX);
	uint_bad("99999999999999999999999999", 0, UINT_MAX);
}

static void test_uint_reject(void **state)
{
	static const char *const bad[] = {
		"", "-1", "+1", " 1", "1 ", "1a", "a1", "0x10", "1.0", "1K",
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		uint_bad(bad[i], 0, UINT_MAX);
	assert_int_equal(parse_uint(NULL, 0, 10, &(unsigned){ 0 }), -EINVAL);
	uint_ok("007", 0, 10, 7);
}

/* ---- parse_listen ---- */

static void listen_bad(const char *s)
{
	struct listen_addr a;
	int ret = parse_listen(s, &a);

	if (ret != -EINVAL)
		fail_msg("parse_listen(\"%s\") = %d, want -EINVAL", s, ret);
}

static void test_listen_tcp_v4(void **state)
{
	struct listen_addr a;

	memset(&a, 0xa5, sizeof(a));
	assert_int_equal(parse_listen("tcp://127.0.0.1:10809", &a), 0);
	assert_int_equal(a.kind, LISTEN_TCP);
	assert_string_equal(a.host, "127.0.0.1");
	assert_string_equal(a.port, "10809");
	assert_string_equal(a.path, "");

	assert_int_equal(parse_listen("tcp://0.0.0.0:65535", &a), 0);
	assert_int_equal(a.kind, LISTEN_TCP);
	assert_string_equal(a.host, "0.0.0.0");
	assert_string_equal(a.port, "65535");
}

static void test_listen_tcp_v6(void **state)
{
	struct listen_addr a;

	memset(&a, 0xa5, sizeof(a));
	assert_int_equal(parse_listen("tcp://[::1]:10809", &a), 0);
	assert_int_equal(a.kind, LISTEN_TCP);
	assert_string_equal(a.host, "::1");
	assert_string_equal(a.port, "10809");
	assert_string_equal(a.path, "");

	assert_int_equal(parse_listen("tcp://[::]:1", &a), 0);
	assert_string_equal(a.host, "::");
	assert_string_equal(a.port, "1");

	assert_int_equal(parse_listen("tcp://[fe80::1%eth0]:80", &a), 0);
	assert_string_equal(a.host, "fe80::1%eth0");
	assert_string_equal(a.port, "80");
}

static void test_listen_tcp_name(void **state)
{
	struct listen_addr a;

	assert_int_equal(parse_listen("tcp://localhost:1", &a), 0);
	assert_int_equal(a.kind, LISTEN_TCP);
	assert_string_equal(a.host, "localhost");
	assert_string_equal(a.port, "1");

	assert_int_equal(parse_listen("tcp://nbd.example.org:10809", &a), 0);
	assert_string_equal(a.host, "nbd.example.org");
	assert_string_equal(a.port, "10809");
}

static void test_listen_tcp_long_host(void **state)
{
	char s[6 + 300 + 4];
	struct listen_addr a;

	/* 255 characters fill host[256] */
	memcpy(s, "tcp://", 6);
	memset(s + 6, 'h', 255);
	memcpy(s + 6 + 255, ":80", 4);
	assert_int_equal(parse_listen(s, &a), 0);
	assert_int_equal(strlen(a.host), 255);
	assert_string_equal(a.port, "80");

	/* 256 do not */
	memset(s + 6, 'h', 256);
	memcpy(s + 6 + 256, ":80", 4);
	listen_bad(s);
}

static void test_listen_unix(void **state)
{
	struct listen_addr a;

	memset(&a, 0xa5, sizeof(a));
	assert_int_equal(parse_listen("unix:/tmp/x.sock", &a), 0);
	assert_int_equal(a.kind, LISTEN_UNIX);
	assert_string_equal(a.path, "/tmp/x.sock");
	assert_string_equal(a.host, "");
	assert_string_equal(a.port, "");

	/* a relative path, and one with a colon, are just paths */
	assert_int_equal(parse_listen("unix:x", &a), 0);
	assert_int_equal(a.kind, LISTEN_UNIX);
	assert_string_equal(a.path, "x");
	assert_int_equal(parse_listen("unix:/run/a:b", &a), 0);
	assert_string_equal(a.path, "/run/a:b");
}

static void test_listen_unix_length(void **state)
{
	char s[5 + 200 + 1];
	struct listen_addr a;

	/* 107 bytes and the NUL fill sun_path exactly */
	memcpy(s, "unix:/", 6);
	memset(s + 6, 'p', 106);
	s[5 + 107] = '\0';
	assert_int_equal(parse_listen(s, &a), 0);
	assert_int_equal(a.kind, LISTEN_UNIX);
	assert_int_equal(strlen(a.path), 107);
	assert_memory_equal(a.path, s + 5, 108);

	/* 108 bytes leave no room for the NUL */
	memset(s + 6, 'p', 107);
	s[5 + 108] = '\0';
	listen_bad(s);

	memset(s + 6, 'p', 199);
	s[5 + 200] = '\0';
	listen_bad(s);
}

static void test_listen_reject(void **state)
{
	static const char *const bad[] = {
		"tcp://host",		/* no port */
		"tcp://host:",		/* empty port */
		"tcp://host:0",
		"tcp://host:65536",
		"tcp://host:99999999999",
		"tcp://host:-1",
		"tcp://host:+80",
		"tcp://host:80x",
		"tcp://host:x80",
		"tcp://host: 80",
		"tcp://:80",		/* no host */
		"tcp://",
		"tcp://[::1]10809",	/* no colon after ] */
		"tcp://[::1]",
		"tcp://[::1]:",
		"tcp://[::1]:0",
		"tcp://[::1]:65536",
		"tcp://[]:80",
		"tcp://[::1:80",	/* no closing bracket */
		"tcp://::1:80",		/* unbracketed v6 */
		"tcp://a:b:80",
		"http://x:1",
		"tcp:/x:1",
		"tcp:x:1",
		"x:1",
		"",
		"unix:",		/* empty path */
		"unix",
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		listen_bad(bad[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size_plain),
		cmocka_unit_test(test_size_units),
		cmocka_unit_test(test_size_suffixes),
		cmocka_unit_test(test_size_largest),
		cmocka_unit_test(test_size_reject),
		cmocka_unit_test(test_size_overflow),
		cmocka_unit_test(test_uint_bounds),
		cmocka_unit_test(test_uint_extremes),
		cmocka_unit_test(test_uint_reject),
		cmocka_unit_test(test_listen_tcp_v4),
		cmocka_unit_test(test_listen_tcp_v6),
		cmocka_unit_test(test_listen_tcp_name),
		cmocka_unit_test(test_listen_tcp_long_host),
		cmocka_unit_test(test_listen_unix),
		cmocka_unit_test(test_listen_unix_length),
		cmocka_unit_test(test_listen_reject),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
