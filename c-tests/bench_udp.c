/*
 * bench_udp - AF_BP throughput between two processes (two nodes over the UDP convergence
 * layer). A benchmark for scripts/bench/run.sh, not a test. Run both under
 * LD_PRELOAD=libbpshim.so, each with its own BP_NODE / BP_CLA / BP_ROUTE.
 *
 *   bench_udp recv SIZE
 *   bench_udp send DEST_NODE SIZE SECONDS blast|window [WINDOW]
 *
 * The local node number is taken from BP_NODE (ipn:N.0). The receiver binds ipn:N.1 and
 * prints "READY ipn:N.1"; the sender binds ipn:N.2 and sends SIZE-byte ADUs (SIZE >= 16) to
 * ipn:DEST_NODE.1 for SECONDS. Every ADU starts with a 16-byte header: u64 index (or count),
 * u32 kind, u32 ack interval (little endian). Kinds: 0 data, 1 data that wants an ack every
 * <ack interval> data ADUs, 2 FIN (index = ADUs sent; sent 3 times), 3 ACK (receiver to
 * sender, index = data ADUs received so far).
 *
 * blast:  send as fast as sendto() returns. The UDP convergence layer has no flow control,
 *         so datagrams are lost when the receiving node's socket buffer overflows: the
 *         receiver reports how many arrived, and the loss ratio.
 * window: at most WINDOW ADUs (default 4 MiB worth, 64..4096) sent and not yet acknowledged;
 *         the receiver acknowledges every WINDOW/4 data ADUs. If no ack comes for 300 ms with
 *         the window full (ADUs lost), the sender counts a stall and goes on.
 *
 * The receiver checks every ADU (length, source node, indices increasing), measures its rate
 * from the first to the last data ADU, stops 0.5 s after a FIN once all ADUs arrived (or
 * 1 s after the FIN in any case, or 5 s without any ADU) and prints
 *   RESULT adus=N bytes=B secs=S adu_per_s=R mb_per_s=M sent=T lost=L loss=X reordered=O
 * The sender prints
 *   RESULT sent=T secs=S adu_per_s=R mode=M window=W stalls=K
 * Exit status 0, or 1 on an error (message on stderr).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "bp_socket.h"

enum { K_DATA = 0, K_DATA_ACK = 1, K_FIN = 2, K_ACK = 3 };

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_udp: %s: %s\n", what, strerror(errno));
    exit(1);
}

static uint32_t local_node(void)
{
    const char *node = getenv("BP_NODE");
    if (!node || strncmp(node, "ipn:", 4) != 0) {
        fprintf(stderr, "bench_udp: set BP_NODE=ipn:N.0\n");
        exit(2);
    }
    return (uint32_t)strtoul(node + 4, NULL, 10);
}

static void put_hdr(unsigned char *b, uint64_t index, uint32_t kind, uint32_t every)
{
    memcpy(b, &index, 8);
    memcpy(b + 8, &kind, 4);
    memcpy(b + 12, &every, 4);
}

static void get_hdr(const unsigned char *b, uint64_t *index, uint32_t *kind, uint32_t *every)
{
    memcpy(index, b, 8);
    memcpy(kind, b + 8, 4);
    memcpy(every, b + 12, 4);
}

static void set_timeout(int fd, long usec)
{
    struct timeval tv = {usec / 1000000, usec % 1000000};
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0)
        die("SO_RCVTIMEO");
}

static int do_recv(int size)
{
    uint32_t node = local_node();
    int fd = socket(AF_BP, SOCK_DGRAM, 0);
    if (fd < 0)
        die("socket");
    set_timeout(fd, 100000);
    struct sockaddr_bp a, src, peer;
    bp_sockaddr_ipn(&a, node, 1);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0)
        die("bind");
    printf("READY ipn:%u.1\n", node);
    fflush(stdout);

    unsigned char *buf = malloc(size + 1);
    unsigned char ack[16];
    uint64_t n = 0, bytes = 0, reordered = 0, next_index = 0, fin_total = 0, since_ack = 0;
    int have_fin = 0, have_peer = 0;
    double t_first = 0, t_last = 0, t_quiet = now(), t_fin = 0;
    for (;;) {
        struct iovec iov = {buf, (size_t)size + 1};
        struct msghdr msg;
        memset(&msg, 0, sizeof msg);
        msg.msg_name = &src;
        msg.msg_namelen = sizeof src;
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        ssize_t r = recvmsg(fd, &msg, 0);
        double t = now();
        if (r < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                die("recvmsg");
            if (have_fin && (n >= fin_total ? t - t_fin > 0.5 : t - t_fin > 1.0))
                break;
            if (t - t_quiet > 5.0) {
                fprintf(stderr, "bench_udp recv: nothing for 5 s%s\n", have_fin ? "" : " (no FIN)");
                break;
            }
            continue;
        }
        t_quiet = t;
        if (r < 16) {
            fprintf(stderr, "bench_udp recv: %zd-byte ADU\n", r);
            return 1;
        }
        uint64_t idx;
        uint32_t kind, ack_every;
        get_hdr(buf, &idx, &kind, &ack_every);
        if (kind == K_FIN) {
            if (!have_fin)
                t_fin = t;
            have_fin = 1;
            fin_total = idx;
            continue;
        }
        if (kind != K_DATA && kind != K_DATA_ACK) {
            fprintf(stderr, "bench_udp recv: ADU of kind %u\n", kind);
            return 1;
        }
        if (r != size) {
            fprintf(stderr, "bench_udp recv: %zd-byte ADU, want %d\n", r, size);
            return 1;
        }
        if (idx < next_index)
            reordered++;
        else
            next_index = idx + 1;
        if (n == 0)
            t_first = t;
        t_last = t;
        n++;
        bytes += r;
        if (!have_peer) {
            peer = src;
            have_peer = 1;
        }
        if (kind == K_DATA_ACK && ++since_ack >= ack_every) {
            since_ack = 0;
            put_hdr(ack, n, K_ACK, 0);
            if (sendto(fd, ack, sizeof ack, 0, (struct sockaddr *)&peer, sizeof peer) < 0)
                die("sendto ack");
        }
    }
    double secs = t_last - t_first;
    if (secs <= 0)
        secs = 1e-9;
    uint64_t sent = have_fin ? fin_total : n;
    uint64_t lost = sent > n ? sent - n : 0;
    printf("RESULT adus=%llu bytes=%llu secs=%.4f adu_per_s=%.0f mb_per_s=%.2f sent=%llu lost=%llu "
           "loss=%.4f reordered=%llu%s\n",
           (unsigned long long)n, (unsigned long long)bytes, secs, n / secs, bytes / secs / 1e6,
           (unsigned long long)sent, (unsigned long long)lost, sent ? (double)lost / sent : 0.0,
           (unsigned long long)reordered, have_fin ? "" : " nofin=1");
    close(fd);
    return 0;
}

static int do_send(uint32_t dest, int size, double secs, int window_mode, long window)
{
    uint32_t node = local_node();
    int fd = socket(AF_BP, SOCK_DGRAM, 0);
    if (fd < 0)
        die("socket");
    set_timeout(fd, 50000);
    struct sockaddr_bp a, d;
    bp_sockaddr_ipn(&a, node, 2);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0)
        die("bind");
    bp_sockaddr_ipn(&d, dest, 1);
    unsigned char *buf = malloc(size);
    unsigned char ack[64];
    memset(buf, 0xa5, size);
    uint32_t kind = window_mode ? K_DATA_ACK : K_DATA;
    uint32_t every = window / 4 > 0 ? (uint32_t)(window / 4) : 1;
    uint64_t sent = 0, acked = 0, stalls = 0;
    double t0 = now(), t = t0, t_progress = t0;
    while (t - t0 < secs) {
        for (int k = 0; k < 16; k++) {
            if (window_mode && sent - acked >= (uint64_t)window)
                break;
            put_hdr(buf, sent, kind, every);
            if (sendto(fd, buf, size, 0, (struct sockaddr *)&d, sizeof d) != size)
                die("sendto");
            sent++;
        }
        t = now();
        if (window_mode && sent - acked >= (uint64_t)window) {
            /* window full: wait for an ack, then take every ack queued */
            int flags = 0;
            for (;;) {
                ssize_t r = recv(fd, ack, sizeof ack, flags);
                if (r < 0) {
                    if (errno == EINTR)
                        continue;
                    if (errno != EAGAIN && errno != EWOULDBLOCK)
                        die("recv ack");
                    break;
                }
                uint64_t idx;
                uint32_t kd, ev;
                if (r >= 16) {
                    get_hdr(ack, &idx, &kd, &ev);
                    if (kd == K_ACK && idx > acked) {
                        acked = idx;
                        t_progress = now();
                    }
                }
                flags = MSG_DONTWAIT;
            }
            t = now();
            if (sent - acked >= (uint64_t)window && t - t_progress > 0.3) {
                stalls++;
                acked = sent; /* what is missing is lost: carry on */
                t_progress = t;
            }
        }
    }
    double el = now() - t0;
    put_hdr(buf, sent, K_FIN, 0);
    for (int i = 0; i < 3; i++) {
        if (sendto(fd, buf, 16, 0, (struct sockaddr *)&d, sizeof d) != 16)
            die("sendto fin");
        struct timespec nap = {0, 20000000};
        nanosleep(&nap, NULL);
    }
    printf("RESULT sent=%llu secs=%.4f adu_per_s=%.0f mode=%s window=%ld stalls=%llu\n",
           (unsigned long long)sent, el, sent / el, window_mode ? "window" : "blast",
           window_mode ? window : 0, (unsigned long long)stalls);
    close(fd);
    return 0;
}

