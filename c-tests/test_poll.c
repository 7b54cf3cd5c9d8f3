/*
 * test_poll: contract item "poll/select/epoll".
 *  - not readable when empty; readable as soon as an ADU is queued;
 *  - a caller already asleep is woken: a thread sends after 200 ms while the main thread
 *    sleeps in poll (5 s timeout), in select, in epoll_wait level-triggered and EPOLLET;
 *  - writable (POLLOUT) on an idle socket (bound and unbound).
 * Also calls poll with a non-constant nfds once, so the fortified __poll_chk path is used.
 */
#include "harness.h"

#include <sys/epoll.h>
#include <sys/select.h>

static int r, s; /* receiver ipn:1.700, sender ipn:1.701 */

static void drain(int fd, const char *want)
{
    char buf[256];
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    CHECK(n == (ssize_t)strlen(want) && memcmp(buf, want, (size_t)n) == 0,
          "read back \"%s\" after the wakeup (got %zd)", want, n);
    CHECK_ERR(recv(fd, buf, sizeof buf, MSG_DONTWAIT), EAGAIN, "queue empty after draining");
}

/* elapsed time of a wakeup caused by a send 200 ms after the start */
static void check_wake_time(long long dt, const char *what)
{
    CHECK(dt >= 150 && dt < 4000, "%s woke after %lld ms, want about 200 ms", what, dt);
}

