/*
 * test_recv: contract item "recvmsg/recvfrom/recv/read".
 *  - recvmsg: msg_name gets the source sockaddr_bp, msg_namelen 16; recvfrom: addrlen 16;
 *  - recv() and read() return the payload only (never header bytes): exact byte compare,
 *    nothing written past the payload;
 *  - MSG_PEEK|MSG_TRUNC returns the full length without consuming;
 *  - a too-small buffer gets what fits, MSG_TRUNC in msg_flags, the rest is discarded and
 *    the next receive gets the NEXT ADU;
 *  - empty queue: MSG_DONTWAIT -> EAGAIN; O_NONBLOCK -> EAGAIN;
 *  - SO_RCVTIMEO 300 ms -> EAGAIN after >= 250 ms;
 *  - SO_RCVTIMEO {0,0} = wait forever (reads back {0,0}; a thread sends after 500 ms and the
 *    blocked recv returns it);
 *  - (beyond the list, upstream receiver.c relies on it, bp-socket-api.md 3.4) a signal
 *    handler installed with SA_RESTART still ends a blocking recv with EINTR.
 *
 * Built with -O2 -D_FORTIFY_SOURCE=2 and non-constant lengths (DYN) so that the binary calls
 * __recv_chk, __recvfrom_chk and __read_chk (the runner checks the imports); a few calls use
 * constant lengths to exercise the plain recv/recvfrom/read symbols too.
 */
#include "harness.h"

#include <signal.h>
#include <sys/time.h>

static int r, s; /* receiver ipn:1.400, sender ipn:1.401 */

static void fill_marked(char *p, size_t n, char mark)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (char)(mark + (char)(i % 23));
}

static void on_alarm(int sig)
{
    (void)sig;
}

static void set_rcvtimeo(int fd, long sec, long usec)
{
    struct timeval tv = {sec, usec};
    CHECK_OK(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv),
             "setsockopt SO_RCVTIMEO {%ld,%ld}", sec, usec);
}

