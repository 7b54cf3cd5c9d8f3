/*
 * test_header: include/bp_socket.h is binary-compatible with upstream BP Socket
 * (layout of struct sockaddr_bp, AF_BP, schemes, send flag values) and its helpers
 * bp_sockaddr_ipn / bp_format_ipn / bp_parse_ipn behave as documented.
 *
 * Built by the runner with: cc -std=c99 -Wall -Wextra -Werror -Iinclude
 * (no shim needed; it is still run under LD_PRELOAD like every test).
 */
#include "harness.h"

#include <stddef.h>

static void parse_ok(const char *text, uint32_t node, uint32_t service)
{
    struct sockaddr_bp a;
    memset(&a, 0x5A, sizeof a);
    CHECK(bp_parse_ipn(text, &a) == 0, "bp_parse_ipn(\"%s\") accepted", text);
    CHECK(a.bp_family == AF_BP && a.bp_scheme == BP_SCHEME_IPN &&
              a.bp_addr.ipn.node_id == node && a.bp_addr.ipn.service_id == service,
          "bp_parse_ipn(\"%s\") = family %u scheme %d ipn:%u.%u, want ipn:%u.%u", text,
          a.bp_family, (int)a.bp_scheme, a.bp_addr.ipn.node_id, a.bp_addr.ipn.service_id, node,
          service);
}

static void parse_bad(const char *text)
{
    struct sockaddr_bp a;
    CHECK(bp_parse_ipn(text, &a) == -1, "bp_parse_ipn(\"%s\") rejected", text);
}

static void round_trip(uint32_t node, uint32_t service, const char *want)
{
    struct sockaddr_bp a, b;
    char buf[BP_IPN_STRLEN];
    bp_sockaddr_ipn(&a, node, service);
    int n = bp_format_ipn(buf, sizeof buf, &a);
    CHECK(n == (int)strlen(want) && strcmp(buf, want) == 0,
          "bp_format_ipn(ipn:%u.%u) = %d \"%s\", want \"%s\"", node, service, n, buf, want);
    CHECK(bp_parse_ipn(buf, &b) == 0, "bp_parse_ipn(\"%s\") after format", buf);
    CHECK(memcmp(&a, &b, sizeof a) == 0, "format/parse round trip of %s is byte-identical", buf);
}

