/*
 * harness.h - tiny helpers shared by the bpshim C tests (header only).
 *
 * Every check prints, on failure, one line
 *     FAIL: <check> (errno=<n> <text>) [file:line]
 * on stderr and exits 1; the program prints "PASS <name>" at the end.
 * Include this header before any other (it sets _GNU_SOURCE).
 */
#ifndef BPSHIM_HARNESS_H
#define BPSHIM_HARNESS_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bp_socket.h"

/* A zero the compiler cannot see through: DYN(n) is a non-constant length,
 * so that with -O2 -D_FORTIFY_SOURCE=2 receive calls on fixed-size buffers
 * go through __recv_chk / __recvfrom_chk / __read_chk. */
static volatile size_t harness_zero;
#define DYN(n) ((size_t)(n) + harness_zero)

static const char *harness_test_name = "?";

static inline void harness_fail(const char *file, int line, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5), noreturn));

static inline void harness_fail(const char *file, int line, int err, const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "FAIL: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (errno=%d %s) [%s:%d, %s]\n", err, strerror(err), file, line,
            harness_test_name);
    fflush(stderr);
    exit(1);
}

/* CHECK(cond, "what is checked", ...): fail when cond is false. */
#define CHECK(cond, ...)                                                                  \
    do {                                                                                  \
        if (!(cond))                                                                      \
            harness_fail(__FILE__, __LINE__, errno, __VA_ARGS__);                         \
    } while (0)

/* FAIL(...): fail the test here, with a printf-style message (for checks that compute more
 * than one condition before they know the verdict). */
#define FAIL(...) harness_fail(__FILE__, __LINE__, errno, __VA_ARGS__)

/* CHECK_OK(expr, ...): expr (a syscall-style call) must not return -1. Evaluates to
 * nothing; use CHECK_RET to keep the value. */
#define CHECK_OK(expr, ...)                                                               \
    do {                                                                                  \
        errno = 0;                                                                        \
        long harness_r_ = (long)(expr);                                                   \
        if (harness_r_ < 0)                                                               \
            harness_fail(__FILE__, __LINE__, errno, __VA_ARGS__);                         \
    } while (0)

/* CHECK_RET(var, expr, ...): var = expr, which must not be negative. */
#define CHECK_RET(var, expr, ...)                                                         \
    do {                                                                                  \
        errno = 0;                                                                        \
        (var) = (expr);                                                                   \
        if ((long)(var) < 0)                                                              \
            harness_fail(__FILE__, __LINE__, errno, __VA_ARGS__);                         \
    } while (0)

/* CHECK_ERR(expr, ERRNO, ...): expr must return -1 with errno == ERRNO. */
#define CHECK_ERR(expr, want, ...)                                                        \
    do {                                                                                  \
        errno = 0;                                                                        \
        long harness_r_ = (long)(expr);                                                   \
        int harness_e_ = errno;                                                           \
        if (harness_r_ != -1 || harness_e_ != (want)) {                                   \
            char harness_m_[512];                                                         \
            snprintf(harness_m_, sizeof harness_m_, __VA_ARGS__);                         \
            harness_fail(__FILE__, __LINE__, harness_e_,                                  \
                         "%s: got ret=%ld, want -1 with errno %d (%s)", harness_m_,       \
                         harness_r_, (want), strerror(want));                             \
        }                                                                                 \
    } while (0)

/* CHECK_EQ(a, b, ...): integer equality, prints both values. */
#define CHECK_EQ(a, b, ...)                                                               \
    do {                                                                                  \
        long long harness_a_ = (long long)(a), harness_b_ = (long long)(b);               \
        if (harness_a_ != harness_b_) {                                                   \
            char harness_m_[512];                                                         \
            snprintf(harness_m_, sizeof harness_m_, __VA_ARGS__);                         \
            harness_fail(__FILE__, __LINE__, errno, "%s: got %lld, want %lld",            \
                         harness_m_, harness_a_, harness_b_);                             \
        }                                                                                 \
    } while (0)

