/*
 * bpxchg - two-node exchange test: run one instance per node at the same time.
 *
 *   bpxchg <local_node> <peer_node> <count>
 *
 * Binds ipn:<local>.7 and exchanges <count> ADUs with ipn:<peer>.7 in both directions at
 * once, on one nonblocking socket driven by poll(POLLIN|POLLOUT).
 *
 * ADU i (i = 0 .. count-1) sent by node n:
 *   - size f(i): f(0) = 1, f(count-1) = 61440, the others pseudo-random but deterministic
 *     (the same function on both sides): 1/8 of them 1..7 bytes, 1/8 near 60 KiB, the rest
 *     uniform in 1..61440;
 *   - content: a byte stream seeded by (n, i). When f(i) >= 8 the first 8 bytes are replaced
 *     by i (u32 little endian) and n (u32 little endian), so the receiver reads the index.
 *   - ADUs of 1..7 bytes carry no index: the receiver identifies them by searching the
 *     not-yet-received indices near the lowest missing one (a window of 64) for one with that
 *     size whose content matches the (peer, j) stream. Over UDP loopback datagrams arrive in
 *     order in practice, so this finds the right one; a reordering could at worst make the
 *     run fail (reported as a content mismatch or a missing index), never pass wrongly:
 *     every index must be received exactly once.
 *
 * Start-up: the two processes start at about the same time, and a bundle sent before the
 * peer's UDP convergence layer is listening is lost (the UDP CL has no retransmission). So
 * each side first sends a 12-byte SYNC ADU (index 0xFFFFFFFF, node, "SYNC") every 100 ms
 * until it has received anything from the peer; SYNC ADUs are otherwise ignored.
 *
 * Flow control: ADU i is sent only while i - (number received from the peer) < WINDOW
 * (8, or BPXCHG_WINDOW), because the UDP convergence layer has no flow control and loopback
 * drops datagrams when a socket buffer overflows.
 *
 * Every received ADU is verified: source EID == ipn:<peer>.7, size, content, no duplicate;
 * the run ends when count have been sent and count received (none missing). Then it sleeps
 * 1 s (the peer may still be receiving; nothing more is sent) and prints
 *   bpxchg: sent N received N ok
 * and exits 0. A failed check exits 1 at once ("FAIL: ..."); no progress for 10 s exits 1
 * with a summary ("bpxchg: STALL ...").
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bp_socket.h"

#define SERVICE 7
#define MAX_SIZE 61440
#define HDR 8
#define SYNC_INDEX 0xFFFFFFFFu
#define SYNC_SIZE 12
#define STALL_MS 10000
#define SMALL_SEARCH 64

static uint32_t local_node, peer_node, count;
static unsigned window = 8;
static unsigned char *got;

/* ADU `sent` may go while it is less than `window` ahead of what came from the peer. */
#define MAY_SEND() (sent < count && (long long)sent - (long long)received < (long long)window)
static uint32_t sent, received, lowest_missing, highest_seen, out_of_order, syncs_ignored;
static unsigned long long bytes_sent, bytes_received;
static long long t_start;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint32_t mix(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

static size_t adu_size(uint32_t i)
{
    if (i == 0)
        return 1;
    if (i == count - 1)
        return MAX_SIZE;
    uint32_t h = mix(i ^ 0x9e3779b9u);
    switch (h & 7) {
    case 0:
        return 1 + (h >> 8) % 7;
    case 1:
        return MAX_SIZE - (h >> 8) % 64;
    default:
        return 1 + (h >> 8) % MAX_SIZE;
    }
}

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The content of ADU i from node n, into p (n bytes = adu_size(i)). */
static size_t make_adu(unsigned char *p, uint32_t node, uint32_t i)
{
    size_t len = adu_size(i);
    uint32_t x = mix(node * 0x10001u + 0x51u) ^ mix(i + 1u);
    if (x == 0)
        x = 1;
    for (size_t k = 0; k < len; k++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[k] = (unsigned char)(x >> 24);
    }
    if (len >= HDR) {
        put32(p, i);
        put32(p + 4, node);
    }
    return len;
}

static void summary(const char *what)
{
    long long dt = now_ms() - t_start;
    fprintf(stderr,
            "bpxchg ipn:%u.%d: %s: sent %u/%u (%llu bytes) received %u/%u (%llu bytes) in "
            "%lld ms; out of order %u, SYNC ignored %u\n",
            local_node, SERVICE, what, sent, count, bytes_sent, received, count,
            bytes_received, dt, out_of_order, syncs_ignored);
    if (received < count) {
        fprintf(stderr, "bpxchg: missing from ipn:%u.%d:", peer_node, SERVICE);
        unsigned shown = 0;
        for (uint32_t j = 0; j < count && shown < 20; j++)
            if (!got[j]) {
                fprintf(stderr, " %u(%zu B)", j, adu_size(j));
                shown++;
            }
        fprintf(stderr, "%s\n", received + shown < count ? " ..." : "");
    }
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
    va_list ap;
    int e = errno;
    fprintf(stderr, "FAIL: bpxchg ipn:%u.%d: ", local_node, SERVICE);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (errno=%d %s)\n", e, strerror(e));
    summary("failed");
    exit(1);
}

static void mark(uint32_t idx)
{
    got[idx] = 1;
    received++;
    if (received > 1 && idx != highest_seen + 1)
        out_of_order++;
    if (idx > highest_seen || received == 1)
        highest_seen = idx;
    while (lowest_missing < count && got[lowest_missing])
        lowest_missing++;
}

/* Returns 1 if the ADU was a data ADU (progress), 0 if a SYNC. */
static int handle(const unsigned char *p, size_t len, const struct sockaddr_bp *src,
                  socklen_t srclen, int msg_flags, unsigned char *scratch)
{
    if (srclen != sizeof(struct sockaddr_bp) || src->bp_family != AF_BP ||
        src->bp_scheme != BP_SCHEME_IPN || src->bp_addr.ipn.node_id != peer_node ||
        src->bp_addr.ipn.service_id != SERVICE)
        fail("ADU of %zu bytes from family %u scheme %d ipn:%u.%u (namelen %u), want "
             "ipn:%u.%d",
             len, src->bp_family, (int)src->bp_scheme, src->bp_addr.ipn.node_id,
             src->bp_addr.ipn.service_id, (unsigned)srclen, peer_node, SERVICE);
    if (msg_flags & MSG_TRUNC)
        fail("ADU truncated (MSG_TRUNC) at %zu bytes", len);
    if (len == 0)
        fail("zero-length ADU received");

    if (len >= HDR) {
        uint32_t idx = get32(p), node = get32(p + 4);
        if (idx == SYNC_INDEX && len == SYNC_SIZE && node == peer_node &&
            memcmp(p + 8, "SYNC", 4) == 0) {
            syncs_ignored++;
            return 0;
        }
        if (node != peer_node)
            fail("ADU of %zu bytes claims node %u (index %u), want %u", len, node, idx,
                 peer_node);
        if (idx >= count)
            fail("ADU of %zu bytes has index %u >= count %u", len, idx, count);
        if (len != adu_size(idx))
            fail("ADU %u has %zu bytes, want %zu", idx, len, adu_size(idx));
        if (got[idx])
            fail("ADU %u received twice", idx);
        make_adu(scratch, peer_node, idx);
        if (memcmp(scratch, p, len) != 0) {
            size_t k = 0;
            while (k < len && scratch[k] == p[k])
                k++;
            fail("ADU %u (%zu bytes): content differs at byte %zu", idx, len, k);
        }
        mark(idx);
        return 1;
    }

    /* 1..7 bytes: search the outstanding indices near the lowest missing one */
    uint32_t end = lowest_missing + SMALL_SEARCH;
    if (end > count || end < lowest_missing)
        end = count;
    for (uint32_t j = lowest_missing; j < end; j++) {
        if (got[j] || adu_size(j) != len)
            continue;
        make_adu(scratch, peer_node, j);
        if (memcmp(scratch, p, len) == 0) {
            mark(j);
            return 1;
        }
    }
    fail("%zu-byte ADU matches no outstanding index in %u..%u (bytes %02x %02x ...)", len,
         lowest_missing, end, p[0], len > 1 ? p[1] : 0);
}

static int parse_u32(const char *s, uint32_t *out)
{
    char *e;
    errno = 0;
    unsigned long v = strtoul(s, &e, 10);
    if (errno || e == s || *e || s[0] == '-' || v > 0xFFFFFFFFul)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 4 || parse_u32(argv[1], &local_node) || parse_u32(argv[2], &peer_node) ||
        parse_u32(argv[3], &count) || count == 0 || count == SYNC_INDEX) {
        fprintf(stderr, "Usage: %s <local_node> <peer_node> <count>\n", argv[0]);
        return 1;
    }
    const char *w = getenv("BPXCHG_WINDOW");
    if (w && atoi(w) > 0)
        window = (unsigned)atoi(w);
    got = calloc(count, 1);
    unsigned char *out = malloc(MAX_SIZE), *in = malloc(65536), *scratch = malloc(MAX_SIZE);
    if (!got || !out || !in || !scratch) {
        fprintf(stderr, "bpxchg: out of memory\n");
        return 1;
    }
    t_start = now_ms();

    int fd = socket(AF_BP, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (fd < 0)
        fail("socket(AF_BP, SOCK_DGRAM|SOCK_NONBLOCK, 0)");
    struct sockaddr_bp me, peer;
    bp_sockaddr_ipn(&me, local_node, SERVICE);
    bp_sockaddr_ipn(&peer, peer_node, SERVICE);
    if (bind(fd, (struct sockaddr *)&me, sizeof me) != 0)
        fail("bind ipn:%u.%d", local_node, SERVICE);

    int synced = 0;
    long long last_progress = now_ms(), last_sync = 0;
    while (sent < count || received < count) {
        long long now = now_ms();
        if (!synced && now - last_sync >= 100) {
            unsigned char s[SYNC_SIZE];
            put32(s, SYNC_INDEX);
            put32(s + 4, local_node);
            memcpy(s + 8, "SYNC", 4);
            ssize_t r = sendto(fd, s, sizeof s, 0, (struct sockaddr *)&peer, sizeof peer);
            if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
                fail("sendto SYNC");
            last_sync = now;
        }
        int want_out = synced && MAY_SEND();
        struct pollfd p = {.fd = fd, .events = POLLIN | (want_out ? POLLOUT : 0)};
        int n = poll(&p, 1, 50);
        if (n < 0 && errno != EINTR)
            fail("poll");
        if (n > 0 && (p.revents & (POLLERR | POLLNVAL)))
            fail("poll revents %#x", p.revents);

        if (n > 0 && (p.revents & (POLLIN | POLLHUP))) {
            for (;;) {
                struct sockaddr_bp src;
                struct iovec iov = {in, 65536};
                struct msghdr m;
                memset(&m, 0, sizeof m);
                memset(&src, 0, sizeof src);
                m.msg_name = &src;
                m.msg_namelen = sizeof src;
                m.msg_iov = &iov;
                m.msg_iovlen = 1;
                ssize_t r = recvmsg(fd, &m, 0);
                if (r < 0) {
                    if (errno == EAGAIN || errno == EWOULDBLOCK)
                        break;
                    if (errno == EINTR)
                        continue;
                    fail("recvmsg");
                }
                synced = 1; /* anything from the peer: it is listening */
                if (handle(in, (size_t)r, &src, m.msg_namelen, m.msg_flags, scratch)) {
                    bytes_received += (unsigned long long)r;
                    last_progress = now_ms();
                }
            }
        }

        want_out = synced && MAY_SEND();
        if (want_out && n > 0 && (p.revents & POLLOUT)) {
            while (MAY_SEND()) {
                size_t len = make_adu(out, local_node, sent);
                ssize_t r = sendto(fd, out, len, 0, (struct sockaddr *)&peer, sizeof peer);
                if (r < 0) {
                    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                        break;
                    fail("sendto ADU %u (%zu bytes)", sent, len);
                }
                if ((size_t)r != len)
                    fail("sendto ADU %u returned %zd, want %zu", sent, r, len);
                sent++;
                bytes_sent += len;
                last_progress = now_ms();
            }
        }

        if (now_ms() - last_progress > STALL_MS) {
            summary(synced ? "STALL (no progress for 10 s)"
                           : "STALL (no answer from the peer for 10 s)");
            printf("bpxchg: STALL sent %u received %u\n", sent, received);
            return 1;
        }
    }

    summary("done");
    fflush(stderr);
    /* the peer may still be receiving what we sent: stay alive a little, send nothing */
    long long until = now_ms() + 1000;
    while (now_ms() < until) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) > 0 && (p.revents & POLLIN)) {
            /* only late SYNCs may arrive now; anything else is a duplicate */
            struct sockaddr_bp src;
            socklen_t sl = sizeof src;
            ssize_t r = recvfrom(fd, in, 65536, 0, (struct sockaddr *)&src, &sl);
            if (r > 0)
                handle(in, (size_t)r, &src, sl, 0, scratch);
        }
    }
    printf("bpxchg: sent %u received %u ok\n", sent, received);
    fflush(stdout);
    return 0;
}
