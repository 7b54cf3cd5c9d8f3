/*
 * test_bind: contract item "bind" (run with the default configuration: local node ipn:1).
 *  - addrlen under 16 -> EINVAL; wrong family -> EINVAL; scheme DTN(2) or 7 -> EAFNOSUPPORT;
 *    service 0 -> EINVAL; a node other than the local one -> EADDRNOTAVAIL;
 *  - an EID already bound by another socket of this process -> EADDRINUSE;
 *  - binding a bound socket again -> EINVAL (same or other address);
 *  - a failed bind leaves nothing bound (getsockname shows AF_BP node 0 service 0, the EID
 *    is not reserved, and a correct bind then succeeds);
 *  - getsockname returns the bound address (len 16);
 *  - after close the EID can be bound again.
 */
#include "harness.h"

static struct sockaddr_bp addr_with(uint16_t family, int scheme, uint32_t node, uint32_t svc)
{
    struct sockaddr_bp a = ipn(node, svc);
    a.bp_family = family;
    a.bp_scheme = (bp_scheme_t)scheme;
    return a;
}

int main(void)
{
    harness_test_name = "test_bind";
    struct sockaddr_bp a;

    section("a new socket is unbound");
    int c = BP_SOCKET(0);
    CHECK_UNBOUND(c);

    section("addrlen under 16 -> EINVAL");
    a = ipn(1, 105);
    CHECK_ERR(bind(c, (struct sockaddr *)&a, 15), EINVAL, "bind addrlen 15");
    CHECK_UNBOUND(c);
    CHECK_ERR(bind(c, (struct sockaddr *)&a, 8), EINVAL, "bind addrlen 8");
    CHECK_ERR(bind(c, (struct sockaddr *)&a, sizeof(sa_family_t)), EINVAL, "bind addrlen 2");
    CHECK_ERR(bind(c, (struct sockaddr *)&a, 0), EINVAL, "bind addrlen 0");
    CHECK_UNBOUND(c);

    section("wrong family -> EINVAL");
    a = addr_with(AF_INET, BP_SCHEME_IPN, 1, 105);
    CHECK_ERR(bind(c, (struct sockaddr *)&a, sizeof a), EINVAL, "bind family AF_INET");
    a = addr_with(AF_UNSPEC, BP_SCHEME_IPN, 1, 105);
    CHECK_ERR(bind(c, (struct sockaddr *)&a, sizeof a), EINVAL, "bind family AF_UNSPEC");
    CHECK_UNBOUND(c);

    section("unsupported scheme -> EAFNOSUPPORT");
    a = addr_with(AF_BP, BP_SCHEME_DTN, 1, 105);
    CHECK_ERR(bind(c, (struct sockaddr *)&a, sizeof a), EAFNOSUPPORT, "bind scheme DTN (2)");
    a = addr_with(AF_BP, 7, 1, 105);
    CHECK_ERR(bind(c, (struct sockaddr *)&a, sizeof a), EAFNOSUPPORT, "bind scheme 7");
    CHECK_UNBOUND(c);

    section("service 0 -> EINVAL");
    a = ipn(1, 0);
    CHECK_ERR(bind(c, (struct sockaddr *)&a, sizeof a), EINVAL, "bind ipn:1.0");
    CHECK_UNBOUND(c);

    section("non-local node -> EADDRNOTAVAIL");
    a = ipn(2, 105);
    CHECK_ERR(bind(c, (struct sockaddr *)&a, sizeof a), EADDRNOTAVAIL, "bind ipn:2.105");
    a = ipn(4294967295u, 105);
    CHECK_ERR(bind(c, (struct sockaddr *)&a, sizeof a), EADDRNOTAVAIL,
              "bind ipn:4294967295.105");
    CHECK_UNBOUND(c);

    section("failed binds reserved nothing: ipn:1.105 is free for another socket");
    {
        int e = BOUND_SOCKET(1, 105);
        CHECK_SOCKNAME(e, 1, 105);
        CHECK_UNBOUND(c);
        close(e);
    }

    section("after failed binds, a correct bind succeeds");
    BIND(c, 1, 102);
    CHECK_SOCKNAME(c, 1, 102);

    section("getsockname returns the bound address (len 16)");
    int s_a = BOUND_SOCKET(1, 100);
    CHECK_SOCKNAME(s_a, 1, 100);
    {
        struct sockaddr_bp got;
        socklen_t len = sizeof got;
        memset(&got, 0xA5, sizeof got);
        CHECK_OK(getsockname(s_a, (struct sockaddr *)&got, &len), "getsockname");
        struct sockaddr_bp want = ipn(1, 100);
        CHECK(len == 16 && memcmp(&got, &want, sizeof want) == 0,
              "getsockname bytes equal bp_sockaddr_ipn(1, 100) (padding zeroed)");
    }

    section("EID already bound by another socket -> EADDRINUSE");
    int s_b = BP_SOCKET(0);
    a = ipn(1, 100);
    CHECK_ERR(bind(s_b, (struct sockaddr *)&a, sizeof a), EADDRINUSE,
              "second socket binds ipn:1.100");
    CHECK_UNBOUND(s_b);
    CHECK_SOCKNAME(s_a, 1, 100);
    a = ipn(1, 102);
    CHECK_ERR(bind(s_b, (struct sockaddr *)&a, sizeof a), EADDRINUSE,
              "second socket binds ipn:1.102");
    CHECK_UNBOUND(s_b);

    section("the owner keeps receiving after the failed bind of another socket");
    SEND_STR(s_b, 1, 100, "still mine"); /* s_b is unbound: autobinds an ephemeral service */
    EXPECT_ADU(s_a, "still mine", 0, 0);

    section("binding a bound socket again -> EINVAL");
    a = ipn(1, 101);
    CHECK_ERR(bind(s_a, (struct sockaddr *)&a, sizeof a), EINVAL,
              "re-bind of ipn:1.100 to ipn:1.101");
    a = ipn(1, 100);
    CHECK_ERR(bind(s_a, (struct sockaddr *)&a, sizeof a), EINVAL,
              "re-bind of ipn:1.100 to itself");
    CHECK_SOCKNAME(s_a, 1, 100);
    {
        /* the failed re-bind reserved nothing */
        int f = BOUND_SOCKET(1, 101);
        close(f);
    }

    section("after close the EID can be bound again");
    CHECK_OK(close(s_a), "close");
    {
        int d = BP_SOCKET(0);
        BIND(d, 1, 100);
        CHECK_SOCKNAME(d, 1, 100);
        SEND_STR(c, 1, 100, "to the new owner");
        EXPECT_ADU(d, "to the new owner", 1, 102);
        close(d);
    }
    CHECK_OK(close(c), "close");
    {
        int d = BOUND_SOCKET(1, 102);
        close(d);
    }
    close(s_b);

    section("large service numbers");
    {
        int d = BOUND_SOCKET(1, 4294967295u);
        CHECK_SOCKNAME(d, 1, 4294967295u);
        close(d);
    }

    PASS();
}