#define PASS()                                                                            \
    do {                                                                                  \
        printf("PASS %s\n", harness_test_name);                                           \
        fflush(stdout);                                                                   \
        return 0;                                                                         \
    } while (0)

/* Section headers make the log readable when a check fails. */
static inline void section(const char *what)
{
    printf("-- %s\n", what);
    fflush(stdout);
}

static inline long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

static inline struct sockaddr_bp ipn(uint32_t node, uint32_t service)
{
    struct sockaddr_bp a;
    bp_sockaddr_ipn(&a, node, service);
    return a;
}

/* New AF_BP datagram socket (type flags OR-ed into SOCK_DGRAM); fails the test on error. */
static inline int bp_socket_or_die(int type_flags, const char *file, int line)
{
    errno = 0;
    int fd = socket(AF_BP, SOCK_DGRAM | type_flags, 0);
    if (fd < 0)
        harness_fail(file, line, errno, "socket(AF_BP, SOCK_DGRAM|%#x, 0)", type_flags);
    return fd;
}
#define BP_SOCKET(flags) bp_socket_or_die((flags), __FILE__, __LINE__)

static inline void bind_or_die(int fd, uint32_t node, uint32_t service, const char *file,
                               int line)
{
    struct sockaddr_bp a = ipn(node, service);
    errno = 0;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0)
        harness_fail(file, line, errno, "bind(fd %d, ipn:%u.%u)", fd, node, service);
}
#define BIND(fd, node, service) bind_or_die((fd), (node), (service), __FILE__, __LINE__)

/* New socket bound to ipn:node.service. */
#define BOUND_SOCKET(node, service)                                                       \
    ({                                                                                    \
        int bs_fd_ = BP_SOCKET(0);                                                        \
        BIND(bs_fd_, (node), (service));                                                  \
        bs_fd_;                                                                           \
    })

static inline ssize_t send_to(int fd, uint32_t node, uint32_t service, const void *buf,
                              size_t len, int flags)
{
    struct sockaddr_bp a = ipn(node, service);
    return sendto(fd, buf, len, flags, (struct sockaddr *)&a, sizeof a);
}

/* sendto that must return len. */
static inline void send_or_die(int fd, uint32_t node, uint32_t service, const void *buf,
                               size_t len, int flags, const char *file, int line)
{
    errno = 0;
    ssize_t r = send_to(fd, node, service, buf, len, flags);
    if (r != (ssize_t)len)
        harness_fail(file, line, errno, "sendto(fd %d, ipn:%u.%u, %zu bytes, flags %#x) = %zd",
                     fd, node, service, len, flags, r);
}
#define SEND(fd, node, service, buf, len, flags)                                          \
    send_or_die((fd), (node), (service), (buf), (len), (flags), __FILE__, __LINE__)
#define SEND_STR(fd, node, service, s) SEND((fd), (node), (service), (s), strlen(s), 0)

/* Wait up to timeout_ms for fd to become readable (poll). Returns 1 if readable. */
static inline int wait_readable(int fd, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    long long end = now_ms() + timeout_ms;
    for (;;) {
        long long left = end - now_ms();
        if (left < 0)
            left = 0;
        int r = poll(&p, 1, (int)left);
        if (r > 0 && (p.revents & POLLIN))
            return 1;
        if (r < 0 && errno != EINTR)
            return 0;
        if (left == 0)
            return 0;
    }
}

/* Receive one ADU (waiting up to timeout_ms with poll, then recvfrom with MSG_DONTWAIT).
 * Fails the test if nothing arrives. Returns the length; *src (if not NULL) gets the source. */
