/*
 * test_connect: contract item "connect".
 *  - getpeername before connect -> ENOTCONN; send() on an unconnected socket -> EDESTADDRREQ;
 *  - connect sets the default destination: send() and write() then work, getpeername returns
 *    the peer (len 16);
 *  - a connected socket receives only the peer's bundles: a bundle from a third socket is not
 *    delivered to it (not even after the association is dissolved);
 *  - connect with family AF_UNSPEC dissolves the association (ENOTCONN, EDESTADDRREQ again,
 *    bundles from anyone are received again).
 */
#include "harness.h"

int main(void)
{
    harness_test_name = "test_connect";
    int a = BOUND_SOCKET(1, 300);
    int b = BOUND_SOCKET(1, 301);
    int c = BOUND_SOCKET(1, 302);
    struct sockaddr_bp peer;
    socklen_t plen;

    section("unconnected: getpeername -> ENOTCONN, send -> EDESTADDRREQ");
    plen = sizeof peer;
    CHECK_ERR(getpeername(a, (struct sockaddr *)&peer, &plen), ENOTCONN,
              "getpeername before connect");
    CHECK_ERR(send(a, "x", 1, 0), EDESTADDRREQ, "send() on an unconnected socket");
    {
        int u = BP_SOCKET(0);
        plen = sizeof peer;
        CHECK_ERR(getpeername(u, (struct sockaddr *)&peer, &plen), ENOTCONN,
                  "getpeername on an unbound socket");
        CHECK_ERR(send(u, "x", 1, 0), EDESTADDRREQ, "send() on an unbound unconnected socket");
        close(u);
    }

    section("connect(a -> ipn:1.301)");
    struct sockaddr_bp to = ipn(1, 301);
    CHECK_OK(connect(a, (struct sockaddr *)&to, sizeof to), "connect to ipn:1.301");
    plen = sizeof peer;
    memset(&peer, 0xA5, sizeof peer);
    CHECK_OK(getpeername(a, (struct sockaddr *)&peer, &plen), "getpeername after connect");
    CHECK_ADDR(&peer, plen, 1, 301, "getpeername after connect");
    CHECK_SOCKNAME(a, 1, 300);

    section("send() and write() go to the peer");
    CHECK_EQ(send(a, "via send", 8, 0), 8, "send() on a connected socket");
    EXPECT_ADU(b, "via send", 1, 300);
    CHECK_EQ(write(a, "via write", 9), 9, "write() on a connected socket");
    EXPECT_ADU(b, "via write", 1, 300);
    CHECK_EQ(send(a, "send+flag", 9, MSG_ACK_REQUESTED), 9,
             "send() with MSG_ACK_REQUESTED on a connected socket");
    EXPECT_ADU(b, "send+flag", 1, 300);
    {
        struct msghdr m;
        struct iovec iov = {(void *)"via sendmsg", 11};
        memset(&m, 0, sizeof m);
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        CHECK_EQ(sendmsg(a, &m, 0), 11, "sendmsg() without a name on a connected socket");
        EXPECT_ADU(b, "via sendmsg", 1, 300);
    }

    section("a connected socket receives only from its peer");
    SEND_STR(c, 1, 300, "from third socket");
    sleep_ms(200); /* let the third party's bundle arrive first */
    SEND_STR(b, 1, 300, "from peer");
    EXPECT_ADU(a, "from peer", 1, 301);
    EXPECT_NOTHING(a, 400);
    {
        char buf[64];
        CHECK_ERR(recv(a, buf, sizeof buf, MSG_DONTWAIT), EAGAIN,
                  "recv on the connected socket with only a third party's bundle sent");
    }

    section("connect(AF_UNSPEC) dissolves the association");
    {
        struct sockaddr un;
        memset(&un, 0, sizeof un);
        un.sa_family = AF_UNSPEC;
        CHECK_OK(connect(a, &un, sizeof un), "connect(AF_UNSPEC)");
    }
    plen = sizeof peer;
    CHECK_ERR(getpeername(a, (struct sockaddr *)&peer, &plen), ENOTCONN,
              "getpeername after AF_UNSPEC");
    CHECK_ERR(send(a, "x", 1, 0), EDESTADDRREQ, "send() after AF_UNSPEC");
    CHECK_SOCKNAME(a, 1, 300);
    SEND_STR(c, 1, 300, "from third socket, later");
    EXPECT_ADU(a, "from third socket, later", 1, 302);
    SEND_STR(b, 1, 300, "from old peer, later");
    EXPECT_ADU(a, "from old peer, later", 1, 301);
    EXPECT_NOTHING(a, 200);

    section("connect again, to another peer");
    to = ipn(1, 302);
    CHECK_OK(connect(a, (struct sockaddr *)&to, sizeof to), "connect to ipn:1.302");
    plen = sizeof peer;
    CHECK_OK(getpeername(a, (struct sockaddr *)&peer, &plen), "getpeername");
    CHECK_ADDR(&peer, plen, 1, 302, "getpeername after second connect");
    CHECK_EQ(send(a, "to c", 4, 0), 4, "send() to the new peer");
    EXPECT_ADU(c, "to c", 1, 300);
    SEND_STR(c, 1, 300, "c answers");
    EXPECT_ADU(a, "c answers", 1, 302);

    close(a);
    close(b);
    close(c);
    PASS();
}
