/* test_ip_router.c - the ip-router's parsers: CIDRs as Go's net.ParseCIDR
 * reads them (masked to the network, IPNet.String() back), and the
 * destination of an IP packet read from a TUN or a hostile datagram. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "stream/ip_router.h"

static void check_cidr(const char *in, const char *want)
{
    struct ipr_cidr c;
    char out[64];
    if (!want) {
        assert_int_equal(ipr_cidr_parse(in, &c), -1);
        return;
    }
    assert_int_equal(ipr_cidr_parse(in, &c), 0);
    assert_int_equal(ipr_cidr_format(&c, out, sizeof out), 0);
    assert_string_equal(out, want);
}

static void test_cidr_parse(void **state)
{
    (void)state;
    check_cidr("10.0.0.5/30", "10.0.0.4/30");
    check_cidr("10.0.0.0/030", "10.0.0.0/30");
    check_cidr("192.168.1.77/0", "0.0.0.0/0");
    check_cidr("1.2.3.4/32", "1.2.3.4/32");
    check_cidr("fd00:1::5/64", "fd00:1::/64");
    check_cidr("10.0.0.0/33", NULL);
    check_cidr("fd00::/129", NULL);
    check_cidr("10.0.0.0", NULL);
    check_cidr("10.0.0.0/", NULL);
    check_cidr("10.0.0.0/-1", NULL);
    check_cidr("10.0.0.0/+8", NULL);
    check_cidr("10.0.0/8", NULL);
    check_cidr(" 10.0.0.0/8", NULL);
    check_cidr("/8", NULL);
    check_cidr("10.0.0.0/8/8", NULL);
    check_cidr("", NULL);
}

static void test_cidr_contains(void **state)
{
    (void)state;
    struct ipr_cidr c;
    assert_int_equal(ipr_cidr_parse("10.99.0.0/23", &c), 0);
    const unsigned char in[4] = { 10, 99, 1, 200 }, out[4] = { 10, 99, 2, 1 };
    assert_true(ipr_cidr_contains(&c, 4, in));
    assert_false(ipr_cidr_contains(&c, 4, out));
    assert_false(ipr_cidr_contains(&c, 6, in));
}

static void test_packet_dest(void **state)
{
    (void)state;
    unsigned char pkt[64] = { 0x45 }, dst[16];
    memcpy(pkt + 16, "\x0a\x4d\x03\x01", 4);
    assert_int_equal(ipr_packet_dest(pkt, 20, dst), 4);
    assert_memory_equal(dst, "\x0a\x4d\x03\x01", 4);
    assert_int_equal(ipr_packet_dest(pkt, 19, dst), 0);   /* short */
    pkt[0] = 0x44;                                          /* header length 16 < 20 */
    assert_int_equal(ipr_packet_dest(pkt, 20, dst), 0);
    pkt[0] = 0x4f;                                          /* header 60 bytes > packet */
    assert_int_equal(ipr_packet_dest(pkt, 40, dst), 0);
    unsigned char v6[40] = { 0x60 };
    v6[24] = 0xfd;
    v6[39] = 7;
    assert_int_equal(ipr_packet_dest(v6, 40, dst), 6);
    assert_int_equal(dst[0], 0xfd);
    assert_int_equal(dst[15], 7);
    assert_int_equal(ipr_packet_dest(v6, 39, dst), 0);
    v6[0] = 0x50;                                           /* neither version */
    assert_int_equal(ipr_packet_dest(v6, 40, dst), 0);
    assert_int_equal(ipr_packet_dest(v6, 0, dst), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cidr_parse),
        cmocka_unit_test(test_cidr_contains),
        cmocka_unit_test(test_packet_dest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