int main(int argc, char **argv)
{
    (void)argv;
    harness_test_name = "test_recv";
    r = BOUND_SOCKET(1, 400);
    s = BOUND_SOCKET(1, 401);
    char payload[1000];
    fill_marked(payload, sizeof payload, 'A');
    /* a non-constant length derived from argc, for the fortified calls */
    size_t extra = (size_t)(argc - 1);

    section("recvmsg: payload, msg_name = source sockaddr_bp, msg_namelen 16, msg_flags 0");
    {
        SEND(s, 1, 400, payload, 300, 0);
        char buf[2048];
        struct sockaddr_bp from;
        struct iovec iov = {buf, sizeof buf};
        struct msghdr m;
        memset(buf, 0xEE, sizeof buf);
        memset(&from, 0xA5, sizeof from);
        memset(&m, 0, sizeof m);
        m.msg_name = &from;
        m.msg_namelen = sizeof from;
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        m.msg_flags = -1;
        CHECK(wait_readable(r, 3000), "ADU arrived (poll)");
        ssize_t n = recvmsg(r, &m, 0);
        CHECK_EQ(n, 300, "recvmsg length");
        CHECK(memcmp(buf, payload, 300) == 0, "recvmsg payload bytes");
        CHECK((unsigned char)buf[300] == 0xEE, "recvmsg wrote nothing past the payload");
        CHECK_ADDR(&from, m.msg_namelen, 1, 401, "recvmsg msg_name");
        CHECK_EQ(m.msg_flags, 0, "recvmsg msg_flags");
    }
    {
        /* msg_namelen larger than 16 (sockaddr_storage) comes back as 16; 2 iovecs scatter */
        SEND(s, 1, 400, payload, 100, 0);
        char b1[30], b2[200];
        struct sockaddr_storage ss;
        struct iovec iov[2] = {{b1, sizeof b1}, {b2, sizeof b2}};
        struct msghdr m;
        memset(&m, 0, sizeof m);
        memset(&ss, 0, sizeof ss);
        m.msg_name = &ss;
        m.msg_namelen = sizeof ss;
        m.msg_iov = iov;
        m.msg_iovlen = 2;
        CHECK(wait_readable(r, 3000), "ADU arrived (poll)");
        ssize_t n = recvmsg(r, &m, 0);
        CHECK_EQ(n, 100, "recvmsg into 2 iovecs: length");
        CHECK(memcmp(b1, payload, 30) == 0 && memcmp(b2, payload + 30, 70) == 0,
              "recvmsg scatters the payload over 2 iovecs");
        CHECK_ADDR((struct sockaddr_bp *)&ss, m.msg_namelen, 1, 401,
                   "recvmsg msg_name (sockaddr_storage)");
    }

    section("recvfrom: source address, addrlen 16 (fortified and plain)");
    {
        SEND(s, 1, 400, payload, 500, 0);
        char buf[1024];
        struct sockaddr_bp from;
        socklen_t flen = sizeof from;
        memset(buf, 0xEE, sizeof buf);
        CHECK(wait_readable(r, 3000), "ADU arrived (poll)");
        ssize_t n = recvfrom(r, buf, DYN(sizeof buf) - extra, 0, (struct sockaddr *)&from,
                             &flen); /* __recvfrom_chk */
        CHECK_EQ(n, 500, "recvfrom length");
        CHECK(memcmp(buf, payload, 500) == 0 && (unsigned char)buf[500] == 0xEE,
              "recvfrom payload bytes exact");
        CHECK_ADDR(&from, flen, 1, 401, "recvfrom source");

        SEND(s, 1, 400, payload + 1, 20, 0);
        CHECK(wait_readable(r, 3000), "ADU arrived (poll)");
        flen = sizeof from;
        memset(&from, 0, sizeof from);
        n = recvfrom(r, buf, 100, 0, (struct sockaddr *)&from, &flen); /* plain recvfrom */
        CHECK_EQ(n, 20, "recvfrom (constant length) length");
        CHECK(memcmp(buf, payload + 1, 20) == 0, "recvfrom (constant length) payload");
        CHECK_ADDR(&from, flen, 1, 401, "recvfrom (constant length) source");

        SEND(s, 1, 400, payload + 2, 21, 0);
        CHECK(wait_readable(r, 3000), "ADU arrived (poll)");
        n = recvfrom(r, buf, DYN(sizeof buf), 0, NULL, NULL);
        CHECK(n == 21 && memcmp(buf, payload + 2, 21) == 0, "recvfrom with NULL address");
    }

    section("recv() and read() return the payload only");
    {
        char buf[1024];
        SEND(s, 1, 400, payload, 777, 0);
        CHECK(wait_readable(r, 3000), "ADU arrived (poll)");
        memset(buf, 0xEE, sizeof buf);
        ssize_t n = recv(r, buf, DYN(sizeof buf), 0); /* __recv_chk */
        CHECK_EQ(n, 777, "recv length");
        CHECK(memcmp(buf, payload, 777) == 0, "recv payload bytes exact");
        CHECK((unsigned char)buf[777] == 0xEE, "recv wrote nothing past the payload");

        SEND(s, 1, 400, payload + 5, 333, 0);
        CHECK(wait_readable(r, 3000), "ADU arrived (poll)");
        memset(buf, 0xEE, sizeof buf);
        n = read(r, buf, DYN(sizeof buf) - extra); /* __read_chk */
        CHECK_EQ(n, 333, "read length");
        CHECK(memcmp(buf, payload + 5, 333) == 0, "read payload bytes exact");
        CHECK((unsigned char)buf[333] == 0xEE, "read wrote nothing past the payload");

        SEND(s, 1, 400, "plain recv", 10, 0);
        CHECK(wait_readable(r, 3000), "ADU arrived (poll)");
        memset(buf, 0xEE, sizeof buf);
        n = recv(r, buf, 64, 0); /* plain recv */
        CHECK(n == 10 && memcmp(buf, "plain recv", 10) == 0 && (unsigned char)buf[10] == 0xEE,
              "recv (constant length) payload exact (got %zd)", n);

        SEND(s, 1, 400, "plain read", 10, 0);
        CHECK(wait_readable(r, 3000), "ADU arrived (poll)");
        memset(buf, 0xEE, sizeof buf);
        n = read(r, buf, 64); /* plain read */
        CHECK(n == 10 && memcmp(buf, "plain read", 10) == 0 && (unsigned char)buf[10] == 0xEE,
              "read (constant length) payload exact (got %zd)", n);

        /* one byte ADUs: nothing but the byte */
        SEND(s, 1, 400, "Z", 1, 0);
        CHECK(wait_readable(r, 3000), "ADU arrived (poll)");
        memset(buf, 0xEE, sizeof buf);
        n = read(r, buf, DYN(sizeof buf));
        CHECK(n == 1 && buf[0] == 'Z' && (unsigned char)buf[1] == 0xEE,
              "read of a 1-byte ADU (got %zd)", n);
    }

    section("MSG_PEEK|MSG_TRUNC returns the full length without consuming");
    {
        SEND(s, 1, 400, payload, 1000, 0);
        CHECK(wait_readable(r, 3000), "ADU arrived (poll)");
        char small[4];
        ssize_t n = recv(r, small, DYN(sizeof small), MSG_PEEK | MSG_TRUNC);
        CHECK_EQ(n, 1000, "recv(4-byte buffer, MSG_PEEK|MSG_TRUNC)");
        CHECK(memcmp(small, payload, 4) == 0, "peeked bytes are the payload's first 4");
        /* a 0-length iovec through recvmsg, with the source address */
        struct sockaddr_bp from;
        struct iovec iov = {small, 0};
        struct msghdr m;
        memset(&m, 0, sizeof m);
        m.msg_name = &from;
        m.msg_namelen = sizeof from;
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        n = recvmsg(r, &m, MSG_PEEK | MSG_TRUNC);
        CHECK_EQ(n, 1000, "recvmsg(0-length iovec, MSG_PEEK|MSG_TRUNC)");
        CHECK_ADDR(&from, m.msg_namelen, 1, 401, "source under MSG_PEEK");
        /* plain MSG_PEEK with room */
        char buf[2000];
        n = recv(r, buf, DYN(sizeof buf), MSG_PEEK);
        CHECK(n == 1000 && memcmp(buf, payload, 1000) == 0, "recv(MSG_PEEK) full (got %zd)", n);
        /* now consume: same ADU */
        memset(buf, 0, sizeof buf);
        n = recv(r, buf, DYN(sizeof buf), 0);
        CHECK(n == 1000 && memcmp(buf, payload, 1000) == 0,
              "the recv after the peeks gets the same ADU (got %zd)", n);
        char b1[8];
        CHECK_ERR(recv(r, b1, DYN(sizeof b1), MSG_DONTWAIT), EAGAIN,
                  "queue empty after consuming the peeked ADU");
    }

    section("too-small buffer: what fits, MSG_TRUNC in msg_flags, rest discarded, next ADU next");
    {
        SEND(s, 1, 400, payload, 100, 0);
        SEND(s, 1, 400, "next one", 8, 0);
        SEND(s, 1, 400, payload + 50, 60, 0);
        SEND(s, 1, 400, "after recv", 10, 0);
        SEND(s, 1, 400, payload + 70, 80, 0);
        SEND(s, 1, 400, "after read", 10, 0);
        char small[10];
        struct iovec iov = {small, sizeof small};
        struct msghdr m;
        memset(&m, 0, sizeof m);
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        CHECK(wait_readable(r, 3000), "ADU arrived (poll)");
        ssize_t n = recvmsg(r, &m, 0);
        CHECK_EQ(n, 10, "recvmsg of a 100-byte ADU into 10 bytes returns what fits");
        CHECK(memcmp(small, payload, 10) == 0, "truncated bytes are the payload's first 10");
        CHECK(m.msg_flags & MSG_TRUNC, "MSG_TRUNC set in msg_flags (msg_flags %#x)",
              m.msg_flags);
        EXPECT_ADU(r, "next one", 1, 401);

        CHECK(wait_readable(r, 3000), "ADU arrived (poll)");
        n = recv(r, small, DYN(sizeof small), 0);
        CHECK(n == 10 && memcmp(small, payload + 50, 10) == 0,
              "recv of a 60-byte ADU into 10 bytes gets the first 10 (got %zd)", n);
        EXPECT_ADU(r, "after recv", 1, 401);

        CHECK(wait_readable(r, 3000), "ADU arrived (poll)");
        n = read(r, small, DYN(sizeof small));
        CHECK(n == 10 && memcmp(small, payload + 70, 10) == 0,
              "read of an 80-byte ADU into 10 bytes gets the first 10 (got %zd)", n);
        EXPECT_ADU(r, "after read", 1, 401);
    }

    section("empty queue: MSG_DONTWAIT -> EAGAIN");
    {
        char buf[64];
        struct sockaddr_bp from;
        socklen_t flen = sizeof from;
        CHECK_ERR(recv(r, buf, DYN(sizeof buf), MSG_DONTWAIT), EAGAIN, "recv MSG_DONTWAIT");
        CHECK_ERR(recvfrom(r, buf, DYN(sizeof buf), MSG_DONTWAIT, (struct sockaddr *)&from,
                           &flen),
                  EAGAIN, "recvfrom MSG_DONTWAIT");
        struct iovec iov = {buf, sizeof buf};
        struct msghdr m;
        memset(&m, 0, sizeof m);
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        CHECK_ERR(recvmsg(r, &m, MSG_DONTWAIT), EAGAIN, "recvmsg MSG_DONTWAIT");
    }

    section("empty queue: O_NONBLOCK -> EAGAIN");
    {
        char buf[64];
        int fl = fcntl(r, F_GETFL);
        CHECK_OK(fcntl(r, F_SETFL, fl | O_NONBLOCK), "fcntl F_SETFL O_NONBLOCK");
        CHECK((fcntl(r, F_GETFL) & O_NONBLOCK) != 0, "F_GETFL shows O_NONBLOCK");
        long long t0 = now_ms();
        CHECK_ERR(recv(r, buf, DYN(sizeof buf), 0), EAGAIN, "recv on O_NONBLOCK");
        CHECK_ERR(read(r, buf, DYN(sizeof buf)), EAGAIN, "read on O_NONBLOCK");
        CHECK_ERR(recvfrom(r, buf, DYN(sizeof buf), 0, NULL, NULL), EAGAIN,
                  "recvfrom on O_NONBLOCK");
        CHECK(now_ms() - t0 < 200, "O_NONBLOCK receives return at once");
        /* data is still received normally */
        SEND(s, 1, 400, "nonblocking", 11, 0);
        CHECK(wait_readable(r, 3000), "ADU arrived (poll)");
        ssize_t n = read(r, buf, DYN(sizeof buf));
        CHECK(n == 11 && memcmp(buf, "nonblocking", 11) == 0, "read on O_NONBLOCK with data");
        CHECK_OK(fcntl(r, F_SETFL, fl & ~O_NONBLOCK), "fcntl clear O_NONBLOCK");
        int nb = BP_SOCKET(SOCK_NONBLOCK);
        BIND(nb, 1, 402);
        CHECK_ERR(recv(nb, buf, DYN(sizeof buf), 0), EAGAIN, "recv on a SOCK_NONBLOCK socket");
        close(nb);
    }

    section("SO_RCVTIMEO 300 ms -> EAGAIN after >= 250 ms");
    {
        char buf[64];
        set_rcvtimeo(r, 0, 300000);
        struct timeval tv = {-1, -1};
        socklen_t tl = sizeof tv;
        CHECK_OK(getsockopt(r, SOL_SOCKET, SO_RCVTIMEO, &tv, &tl), "getsockopt SO_RCVTIMEO");
        CHECK(tl == sizeof tv && tv.tv_sec == 0 && tv.tv_usec >= 250000 && tv.tv_usec <= 350000,
              "SO_RCVTIMEO reads back about 300 ms ({%ld,%ld})", (long)tv.tv_sec,
              (long)tv.tv_usec);
        long long t0 = now_ms();
        CHECK_ERR(recv(r, buf, DYN(sizeof buf), 0), EAGAIN, "recv with SO_RCVTIMEO 300 ms");
        long long dt = now_ms() - t0;
        CHECK(dt >= 250 && dt < 3000, "recv timed out after %lld ms, want 250..3000", dt);
        t0 = now_ms();
        CHECK_ERR(read(r, buf, DYN(sizeof buf)), EAGAIN, "read with SO_RCVTIMEO 300 ms");
        dt = now_ms() - t0;
        CHECK(dt >= 250 && dt < 3000, "read timed out after %lld ms, want 250..3000", dt);
        t0 = now_ms();
        struct iovec iov = {buf, sizeof buf};
        struct msghdr m;
        memset(&m, 0, sizeof m);
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        CHECK_ERR(recvmsg(r, &m, 0), EAGAIN, "recvmsg with SO_RCVTIMEO 300 ms");
        dt = now_ms() - t0;
        CHECK(dt >= 250 && dt < 3000, "recvmsg timed out after %lld ms, want 250..3000", dt);
    }

    section("SO_RCVTIMEO {0,0} waits forever");
    {
        char buf[64];
        set_rcvtimeo(r, 0, 0);
        struct timeval tv = {-1, -1};
        socklen_t tl = sizeof tv;
        CHECK_OK(getsockopt(r, SOL_SOCKET, SO_RCVTIMEO, &tv, &tl), "getsockopt SO_RCVTIMEO");
        CHECK(tl == sizeof tv && tv.tv_sec == 0 && tv.tv_usec == 0,
              "SO_RCVTIMEO reads back {0,0} (got {%ld,%ld}, len %u)", (long)tv.tv_sec,
              (long)tv.tv_usec, (unsigned)tl);
        struct delayed_send d;
        delayed_send_start(&d, s, 1, 400, "after 500 ms", 500);
        long long t0 = now_ms();
        ssize_t n = recv(r, buf, DYN(sizeof buf), 0);
        long long dt = now_ms() - t0;
        CHECK(n == 12 && memcmp(buf, "after 500 ms", 12) == 0,
              "blocking recv with SO_RCVTIMEO {0,0} returns the ADU sent after 500 ms "
              "(got %zd after %lld ms)", n, dt);
        CHECK(dt >= 400, "the recv blocked until the send (%lld ms)", dt);
        DELAYED_SEND_JOIN(&d);
    }

    section("a signal with SA_RESTART still ends a blocking recv with EINTR (upstream 3.4)");
    {
        char buf[64];
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_alarm;
        sa.sa_flags = SA_RESTART;
        sigemptyset(&sa.sa_mask);
        CHECK_OK(sigaction(SIGALRM, &sa, NULL), "sigaction SIGALRM");
        set_rcvtimeo(r, 5, 0); /* bound the wait if EINTR does not come */
        struct itimerval it = {{0, 0}, {0, 200000}};
        CHECK_OK(setitimer(ITIMER_REAL, &it, NULL), "setitimer");
        long long t0 = now_ms();
        CHECK_ERR(recv(r, buf, DYN(sizeof buf), 0), EINTR,
                  "blocking recv interrupted by SIGALRM (SA_RESTART)");
        long long dt = now_ms() - t0;
        CHECK(dt >= 150 && dt < 4000, "EINTR came with the signal (%lld ms)", dt);
        set_rcvtimeo(r, 0, 0);
    }

    section("the socket still works");
    SEND_STR(s, 1, 400, "the end");
    EXPECT_ADU(r, "the end", 1, 401);

    close(r);
    close(s);
    PASS();
}