static inline ssize_t recv_adu(int fd, void *buf, size_t cap, struct sockaddr_bp *src,
                               int timeout_ms, const char *file, int line)
{
    long long end = now_ms() + timeout_ms;
    for (;;) {
        struct sockaddr_bp from;
        socklen_t flen = sizeof from;
        memset(&from, 0, sizeof from);
        errno = 0;
        ssize_t r = recvfrom(fd, buf, cap, MSG_DONTWAIT, (struct sockaddr *)&from, &flen);
        if (r >= 0) {
            if (src) {
                if (flen != sizeof(struct sockaddr_bp))
                    harness_fail(file, line, 0, "recvfrom on fd %d: addrlen %u, want 16", fd,
                                 (unsigned)flen);
                *src = from;
            }
            return r;
        }
        if (errno != EAGAIN && errno != EINTR)
            harness_fail(file, line, errno, "recvfrom(fd %d, MSG_DONTWAIT)", fd);
        long long left = end - now_ms();
        if (left <= 0)
            harness_fail(file, line, ETIMEDOUT, "no ADU arrived on fd %d within %d ms", fd,
                         timeout_ms);
        wait_readable(fd, (int)(left > 100 ? 100 : left));
    }
}
#define RECV(fd, buf, cap, src) recv_adu((fd), (buf), (cap), (src), 3000, __FILE__, __LINE__)

/* Receive one ADU and check it equals the string s (and comes from src_node.src_svc if
 * src_node != 0). */
static inline void expect_adu(int fd, const char *s, uint32_t src_node, uint32_t src_svc,
                              const char *file, int line)
{
    char buf[65536];
    struct sockaddr_bp from;
    ssize_t r = recv_adu(fd, buf, sizeof buf, &from, 3000, file, line);
    size_t n = strlen(s);
    if ((size_t)r != n || memcmp(buf, s, n) != 0)
        harness_fail(file, line, 0, "fd %d: received %zd bytes \"%.*s\", want %zu bytes \"%s\"",
                     fd, r, (int)(r > 80 ? 80 : r), buf, n, s);
    if (src_node != 0) {
        if (from.bp_family != AF_BP || from.bp_scheme != BP_SCHEME_IPN ||
            from.bp_addr.ipn.node_id != src_node || from.bp_addr.ipn.service_id != src_svc)
            harness_fail(file, line, 0,
                         "fd %d: \"%s\" came from family %u scheme %d ipn:%u.%u, want ipn:%u.%u",
                         fd, s, from.bp_family, (int)from.bp_scheme, from.bp_addr.ipn.node_id,
                         from.bp_addr.ipn.service_id, src_node, src_svc);
    }
}
#define EXPECT_ADU(fd, s, node, svc) expect_adu((fd), (s), (node), (svc), __FILE__, __LINE__)

/* Nothing arrives on fd within ms milliseconds. */
static inline void expect_nothing(int fd, int ms, const char *file, int line)
{
    char buf[256];
    if (wait_readable(fd, ms)) {
        errno = 0;
        ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (r >= 0)
            harness_fail(file, line, 0,
                         "fd %d: expected no ADU, but received %zd bytes \"%.*s\"", fd, r,
                         (int)(r > 60 ? 60 : r), buf);
        if (errno != EAGAIN)
            harness_fail(file, line, errno, "fd %d: recv(MSG_DONTWAIT) after poll", fd);
    }
    errno = 0;
    ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (r != -1 || errno != EAGAIN)
        harness_fail(file, line, errno, "fd %d: recv(MSG_DONTWAIT) = %zd, want -1/EAGAIN", fd,
                     r);
}
#define EXPECT_NOTHING(fd, ms) expect_nothing((fd), (ms), __FILE__, __LINE__)

static inline void check_addr(const struct sockaddr_bp *a, socklen_t len, uint32_t node,
                              uint32_t service, const char *what, const char *file, int line)
{
    if (len != sizeof(struct sockaddr_bp))
        harness_fail(file, line, 0, "%s: address length %u, want 16", what, (unsigned)len);
    if (a->bp_family != AF_BP || a->bp_scheme != BP_SCHEME_IPN ||
        a->bp_addr.ipn.node_id != node || a->bp_addr.ipn.service_id != service)
        harness_fail(file, line, 0, "%s: family %u scheme %d ipn:%u.%u, want %u/%d ipn:%u.%u",
                     what, a->bp_family, (int)a->bp_scheme, a->bp_addr.ipn.node_id,
                     a->bp_addr.ipn.service_id, AF_BP, BP_SCHEME_IPN, node, service);
}
#define CHECK_ADDR(a, len, node, svc, what)                                               \
    check_addr((a), (len), (node), (svc), (what), __FILE__, __LINE__)