int main(void)
{
    harness_test_name = "test_poll";
    r = BOUND_SOCKET(1, 700);
    s = BOUND_SOCKET(1, 701);
    struct pollfd p;

    section("poll: empty socket is not readable, but writable");
    p = (struct pollfd){.fd = r, .events = POLLIN};
    CHECK_EQ(poll(&p, 1, 0), 0, "poll(POLLIN, 0) on an empty socket");
    p = (struct pollfd){.fd = r, .events = POLLIN};
    long long t0 = now_ms();
    CHECK_EQ(poll(&p, 1, 300), 0, "poll(POLLIN, 300 ms) on an empty socket");
    CHECK(now_ms() - t0 >= 250, "poll waited its timeout");
    p = (struct pollfd){.fd = r, .events = POLLIN | POLLOUT};
    CHECK_EQ(poll(&p, 1, 0), 1, "poll(POLLIN|POLLOUT, 0) on an idle socket");
    CHECK(p.revents == POLLOUT, "idle socket: revents %#x, want POLLOUT only", p.revents);
    {
        int u = BP_SOCKET(0);
        p = (struct pollfd){.fd = u, .events = POLLIN | POLLOUT};
        CHECK_EQ(poll(&p, 1, 0), 1, "poll(POLLIN|POLLOUT, 0) on an unbound socket");
        CHECK(p.revents == POLLOUT, "unbound socket: revents %#x, want POLLOUT only",
              p.revents);
        close(u);
    }

    section("poll: readable as soon as an ADU is queued");
    SEND_STR(s, 1, 700, "queued");
    p = (struct pollfd){.fd = r, .events = POLLIN};
    CHECK_EQ(poll(&p, 1, 3000), 1, "poll(POLLIN, 3 s) after a send");
    CHECK(p.revents & POLLIN, "revents %#x has POLLIN", p.revents);
    p = (struct pollfd){.fd = r, .events = POLLIN};
    CHECK_EQ(poll(&p, DYN(1), 0), 1, "poll (__poll_chk) still readable before reading");
    drain(r, "queued");
    p = (struct pollfd){.fd = r, .events = POLLIN};
    CHECK_EQ(poll(&p, 1, 0), 0, "not readable after reading the only ADU");

    section("poll: a sleeping caller is woken by an arrival");
    {
        struct delayed_send d;
        delayed_send_start(&d, s, 1, 700, "wake poll", 200);
        p = (struct pollfd){.fd = r, .events = POLLIN};
        t0 = now_ms();
        int n = poll(&p, 1, 5000);
        long long dt = now_ms() - t0;
        CHECK(n == 1 && (p.revents & POLLIN), "poll(5 s) woke with POLLIN (n %d revents %#x)",
              n, p.revents);
        check_wake_time(dt, "poll");
        DELAYED_SEND_JOIN(&d);
        drain(r, "wake poll");
    }
    {
        /* with the socket among other fds, and __poll_chk */
        int pfd[2];
        CHECK_OK(pipe(pfd), "pipe");
        struct pollfd ps[3] = {{pfd[0], POLLIN, 0}, {r, POLLIN, 0}, {pfd[1], 0, 0}};
        struct delayed_send d;
        delayed_send_start(&d, s, 1, 700, "wake poll 3", 200);
        t0 = now_ms();
        int n = poll(ps, DYN(3), 5000);
        long long dt = now_ms() - t0;
        CHECK(n == 1 && ps[1].revents == POLLIN && ps[0].revents == 0,
              "poll over 3 fds woke with POLLIN on the AF_BP socket only (n %d revents %#x)", n,
              ps[1].revents);
        check_wake_time(dt, "poll over 3 fds");
        DELAYED_SEND_JOIN(&d);
        drain(r, "wake poll 3");
        close(pfd[0]);
        close(pfd[1]);
    }

    section("select: not readable when empty, woken by an arrival, writable");
    {
        fd_set rd, wr;
        struct timeval tv = {0, 0};
        FD_ZERO(&rd);
        FD_SET(r, &rd);
        CHECK_EQ(select(r + 1, &rd, NULL, NULL, &tv), 0, "select(readable, 0) on empty");
        FD_ZERO(&wr);
        FD_SET(r, &wr);
        tv = (struct timeval){0, 0};
        CHECK_EQ(select(r + 1, NULL, &wr, NULL, &tv), 1, "select(writable, 0) on idle socket");
        CHECK(FD_ISSET(r, &wr), "FD_ISSET writable");

        struct delayed_send d;
        delayed_send_start(&d, s, 1, 700, "wake select", 200);
        FD_ZERO(&rd);
        FD_SET(r, &rd);
        tv = (struct timeval){5, 0};
        t0 = now_ms();
        int n = select(r + 1, &rd, NULL, NULL, &tv);
        long long dt = now_ms() - t0;
        CHECK(n == 1 && FD_ISSET(r, &rd), "select(5 s) woke with the socket readable (n %d)",
              n);
        check_wake_time(dt, "select");
        DELAYED_SEND_JOIN(&d);
        drain(r, "wake select");
    }

    section("epoll level-triggered");
    {
        int ep = epoll_create1(EPOLL_CLOEXEC);
        CHECK(ep >= 0, "epoll_create1");
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 42};
        CHECK_OK(epoll_ctl(ep, EPOLL_CTL_ADD, r, &ev), "epoll_ctl ADD EPOLLIN");
        struct epoll_event out[4];
        CHECK_EQ(epoll_wait(ep, out, 4, 0), 0, "epoll_wait(0) on an empty socket");

        struct delayed_send d;
        delayed_send_start(&d, s, 1, 700, "wake epoll", 200);
        t0 = now_ms();
        int n = epoll_wait(ep, out, 4, 5000);
        long long dt = now_ms() - t0;
        CHECK(n == 1 && (out[0].events & EPOLLIN) && out[0].data.u64 == 42,
              "epoll_wait(5 s) woke with EPOLLIN (n %d events %#x)", n, n > 0 ? out[0].events : 0);
        check_wake_time(dt, "epoll_wait (level-triggered)");
        DELAYED_SEND_JOIN(&d);
        CHECK_EQ(epoll_wait(ep, out, 4, 0), 1, "level-triggered: still ready before reading");
        drain(r, "wake epoll");
        CHECK_EQ(epoll_wait(ep, out, 4, 0), 0, "level-triggered: not ready after reading");

        ev.events = EPOLLIN | EPOLLOUT;
        CHECK_OK(epoll_ctl(ep, EPOLL_CTL_MOD, r, &ev), "epoll_ctl MOD EPOLLIN|EPOLLOUT");
        n = epoll_wait(ep, out, 4, 0);
        CHECK(n == 1 && out[0].events == EPOLLOUT, "epoll: idle socket is EPOLLOUT only "
                                                    "(n %d events %#x)", n,
              n > 0 ? out[0].events : 0);
        close(ep);
    }

    section("epoll edge-triggered (EPOLLET): every arrival wakes a sleeping caller");
    {
        int ep = epoll_create1(0);
        CHECK(ep >= 0, "epoll_create1");
        struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u64 = 7};
        CHECK_OK(epoll_ctl(ep, EPOLL_CTL_ADD, r, &ev), "epoll_ctl ADD EPOLLIN|EPOLLET");
        struct epoll_event out[4];
        CHECK_EQ(epoll_wait(ep, out, 4, 0), 0, "epoll_wait(0) on an empty socket (ET)");
        for (int round = 0; round < 3; round++) {
            char text[32];
            snprintf(text, sizeof text, "wake epollet %d", round);
            struct delayed_send d;
            delayed_send_start(&d, s, 1, 700, text, 200);
            t0 = now_ms();
            int n = epoll_wait(ep, out, 4, 5000);
            long long dt = now_ms() - t0;
            CHECK(n == 1 && (out[0].events & EPOLLIN),
                  "EPOLLET round %d: epoll_wait(5 s) woke with EPOLLIN (n %d)", round, n);
            check_wake_time(dt, "epoll_wait (EPOLLET)");
            DELAYED_SEND_JOIN(&d);
            drain(r, text); /* read until EAGAIN, as ET users do */
        }
        close(ep);
    }

    close(r);
    close(s);
    PASS();
}
