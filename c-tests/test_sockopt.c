/*
 * test_sockopt: contract item "setsockopt/getsockopt".
 *  - levels other than SOL_SOCKET (IPPROTO_IP, IPPROTO_UDP, IPPROTO_TCP, 12345) ->
 *    ENOPROTOOPT, for setsockopt and getsockopt, on unbound and bound sockets;
 *  - SOL_SOCKET SO_REUSEADDR=1 and SO_RCVBUF succeed (before and after bind; getsockopt of
 *    them succeeds too), and the socket still works afterwards.
 */
#include "harness.h"

#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>

static const struct {
    int level, opt;
    const char *name;
} other_levels[] = {
    {IPPROTO_IP, IP_TOS, "IPPROTO_IP/IP_TOS"},
    {IPPROTO_IP, IP_TTL, "IPPROTO_IP/IP_TTL"},
    {IPPROTO_UDP, UDP_CORK, "IPPROTO_UDP/UDP_CORK"},
    {IPPROTO_TCP, TCP_NODELAY, "IPPROTO_TCP/TCP_NODELAY"},
    {12345, 1, "level 12345/option 1"},
};

static void other_levels_fail(int fd, const char *which)
{
    for (unsigned i = 0; i < sizeof other_levels / sizeof other_levels[0]; i++) {
        int v = 1;
        socklen_t len = sizeof v;
        CHECK_ERR(setsockopt(fd, other_levels[i].level, other_levels[i].opt, &v, sizeof v),
                  ENOPROTOOPT, "setsockopt %s on a %s socket", other_levels[i].name, which);
        CHECK_ERR(getsockopt(fd, other_levels[i].level, other_levels[i].opt, &v, &len),
                  ENOPROTOOPT, "getsockopt %s on a %s socket", other_levels[i].name, which);
    }
}

static void sol_socket_ok(int fd, const char *which)
{
    int one = 1, v = 0;
    socklen_t len = sizeof v;
    CHECK_OK(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one),
             "setsockopt SO_REUSEADDR=1 on a %s socket", which);
    CHECK_OK(getsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &v, &len),
             "getsockopt SO_REUSEADDR on a %s socket", which);
    int rb = 262144;
    CHECK_OK(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rb, sizeof rb),
             "setsockopt SO_RCVBUF=262144 on a %s socket", which);
    v = 0;
    len = sizeof v;
    CHECK_OK(getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, &len),
             "getsockopt SO_RCVBUF on a %s socket", which);
    CHECK(len == sizeof v && v > 0, "SO_RCVBUF reads back a positive value (%d)", v);
}

int main(void)
{
    harness_test_name = "test_sockopt";
    int r = BP_SOCKET(0);

    section("unbound socket: other levels -> ENOPROTOOPT; SOL_SOCKET options succeed");
    other_levels_fail(r, "unbound");
    sol_socket_ok(r, "unbound");

    section("bound socket");
    BIND(r, 1, 800);
    other_levels_fail(r, "bound");
    sol_socket_ok(r, "bound");

    section("the socket still works after the option calls");
    int s = BOUND_SOCKET(1, 801);
    SEND_STR(s, 1, 800, "after options");
    EXPECT_ADU(r, "after options", 1, 801);

    close(r);
    close(s);
    PASS();
}