/* getsockname must succeed and show ipn:node.service. */
static inline void check_sockname(int fd, uint32_t node, uint32_t service, const char *file,
                                  int line)
{
    struct sockaddr_bp a;
    socklen_t len = sizeof a;
    memset(&a, 0xA5, sizeof a);
    errno = 0;
    if (getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        harness_fail(file, line, errno, "getsockname(fd %d)", fd);
    char what[64];
    snprintf(what, sizeof what, "getsockname(fd %d)", fd);
    check_addr(&a, len, node, service, what, file, line);
}
#define CHECK_SOCKNAME(fd, node, svc) check_sockname((fd), (node), (svc), __FILE__, __LINE__)

/* getsockname shows an unbound socket: family AF_BP, node 0, service 0. */
static inline void check_unbound(int fd, const char *file, int line)
{
    struct sockaddr_bp a;
    socklen_t len = sizeof a;
    memset(&a, 0xA5, sizeof a);
    errno = 0;
    if (getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        harness_fail(file, line, errno, "getsockname(fd %d) of an unbound socket", fd);
    if (len != sizeof a || a.bp_family != AF_BP || a.bp_addr.ipn.node_id != 0 ||
        a.bp_addr.ipn.service_id != 0)
        harness_fail(file, line, 0,
                     "getsockname(fd %d) of an unbound socket: len %u family %u ipn:%u.%u, "
                     "want len 16 family %u node 0 service 0",
                     fd, (unsigned)len, a.bp_family, a.bp_addr.ipn.node_id,
                     a.bp_addr.ipn.service_id, AF_BP);
}
#define CHECK_UNBOUND(fd) check_unbound((fd), __FILE__, __LINE__)

/* Deterministic byte pattern. */
static inline void fill_pattern(unsigned char *p, size_t n, uint32_t seed)
{
    uint32_t x = seed * 2654435761u + 12345u;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (unsigned char)(x >> 24);
    }
}

/* Index of the first byte that differs from the pattern, or -1. */
static inline long check_pattern(const unsigned char *p, size_t n, uint32_t seed)
{
    uint32_t x = seed * 2654435761u + 12345u;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        if (p[i] != (unsigned char)(x >> 24))
            return (long)i;
    }
    return -1;
}

/* A thread that sends one ADU after a delay (to wake a caller that is already asleep). */
struct delayed_send {
    pthread_t thread;
    int fd;
    uint32_t node, service;
    long delay_ms;
    char text[128];
    ssize_t result;
    int err;
};

static void *delayed_send_main(void *arg)
{
    struct delayed_send *d = arg;
    sleep_ms(d->delay_ms);
    errno = 0;
    d->result = send_to(d->fd, d->node, d->service, d->text, strlen(d->text), 0);
    d->err = errno;
    return NULL;
}

static inline void delayed_send_start(struct delayed_send *d, int fd, uint32_t node,
                                      uint32_t service, const char *text, long delay_ms)
{
    memset(d, 0, sizeof *d);
    d->fd = fd;
    d->node = node;
    d->service = service;
    d->delay_ms = delay_ms;
    snprintf(d->text, sizeof d->text, "%s", text);
    int e = pthread_create(&d->thread, NULL, delayed_send_main, d);
    if (e != 0)
        harness_fail(__FILE__, __LINE__, e, "pthread_create");
}

static inline void delayed_send_join(struct delayed_send *d, const char *file, int line)
{
    pthread_join(d->thread, NULL);
    if (d->result != (ssize_t)strlen(d->text))
        harness_fail(file, line, d->err, "delayed sendto of \"%s\" from a thread returned %zd",
                     d->text, d->result);
}
#define DELAYED_SEND_JOIN(d) delayed_send_join((d), __FILE__, __LINE__)

/* Port base handed out by scripts/run-c-tests.sh (unique per test), or 0. */
static inline int port_base(void)
{
    const char *s = getenv("BPT_PORT_BASE");
    return s ? atoi(s) : 0;
}

#endif /* BPSHIM_HARNESS_H */
