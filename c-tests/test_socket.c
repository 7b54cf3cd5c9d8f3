/*
 * test_socket: contract item "socket".
 *  - socket(AF_BP, SOCK_DGRAM, 0 / 1 / 17) succeeds;
 *  - SOCK_NONBLOCK -> O_NONBLOCK in F_GETFL (absent without it);
 *  - SOCK_CLOEXEC -> FD_CLOEXEC in F_GETFD (absent without it);
 *  - getsockopt SO_DOMAIN = AF_BP, SO_TYPE = SOCK_DGRAM, SO_PROTOCOL = the protocol passed;
 *  - SOCK_STREAM and SOCK_SEQPACKET -> ESOCKTNOSUPPORT;
 *  - socketpair(AF_BP, ...) -> EOPNOTSUPP.
 */
#include "harness.h"

static int getint(int fd, int opt, const char *name)
{
    int v = -12345;
    socklen_t len = sizeof v;
    CHECK_OK(getsockopt(fd, SOL_SOCKET, opt, &v, &len), "getsockopt(fd %d, SOL_SOCKET, %s)",
             fd, name);
    CHECK_EQ(len, sizeof(int), "getsockopt(%s) optlen", name);
    return v;
}

int main(void)
{
    harness_test_name = "test_socket";
    const int protocols[] = {0, 1, 17};

    section("socket(AF_BP, SOCK_DGRAM, 0|1|17) and SO_DOMAIN/SO_TYPE/SO_PROTOCOL");
    for (unsigned i = 0; i < sizeof protocols / sizeof protocols[0]; i++) {
        int proto = protocols[i];
        int fd;
        CHECK_RET(fd, socket(AF_BP, SOCK_DGRAM, proto), "socket(AF_BP, SOCK_DGRAM, %d)", proto);
        CHECK_EQ(getint(fd, SO_DOMAIN, "SO_DOMAIN"), AF_BP, "SO_DOMAIN of protocol %d socket",
                 proto);
        CHECK_EQ(getint(fd, SO_TYPE, "SO_TYPE"), SOCK_DGRAM, "SO_TYPE of protocol %d socket",
                 proto);
        CHECK_EQ(getint(fd, SO_PROTOCOL, "SO_PROTOCOL"), proto, "SO_PROTOCOL");
        int fl = fcntl(fd, F_GETFL);
        CHECK(fl != -1 && !(fl & O_NONBLOCK), "no O_NONBLOCK without SOCK_NONBLOCK (flags %#x)",
              fl);
        int fdf = fcntl(fd, F_GETFD);
        CHECK(fdf != -1 && !(fdf & FD_CLOEXEC), "no FD_CLOEXEC without SOCK_CLOEXEC (%#x)", fdf);
        CHECK_OK(close(fd), "close(fd %d)", fd);
    }

    section("SOCK_NONBLOCK");
    {
        int fd;
        CHECK_RET(fd, socket(AF_BP, SOCK_DGRAM | SOCK_NONBLOCK, 0),
                  "socket(AF_BP, SOCK_DGRAM|SOCK_NONBLOCK, 0)");
        int fl = fcntl(fd, F_GETFL);
        CHECK(fl != -1 && (fl & O_NONBLOCK), "SOCK_NONBLOCK -> O_NONBLOCK in F_GETFL (%#x)", fl);
        int fdf = fcntl(fd, F_GETFD);
        CHECK(fdf != -1 && !(fdf & FD_CLOEXEC), "SOCK_NONBLOCK alone sets no FD_CLOEXEC (%#x)",
              fdf);
        CHECK_EQ(getint(fd, SO_TYPE, "SO_TYPE"), SOCK_DGRAM,
                 "SO_TYPE of a SOCK_NONBLOCK socket is SOCK_DGRAM");
        close(fd);
    }

    section("SOCK_CLOEXEC");
    {
        int fd;
        CHECK_RET(fd, socket(AF_BP, SOCK_DGRAM | SOCK_CLOEXEC, 1),
                  "socket(AF_BP, SOCK_DGRAM|SOCK_CLOEXEC, 1)");
        int fdf = fcntl(fd, F_GETFD);
        CHECK(fdf != -1 && (fdf & FD_CLOEXEC), "SOCK_CLOEXEC -> FD_CLOEXEC in F_GETFD (%#x)",
              fdf);
        int fl = fcntl(fd, F_GETFL);
        CHECK(fl != -1 && !(fl & O_NONBLOCK), "SOCK_CLOEXEC alone sets no O_NONBLOCK (%#x)", fl);
        close(fd);
    }

    section("SOCK_NONBLOCK|SOCK_CLOEXEC");
    {
        int fd;
        CHECK_RET(fd, socket(AF_BP, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 17),
                  "socket(AF_BP, SOCK_DGRAM|SOCK_NONBLOCK|SOCK_CLOEXEC, 17)");
        int fl = fcntl(fd, F_GETFL), fdf = fcntl(fd, F_GETFD);
        CHECK(fl != -1 && (fl & O_NONBLOCK), "O_NONBLOCK set (%#x)", fl);
        CHECK(fdf != -1 && (fdf & FD_CLOEXEC), "FD_CLOEXEC set (%#x)", fdf);
        CHECK_EQ(getint(fd, SO_PROTOCOL, "SO_PROTOCOL"), 17, "SO_PROTOCOL");
        close(fd);
    }

    section("unsupported socket types");
    CHECK_ERR(socket(AF_BP, SOCK_STREAM, 0), ESOCKTNOSUPPORT, "socket(AF_BP, SOCK_STREAM, 0)");
    CHECK_ERR(socket(AF_BP, SOCK_SEQPACKET, 0), ESOCKTNOSUPPORT,
              "socket(AF_BP, SOCK_SEQPACKET, 0)");
    CHECK_ERR(socket(AF_BP, SOCK_STREAM | SOCK_CLOEXEC, 1), ESOCKTNOSUPPORT,
              "socket(AF_BP, SOCK_STREAM|SOCK_CLOEXEC, 1)");

    section("socketpair(AF_BP) -> EOPNOTSUPP");
    {
        int sv[2] = {-1, -1};
        CHECK_ERR(socketpair(AF_BP, SOCK_DGRAM, 0, sv), EOPNOTSUPP,
                  "socketpair(AF_BP, SOCK_DGRAM, 0)");
    }

    section("a socket still works after the failed calls above");
    {
        int fd = BP_SOCKET(0);
        CHECK_EQ(getint(fd, SO_DOMAIN, "SO_DOMAIN"), AF_BP, "SO_DOMAIN");
        close(fd);
    }

    PASS();
}
