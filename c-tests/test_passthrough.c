/*
 * test_passthrough: contract item "pass-through".
 * A program under the shim that makes no AF_BP socket:
 *  - pipes, files, an AF_UNIX socketpair and a UDP socket pair on 127.0.0.1 with
 *    sendto/recvfrom/recv/read/write/sendmsg/recvmsg work normally (including the fortified
 *    __recv_chk/__recvfrom_chk/__read_chk paths and MSG_PEEK/MSG_DONTWAIT/MSG_TRUNC, whose bits
 *    the BP send flags share), and IP-level socket options still work on the UDP socket;
 *  - errno is preserved: read(-1) -> EBADF, close(9999) -> EBADF, write to a pipe without
 *    reader (SIGPIPE ignored) -> EPIPE, recv/getsockopt on a pipe -> ENOTSOCK;
 *  - /proc/self/task has exactly 1 entry (no engine thread) and /proc/self/fd shows no extra
 *    fd, at start and after all that;
 *  - then it creates one AF_BP socket, and /proc/self/task has 2 entries.
 *
 * To start from a known fd table, the program first closes every fd >= 3 (raw close_range
 * syscall) and re-executes itself with --clean: the checked process then has exactly
 * fds 0, 1, 2 plus whatever the shim opens.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>

static int count_tasks(void)
{
    DIR *d = opendir("/proc/self/task");
    CHECK(d != NULL, "opendir /proc/self/task");
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* /proc/self/fd holds exactly 0, 1, 2 (and the directory's own fd). */
static void check_fds(const char *when)
{
    DIR *d = opendir("/proc/self/fd");
    CHECK(d != NULL, "opendir /proc/self/fd");
    int self = dirfd(d);
    char extra[1024] = "";
    size_t used = 0;
    int have[3] = {0, 0, 0};
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        int fd = atoi(e->d_name);
        if (fd == self)
            continue;
        if (fd >= 0 && fd <= 2) {
            have[fd] = 1;
            continue;
        }
        char path[64], target[256];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        ssize_t t = readlink(path, target, sizeof target - 1);
        target[t > 0 ? t : 0] = 0;
        used += (size_t)snprintf(extra + used, sizeof extra - used, " %d->%s", fd, target);
        if (used >= sizeof extra)
            used = sizeof extra - 1;
    }
    closedir(d);
    CHECK(extra[0] == 0, "%s: /proc/self/fd has extra fds:%s", when, extra);
    CHECK(have[0] && have[1] && have[2], "%s: fds 0, 1, 2 are open", when);
}

static void check_one_task(const char *when)
{
    int n = count_tasks();
    CHECK(n == 1, "%s: /proc/self/task has %d entries, want 1 (no engine thread)", when, n);
}