int main(int argc, char *argv[])
{
    if (argc >= 3 && strcmp(argv[1], "recv") == 0) {
        int size = atoi(argv[2]);
        if (size < 16) {
            fprintf(stderr, "bench_udp: SIZE >= 16\n");
            return 2;
        }
        return do_recv(size);
    }
    if (argc >= 6 && strcmp(argv[1], "send") == 0) {
        uint32_t dest = (uint32_t)strtoul(argv[2], NULL, 10);
        int size = atoi(argv[3]);
        double secs = atof(argv[4]);
        int wm = strcmp(argv[5], "window") == 0;
        if (!wm && strcmp(argv[5], "blast") != 0) {
            fprintf(stderr, "bench_udp: mode blast or window\n");
            return 2;
        }
        long window = (4l << 20) / (size > 0 ? size : 1);
        if (window < 64)
            window = 64;
        if (window > 4096)
            window = 4096;
        if (argc > 6)
            window = atol(argv[6]);
        if (size < 16 || secs <= 0 || window < 1) {
            fprintf(stderr, "bench_udp: SIZE >= 16, SECONDS > 0, WINDOW >= 1\n");
            return 2;
        }
        return do_send(dest, size, secs, wm, window);
    }
    fprintf(stderr, "usage: bench_udp recv SIZE\n"
                    "       bench_udp send DEST_NODE SIZE SECONDS blast|window [WINDOW]\n");
    return 2;
}
