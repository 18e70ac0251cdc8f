// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests for --allow's address ranges and the loopback check. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "frontend/nbd/allow.h"

/* a peer address as accept() gives it */
static struct sockaddr_storage peer(const char *ip)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;

	if (inet_pton(AF_INET, ip, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
	} else {
		assert_int_equal(inet_pton(AF_INET6, ip, &v6->sin6_addr), 1);
		v6->sin6_family = AF_INET6;
	}
	return ss;
}

static bool matches(const char *range, const char *ip)
{
	struct sockaddr_storage ss = peer(ip);
	struct cidr c;

	if (cidr_parse(range, &c) != 0)
		fail_msg("cidr_parse(\"%s\") failed", range);
	return cidr_match(&c, (struct sockaddr *)&ss);
}

static void test_v4(void **state)
{
	assert_true(matches("10.0.0.0/8", "10.255.1.2"));
	assert_false(matches("10.0.0.0/8", "11.0.0.1"));
	assert_true(matches("192.168.4.0/22", "192.168.7.255"));
	assert_false(matches("192.168.4.0/22", "192.168.8.0"));
	assert_true(matches("127.0.0.1", "127.0.0.1"));
	assert_false(matches("127.0.0.1", "127.0.0.2"));
	assert_true(matches("0.0.0.0/0", "8.8.8.8"));
	/* host bits in the range are ignored, as ip(8) does */
	assert_true(matches("10.1.2.3/8", "10.9.9.9"));
}

static void test_v6(void **state)
{
	assert_true(matches("::1/128", "::1"));
	assert_false(matches("::1/128", "::2"));
	assert_true(matches("fd00::/8", "fd12:3456::1"));
	assert_false(matches("fd00::/8", "fe80::1"));
	assert_true(matches("2001:db8::/33", "2001:db8:7fff::1"));
	assert_false(matches("2001:db8::/33", "2001:db8:8000::1"));
}

/* an IPv4 client of a dual-stack socket is checked as IPv4 */
static void test_mapped(void **state)
{
	assert_true(matches("10.0.0.0/8", "::ffff:10.1.1.1"));
	assert_false(matches("10.0.0.0/8", "::ffff:11.1.1.1"));
	assert_false(matches("::/0", "::ffff:10.1.1.1"));
	assert_false(matches("10.0.0.0/8", "fd00::1"));
	/* a v4-mapped range is its v4 range, for both kinds of peer */
	assert_true(matches("::ffff:10.1.2.3/120", "10.1.2.200"));
	assert_true(matches("::ffff:10.1.2.3/120", "::ffff:10.1.2.7"));
	assert_false(matches("::ffff:10.1.2.3/120", "10.1.3.1"));
	assert_true(matches("::ffff:127.0.0.1", "127.0.0.1"));
	assert_false(matches("::ffff:127.0.0.1", "127.0.0.2"));
}

static void test_bad(void **state)
{
	static const char *const bad[] = {
		"", "/8", "10.0.0.0/", "10.0.0.0/33", "::1/129", "10.0.0/8",
		"10.0.0.0/8x", "10.0.0.0/-1", "host.example/8", "10.0.0.0 /8",
		"10.0.0.0/+8",
	};
	struct cidr c;

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		if (cidr_parse(bad[i], &c) != -EINVAL)
			fail_msg("cidr_parse(\"%s\") accepted", bad[i]);
}

static void test_loopback(void **state)
{
	const char *lo[] = { "127.0.0.1", "127.9.8.7", "::1",
			     "::ffff:127.0.0.1" };
	const char *not[] = { "0.0.0.0", "10.0.0.1", "::", "::2",
			      "128.0.0.1" };

	for (size_t i = 0; i < sizeof(lo) / sizeof(*lo); i++) {
		struct sockaddr_storage ss = peer(lo[i]);

		if (!addr_is_loopback((struct sockaddr *)&ss))
			fail_msg("%s not loopback", lo[i]);
	}
	for (size_t i = 0; i < sizeof(not) / sizeof(*not); i++) {
		struct sockaddr_storage ss = peer(not[i]);

		if (addr_is_loopback((struct sockaddr *)&ss))
			fail_msg("%s loopback", not[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v4),     cmocka_unit_test(test_v6),
		cmocka_unit_test(test_mapped), cmocka_unit_test(test_bad),
		cmocka_unit_test(test_loopback),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