static void pipes_and_files(void)
{
    section("pipe: write/read");
    int p[2];
    CHECK_OK(pipe(p), "pipe");
    CHECK_EQ(write(p[1], "through a pipe", 14), 14, "write to a pipe");
    char buf[64];
    memset(buf, 0, sizeof buf);
    CHECK_EQ(read(p[0], buf, DYN(sizeof buf)), 14, "read (__read_chk) from a pipe");
    CHECK(memcmp(buf, "through a pipe", 14) == 0, "pipe bytes");
    CHECK_EQ(write(p[1], "x", 1), 1, "write");
    CHECK_EQ(read(p[0], buf, 1), 1, "read (plain) from a pipe");
    int fl = fcntl(p[0], F_GETFL);
    CHECK_OK(fcntl(p[0], F_SETFL, fl | O_NONBLOCK), "F_SETFL O_NONBLOCK on a pipe");
    CHECK_ERR(read(p[0], buf, DYN(sizeof buf)), EAGAIN, "read on an empty nonblocking pipe");
    int d = dup(p[0]);
    CHECK(d > 2, "dup of a pipe");
    CHECK_EQ(close(d), 0, "close dup");
    CHECK_EQ(close(p[0]), 0, "close pipe read end");

    section("errno: write to a pipe without reader (SIGPIPE ignored) -> EPIPE");
    signal(SIGPIPE, SIG_IGN);
    CHECK_ERR(write(p[1], "x", 1), EPIPE, "write to a pipe whose read end is closed");
    CHECK_EQ(close(p[1]), 0, "close pipe write end");

    section("regular file: write, lseek, read, fstat");
    char path[] = "/tmp/bpshim-passthrough-XXXXXX";
    int f = mkstemp(path);
    CHECK(f >= 0, "mkstemp");
    unlink(path);
    static char data[10000];
    fill_pattern((unsigned char *)data, sizeof data, 3);
    CHECK_EQ(write(f, data, sizeof data), sizeof data, "write 10000 bytes to a file");
    CHECK_EQ(lseek(f, 0, SEEK_SET), 0, "lseek");
    static char back[10000];
    CHECK_EQ(read(f, back, DYN(sizeof back)), sizeof back, "read the file back");
    CHECK(memcmp(data, back, sizeof data) == 0, "file bytes");
    CHECK_EQ(read(f, back, DYN(sizeof back)), 0, "read at EOF returns 0");
    struct stat st;
    CHECK_OK(fstat(f, &st), "fstat");
    CHECK_EQ(st.st_size, sizeof data, "file size");
    CHECK_EQ(close(f), 0, "close file");
}

static void errnos(void)
{
    section("errno is preserved");
    char buf[8];
    CHECK_ERR(read(-1, buf, DYN(sizeof buf)), EBADF, "read(-1)");
    CHECK_ERR(read(-1, buf, 1), EBADF, "read(-1) plain");
    CHECK_ERR(write(-1, buf, 1), EBADF, "write(-1)");
    CHECK_ERR(close(9999), EBADF, "close(9999)");
    CHECK_ERR(close(-1), EBADF, "close(-1)");
    CHECK_ERR(dup(9999), EBADF, "dup(9999)");
    CHECK_ERR(recv(9999, buf, DYN(sizeof buf), 0), EBADF, "recv(9999)");
    CHECK_ERR(sendto(9999, buf, 1, 0, NULL, 0), EBADF, "sendto(9999)");
    CHECK_ERR(fcntl(9999, F_GETFD), EBADF, "fcntl(9999)");
    int p[2];
    CHECK_OK(pipe(p), "pipe");
    CHECK_ERR(recv(p[0], buf, DYN(sizeof buf), MSG_DONTWAIT), ENOTSOCK, "recv on a pipe");
    int v;
    socklen_t len = sizeof v;
    CHECK_ERR(getsockopt(p[0], SOL_SOCKET, SO_TYPE, &v, &len), ENOTSOCK,
              "getsockopt on a pipe");
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    CHECK_ERR(bind(p[0], (struct sockaddr *)&sin, sizeof sin), ENOTSOCK, "bind on a pipe");
    close(p[0]);
    close(p[1]);
    CHECK_ERR(socket(AF_INET, SOCK_STREAM, IPPROTO_UDP), EPROTONOSUPPORT,
              "socket(AF_INET, SOCK_STREAM, IPPROTO_UDP)");
}

static void unix_pair(void)
{
    section("AF_UNIX socketpair");
    int sv[2];
    CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), "socketpair(AF_UNIX, SOCK_DGRAM)");
    char buf[64];
    CHECK_EQ(send(sv[0], "unix dgram", 10, 0), 10, "send on AF_UNIX");
    CHECK_EQ(recv(sv[1], buf, DYN(sizeof buf), MSG_PEEK), 10, "recv MSG_PEEK on AF_UNIX");
    CHECK_EQ(recv(sv[1], buf, DYN(sizeof buf), 0), 10, "recv on AF_UNIX after peek");
    CHECK(memcmp(buf, "unix dgram", 10) == 0, "AF_UNIX bytes");
    CHECK_ERR(recv(sv[1], buf, DYN(sizeof buf), MSG_DONTWAIT), EAGAIN,
              "MSG_DONTWAIT on an empty AF_UNIX socket");
    int v = 0;
    socklen_t len = sizeof v;
    CHECK_OK(getsockopt(sv[0], SOL_SOCKET, SO_DOMAIN, &v, &len), "SO_DOMAIN");
    CHECK_EQ(v, AF_UNIX, "SO_DOMAIN of an AF_UNIX socket");
    close(sv[0]);
    close(sv[1]);
}

