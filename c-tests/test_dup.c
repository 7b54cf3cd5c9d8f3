/*
 * test_dup: contract item "dup/dup2/dup3/fcntl(F_DUPFD_CLOEXEC)".
 *  - every kind of duplicate sends and receives, and getsockname through it shows the bound
 *    address;
 *  - dup3(O_CLOEXEC) and F_DUPFD_CLOEXEC set FD_CLOEXEC; dup and dup2 do not;
 *  - closing one descriptor leaves the others working (and the EID stays bound);
 *  - dup2 onto another AF_BP socket's fd closes that socket (its EID becomes free);
 *  - once every descriptor is closed, the EID can be bound again.
 */
#include "harness.h"

static int s; /* peer ipn:1.601 */

static void works(int fd, const char *name)
{
    char text[64];
    CHECK_SOCKNAME(fd, 1, 600);
    snprintf(text, sizeof text, "sent through %s", name);
    SEND_STR(fd, 1, 601, text);
    EXPECT_ADU(s, text, 1, 600);
    snprintf(text, sizeof text, "received through %s", name);
    SEND_STR(s, 1, 600, text);
    EXPECT_ADU(fd, text, 1, 601);
}

static int cloexec(int fd)
{
    int f = fcntl(fd, F_GETFD);
    CHECK(f != -1, "fcntl(%d, F_GETFD)", fd);
    return (f & FD_CLOEXEC) != 0;
}

static void expect_in_use(uint32_t svc)
{
    int t = BP_SOCKET(0);
    struct sockaddr_bp a = ipn(1, svc);
    CHECK_ERR(bind(t, (struct sockaddr *)&a, sizeof a), EADDRINUSE,
              "ipn:1.%u is still bound while a descriptor remains", svc);
    close(t);
}

/* bind must succeed (allowing up to 1 s for an asynchronous release) */
static void expect_free(uint32_t svc, const char *why)
{
    int t = BP_SOCKET(0);
    struct sockaddr_bp a = ipn(1, svc);
    long long end = now_ms() + 1000;
    for (;;) {
        errno = 0;
        if (bind(t, (struct sockaddr *)&a, sizeof a) == 0)
            break;
        CHECK(errno == EADDRINUSE && now_ms() < end, "ipn:1.%u can be bound again %s", svc,
              why);
        sleep_ms(20);
    }
    close(t);
}

int main(void)
{
    harness_test_name = "test_dup";
    s = BOUND_SOCKET(1, 601);
    int a = BOUND_SOCKET(1, 600);

    section("dup");
    int d1 = dup(a);
    CHECK(d1 >= 0, "dup");
    CHECK(!cloexec(d1), "dup clears FD_CLOEXEC");
    works(d1, "dup");
    works(a, "the original");

    section("dup2 onto a free fd number and onto an open non-socket fd");
    int d2;
    {
        int spare = open("/dev/null", O_RDONLY);
        CHECK(spare >= 0, "open /dev/null");
        CHECK_EQ(dup2(a, spare), spare, "dup2 onto the /dev/null fd");
        d2 = spare;
        CHECK(!cloexec(d2), "dup2 clears FD_CLOEXEC");
        works(d2, "dup2");
        CHECK_EQ(dup2(d2, d2), d2, "dup2(fd, fd) returns fd");
        works(d2, "dup2(fd, fd)");
    }

    section("dup3(O_CLOEXEC)");
    int d3 = 200;
    CHECK_EQ(dup3(a, d3, O_CLOEXEC), d3, "dup3(a, 200, O_CLOEXEC)");
    CHECK(cloexec(d3), "dup3(O_CLOEXEC) sets FD_CLOEXEC");
    works(d3, "dup3");

    section("fcntl(F_DUPFD_CLOEXEC) and fcntl(F_DUPFD)");
    int d4 = fcntl(a, F_DUPFD_CLOEXEC, 300);
    CHECK(d4 >= 300, "fcntl(F_DUPFD_CLOEXEC, 300) = %d", d4);
    CHECK(cloexec(d4), "F_DUPFD_CLOEXEC sets FD_CLOEXEC");
    works(d4, "F_DUPFD_CLOEXEC");
    int d5 = fcntl(a, F_DUPFD, 400);
    CHECK(d5 >= 400, "fcntl(F_DUPFD, 400) = %d", d5);
    CHECK(!cloexec(d5), "F_DUPFD clears FD_CLOEXEC");
    works(d5, "F_DUPFD");

    section("closing the original leaves the duplicates working");
    CHECK_EQ(close(a), 0, "close(original)");
    expect_in_use(600);
    works(d1, "dup after closing the original");
    works(d4, "F_DUPFD_CLOEXEC after closing the original");

    section("a duplicate's O_NONBLOCK is shared (same open file description)");
    {
        int fl = fcntl(d1, F_GETFL);
        CHECK_OK(fcntl(d1, F_SETFL, fl | O_NONBLOCK), "F_SETFL O_NONBLOCK on one dup");
        CHECK(fcntl(d4, F_GETFL) & O_NONBLOCK, "the other dup sees O_NONBLOCK");
        char buf[16];
        CHECK_ERR(recv(d4, buf, sizeof buf, 0), EAGAIN, "recv on the other dup is nonblocking");
        CHECK_OK(fcntl(d1, F_SETFL, fl), "F_SETFL restore");
    }

    section("closing more duplicates, one by one");
    CHECK_EQ(close(d1), 0, "close(dup)");
    works(d2, "dup2 after closing dup");
    CHECK_EQ(close(d2), 0, "close(dup2)");
    works(d3, "dup3 after closing dup2");
    CHECK_EQ(close(d3), 0, "close(dup3)");
    CHECK_EQ(close(d5), 0, "close(F_DUPFD)");
    expect_in_use(600);
    works(d4, "the last descriptor");

    section("dup2 onto another AF_BP socket's fd closes that socket");
    {
        int x = BOUND_SOCKET(1, 602);
        CHECK_EQ(dup2(d4, x), x, "dup2(last descriptor, AF_BP fd bound to ipn:1.602)");
        works(x, "dup2 onto an AF_BP fd");
        CHECK_SOCKNAME(x, 1, 600);
        expect_free(602, "after its only fd was replaced by dup2");
        CHECK_EQ(close(x), 0, "close");
    }
    expect_in_use(600);

    section("after the last descriptor is closed the EID is free");
    CHECK_EQ(close(d4), 0, "close(last descriptor)");
    expect_free(600, "after all descriptors are closed");

    close(s);
    PASS();
}