int main(void)
{
    harness_test_name = "test_header";

    section("struct sockaddr_bp layout (upstream ABI since PR #21)");
    CHECK_EQ(sizeof(struct sockaddr_bp), 16, "sizeof(struct sockaddr_bp)");
    CHECK_EQ(offsetof(struct sockaddr_bp, bp_family), 0, "offsetof bp_family");
    CHECK_EQ(offsetof(struct sockaddr_bp, bp_scheme), 4, "offsetof bp_scheme");
    CHECK_EQ(offsetof(struct sockaddr_bp, bp_addr.ipn.node_id), 8, "offsetof node_id");
    CHECK_EQ(offsetof(struct sockaddr_bp, bp_addr.ipn.service_id), 12, "offsetof service_id");
    CHECK_EQ(sizeof(((struct sockaddr_bp *)0)->bp_family), sizeof(sa_family_t),
             "sizeof bp_family");
    CHECK_EQ(sizeof(bp_scheme_t), 4, "sizeof bp_scheme_t");
    CHECK(sizeof(struct sockaddr_bp) <= sizeof(struct sockaddr_storage),
          "sockaddr_bp fits in sockaddr_storage");

    section("constants");
    CHECK_EQ(AF_BP, 28, "AF_BP");
    CHECK_EQ(BP_SCHEME_IPN, 1, "BP_SCHEME_IPN");
    CHECK_EQ(BP_SCHEME_DTN, 2, "BP_SCHEME_DTN");
    CHECK_EQ(BP_DEFAULT_MAX_ADU, 16777216, "BP_DEFAULT_MAX_ADU");
    CHECK_EQ(BP_IPN_STRLEN, 26, "BP_IPN_STRLEN");

    section("send flag values (upstream include/bp_socket.h)");
    CHECK_EQ(MSG_ACK_REQUESTED, 0x1, "MSG_ACK_REQUESTED");
    CHECK_EQ(MSG_RECEIVED_RPT, 0x2, "MSG_RECEIVED_RPT");
    CHECK_EQ(MSG_CUSTODY_RPT, 0x4, "MSG_CUSTODY_RPT");
    CHECK_EQ(MSG_FORWARDED_RPT, 0x8, "MSG_FORWARDED_RPT");
    CHECK_EQ(MSG_DELIVERED_RPT, 0x10, "MSG_DELIVERED_RPT");
    CHECK_EQ(MSG_DELETED_RPT, 0x20, "MSG_DELETED_RPT");
    CHECK_EQ(MSG_BP_BULK_PRIORITY, 0x100, "MSG_BP_BULK_PRIORITY");
    CHECK_EQ(MSG_BP_STD_PRIORITY, 0x200, "MSG_BP_STD_PRIORITY");
    CHECK_EQ(MSG_BP_EXPEDITED_PRIORITY, 0x400, "MSG_BP_EXPEDITED_PRIORITY");
    CHECK_EQ(MSG_SOURCE_CUSTODY_REQUIRED, 0x1000, "MSG_SOURCE_CUSTODY_REQUIRED");
    CHECK_EQ(MSG_SOURCE_CUSTODY_OPTIONAL, 0x2000, "MSG_SOURCE_CUSTODY_OPTIONAL");
    CHECK_EQ(MSG_NO_CUSTODY_REQUIRED, 0x4000, "MSG_NO_CUSTODY_REQUIRED");

    section("bp_sockaddr_ipn");
    {
        struct sockaddr_bp a;
        unsigned char *p = (unsigned char *)&a;
        memset(&a, 0xFF, sizeof a);
        bp_sockaddr_ipn(&a, 10, 2);
        CHECK(a.bp_family == AF_BP && a.bp_scheme == BP_SCHEME_IPN &&
                  a.bp_addr.ipn.node_id == 10 && a.bp_addr.ipn.service_id == 2,
              "bp_sockaddr_ipn(10, 2) fields");
        CHECK(p[2] == 0 && p[3] == 0, "bp_sockaddr_ipn zeroes the padding bytes 2..3");
        /* host byte order */
        uint32_t node;
        memcpy(&node, p + 8, 4);
        CHECK(node == 10, "node_id is in host byte order at offset 8");
    }

    section("bp_format_ipn / bp_parse_ipn round trip");
    round_trip(1, 1, "ipn:1.1");
    round_trip(10, 2, "ipn:10.2");
    round_trip(0, 0, "ipn:0.0");
    round_trip(4294967295u, 4294967295u, "ipn:4294967295.4294967295");
    CHECK_EQ(strlen("ipn:4294967295.4294967295") + 1, BP_IPN_STRLEN,
             "BP_IPN_STRLEN holds the longest EID and its NUL");
    {
        struct sockaddr_bp a;
        char buf[BP_IPN_STRLEN];
        bp_sockaddr_ipn(&a, 1, 2);
        a.bp_scheme = BP_SCHEME_DTN;
        bp_format_ipn(buf, sizeof buf, &a);
        CHECK(strcmp(buf, "?") == 0, "bp_format_ipn of a dtn-scheme address writes \"?\"");
        bp_sockaddr_ipn(&a, 1, 2);
        a.bp_family = 2;
        bp_format_ipn(buf, sizeof buf, &a);
        CHECK(strcmp(buf, "?") == 0, "bp_format_ipn of a non-AF_BP address writes \"?\"");
        /* cut output: snprintf semantics */
        char small[8];
        bp_sockaddr_ipn(&a, 123456, 7);
        int n = bp_format_ipn(small, sizeof small, &a);
        CHECK(n == (int)strlen("ipn:123456.7") && strcmp(small, "ipn:123") == 0,
              "bp_format_ipn into a short buffer cuts and returns the full length (%d \"%s\")",
              n, small);
    }

    section("bp_parse_ipn accepts");
    parse_ok("ipn:1.2", 1, 2);
    parse_ok("1.2", 1, 2);
    parse_ok("ipn:0.0", 0, 0);
    parse_ok("ipn:4294967295.4294967295", 4294967295u, 4294967295u);
    parse_ok("ipn:007.010", 7, 10);

    section("bp_parse_ipn rejects");
    parse_bad("ipn:1");
    parse_bad("ipn:1.2.3");
    parse_bad("ipn:4294967296.1");
    parse_bad("ipn:1.4294967296");
    parse_bad("ipn:99999999999999999999.1");
    parse_bad("dtn:none");
    parse_bad("dtn://node/svc");
    parse_bad("");
    parse_bad("ipn:");
    parse_bad("ipn:.1");
    parse_bad("ipn:1.");
    parse_bad("ipn:-1.2");
    parse_bad("ipn:1.2 ");
    parse_bad(" ipn:1.2");
    parse_bad("IPN:1.2");
    parse_bad("ipn:1,2");

    PASS();
}