static void udp_pair(void)
{
    section("UDP sockets on 127.0.0.1: sendto/recvfrom/read/write/sendmsg/recvmsg");
    int u1 = socket(AF_INET, SOCK_DGRAM, 0), u2 = socket(AF_INET, SOCK_DGRAM, 0);
    CHECK(u1 >= 0 && u2 >= 0, "socket(AF_INET, SOCK_DGRAM)");
    struct sockaddr_in a1, a2;
    socklen_t len;
    memset(&a1, 0, sizeof a1);
    a1.sin_family = AF_INET;
    a1.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a2 = a1;
    CHECK_OK(bind(u1, (struct sockaddr *)&a1, sizeof a1), "bind u1 127.0.0.1:0");
    CHECK_OK(bind(u2, (struct sockaddr *)&a2, sizeof a2), "bind u2 127.0.0.1:0");
    len = sizeof a1;
    CHECK_OK(getsockname(u1, (struct sockaddr *)&a1, &len), "getsockname u1");
    CHECK(len == sizeof a1 && a1.sin_family == AF_INET && a1.sin_port != 0,
          "getsockname of a UDP socket");
    len = sizeof a2;
    CHECK_OK(getsockname(u2, (struct sockaddr *)&a2, &len), "getsockname u2");

    int v = 0;
    len = sizeof v;
    CHECK_OK(getsockopt(u1, SOL_SOCKET, SO_TYPE, &v, &len), "SO_TYPE");
    CHECK_EQ(v, SOCK_DGRAM, "SO_TYPE of a UDP socket");
    v = 0x10;
    CHECK_OK(setsockopt(u1, IPPROTO_IP, IP_TOS, &v, sizeof v), "IP_TOS on a UDP socket");
    len = sizeof v;
    v = 0;
    CHECK_OK(getsockopt(u1, IPPROTO_IP, IP_TOS, &v, &len), "getsockopt IP_TOS");
    CHECK_EQ(v, 0x10, "IP_TOS reads back");

    char buf[256];
    struct sockaddr_in from;
    CHECK_EQ(sendto(u1, "udp one", 7, 0, (struct sockaddr *)&a2, sizeof a2), 7, "sendto");
    CHECK(wait_readable(u2, 2000), "UDP datagram arrives");
    len = sizeof from;
    CHECK_EQ(recvfrom(u2, buf, DYN(sizeof buf), 0, (struct sockaddr *)&from, &len), 7,
             "recvfrom (__recvfrom_chk)");
    CHECK(memcmp(buf, "udp one", 7) == 0 && len == sizeof from && from.sin_port == a1.sin_port,
          "recvfrom bytes and source port");

    /* flags that share their bits with BP send flags keep their Linux meaning here */
    CHECK_EQ(sendto(u1, "peeked", 6, MSG_NOSIGNAL, (struct sockaddr *)&a2, sizeof a2), 6,
             "sendto MSG_NOSIGNAL");
    CHECK(wait_readable(u2, 2000), "UDP datagram arrives");
    CHECK_EQ(recv(u2, buf, DYN(sizeof buf), MSG_PEEK), 6, "recv MSG_PEEK (__recv_chk)");
    CHECK_EQ(recv(u2, buf, 2, MSG_TRUNC), 6, "recv MSG_TRUNC into 2 bytes returns 6");
    CHECK_ERR(recv(u2, buf, DYN(sizeof buf), MSG_DONTWAIT), EAGAIN,
              "recv MSG_DONTWAIT on empty UDP");

    CHECK_OK(connect(u1, (struct sockaddr *)&a2, sizeof a2), "connect u1 -> u2");
    CHECK_OK(connect(u2, (struct sockaddr *)&a1, sizeof a1), "connect u2 -> u1");
    CHECK_EQ(write(u1, "written", 7), 7, "write on connected UDP");
    CHECK(wait_readable(u2, 2000), "UDP datagram arrives");
    memset(buf, 0, sizeof buf);
    CHECK_EQ(read(u2, buf, DYN(sizeof buf)), 7, "read (__read_chk) on UDP");
    CHECK(memcmp(buf, "written", 7) == 0, "read bytes");
    CHECK_EQ(send(u2, "back", 4, 0), 4, "send on connected UDP");
    CHECK(wait_readable(u1, 2000), "UDP datagram arrives");
    CHECK_EQ(recv(u1, buf, 64, 0), 4, "recv (plain) on UDP");

    char p1[] = "gath", p2[] = "ered";
    struct iovec iov[2] = {{p1, 4}, {p2, 4}};
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = iov;
    m.msg_iovlen = 2;
    CHECK_EQ(sendmsg(u1, &m, 0), 8, "sendmsg on UDP");
    CHECK(wait_readable(u2, 2000), "UDP datagram arrives");
    struct iovec riov = {buf, 4};
    memset(&m, 0, sizeof m);
    m.msg_name = &from;
    m.msg_namelen = sizeof from;
    m.msg_iov = &riov;
    m.msg_iovlen = 1;
    CHECK_EQ(recvmsg(u2, &m, 0), 4, "recvmsg into 4 bytes");
    CHECK(m.msg_flags & MSG_TRUNC, "UDP recvmsg sets MSG_TRUNC");
    CHECK(m.msg_namelen == sizeof from && from.sin_family == AF_INET, "recvmsg source");

    struct pollfd p = {.fd = u2, .events = POLLIN | POLLOUT};
    CHECK_EQ(poll(&p, 1, 0), 1, "poll on UDP");
    CHECK(p.revents == POLLOUT, "empty UDP socket is writable only (%#x)", p.revents);

    CHECK_EQ(close(u1), 0, "close u1");
    CHECK_EQ(close(u2), 0, "close u2");
}

int main(int argc, char **argv)
{
    harness_test_name = "test_passthrough";
    if (argc < 2 || strcmp(argv[1], "--clean") != 0) {
        fflush(stdout);
        if (syscall(SYS_close_range, 3, ~0u, 0) != 0)
            for (int fd = 3; fd < 4096; fd++)
                syscall(SYS_close, fd);
        char *args[] = {argv[0], "--clean", NULL};
        execv("/proc/self/exe", args);
        perror("execv /proc/self/exe");
        return 127;
    }

    section("at start: one task, fds 0..2 only");
    check_one_task("at start");
    check_fds("at start");

    pipes_and_files();
    errnos();
    unix_pair();
    udp_pair();

    section("after pass-through use: still one task, no extra fds");
    check_one_task("after pass-through calls");
    check_fds("after pass-through calls");

    section("one AF_BP socket starts the engine thread and the store's writer thread");
    int fd = BP_SOCKET(0);
    printf("   AF_BP socket is fd %d\n", fd);
    int n = count_tasks();
    long long end = now_ms() + 500;
    while (n != 3 && now_ms() < end) {
        sleep_ms(20);
        n = count_tasks();
    }
    CHECK(n == 3, "/proc/self/task has %d entries after socket(AF_BP), want 3 (main, engine, store)",
          n);

    section("pass-through still works with the engine running");
    errnos();
    udp_pair();
    close(fd);
    PASS();
}
