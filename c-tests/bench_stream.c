/*
 * bench_stream - AF_BP plain stream between two processes (two nodes), no application-level
 * acknowledgement: the sender calls sendto() as fast as it returns and relies on the
 * convergence layer (TCPCLv4: acknowledged transfers) for delivery. A benchmark for
 * scripts/bench/tcpcl.sh, not a test. Run both under LD_PRELOAD=libbpshim.so, each with its own
 * BP_NODE / BP_CLA / BP_ROUTE (and BP_EXIT_FLUSH_MS on the sender: what the node still holds
 * when the program returns is sent during the exit flush).
 *
 *   bench_stream recv SIZE [IDLE_SECONDS]
 *   bench_stream send DEST_NODE SIZE SECONDS MAX_COUNT
 *
 * The local node number is taken from BP_NODE (ipn:N.0). The receiver binds ipn:N.1 and
 * prints "READY ipn:N.1"; the sender binds ipn:N.2 and sends SIZE-byte ADUs (SIZE >= 16) to
 * ipn:DEST_NODE.1 for SECONDS or until MAX_COUNT were sent, whichever comes first, then one FIN.
 * Every ADU starts with a 16-byte header: u64 index (FIN: ADUs sent), u32 kind (0 data,
 * 2 FIN), u32 0 (little endian; the layout of bench_udp).
 *
 * The receiver checks every ADU (length, indices increasing), measures its rate from the first
 * to the last data ADU and stops when the FIN came and every ADU it announces has arrived, or
 * after IDLE_SECONDS (default 20) without any ADU. It prints
 *   RESULT adus=N bytes=B secs=S adu_per_s=R mb_per_s=M sent=T lost=L loss=X reordered=O
 *          maxrss_kb=K t_first=F t_last=L
 * The sender prints, right after its FIN (before the exit flush),
 *   RESULT sent=T secs=S adu_per_s=R maxrss_kb=K t_start=A
 * where secs is the time sendto() took for all ADUs, and maxrss_kb the process's peak resident
 * size so far (the application and its node: what the node queued shows there). t_start,
 * t_first and t_last are CLOCK_MONOTONIC seconds (one clock for every process of the machine):
 * the first sendto(), the first and the last data ADU received, so that the end-to-end time
 * t_last - t_start can be computed.
 * Exit status 0, or 1 on an error (message on stderr).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "bp_socket.h"

enum { K_DATA = 0, K_FIN = 2 };

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_stream: %s: %s\n", what, strerror(errno));
    exit(1);
}

static long maxrss_kb(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) < 0)
        return -1;
    return ru.ru_maxrss;
}

static uint32_t local_node(void)
{
    const char *node = getenv("BP_NODE");
    if (!node || strncmp(node, "ipn:", 4) != 0) {
        fprintf(stderr, "bench_stream: set BP_NODE=ipn:N.0\n");
        exit(2);
    }
    return (uint32_t)strtoul(node + 4, NULL, 10);
}

static void put_hdr(unsigned char *b, uint64_t index, uint32_t kind)
{
    uint32_t zero = 0;
    memcpy(b, &index, 8);
    memcpy(b + 8, &kind, 4);
    memcpy(b + 12, &zero, 4);
}

static int do_recv(int size, double idle)
{
    uint32_t node = local_node();
    int fd = socket(AF_BP, SOCK_DGRAM, 0);
    if (fd < 0)
        die("socket");
    struct timeval tv = {0, 100000};
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0)
        die("SO_RCVTIMEO");
    struct sockaddr_bp a;
    bp_sockaddr_ipn(&a, node, 1);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0)
        die("bind");
    printf("READY ipn:%u.1\n", node);
    fflush(stdout);

    unsigned char *buf = malloc(size + 1);
    if (!buf)
        die("malloc");
    uint64_t n = 0, bytes = 0, reordered = 0, next_index = 0, fin_total = 0;
    int have_fin = 0;
    double t_first = 0, t_last = 0, t_quiet = now();
    for (;;) {
        if (have_fin && n >= fin_total)
            break;
        ssize_t r = recv(fd, buf, size + 1, 0);
        double t = now();
        if (r < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                die("recv");
            if (t - t_quiet > idle) {
                fprintf(stderr, "bench_stream recv: nothing for %.0f s%s\n", idle,
                        have_fin ? "" : " (no FIN)");
                break;
            }
            continue;
        }
        t_quiet = t;
        if (r < 16) {
            fprintf(stderr, "bench_stream recv: %zd-byte ADU\n", r);
            return 1;
        }
        uint64_t idx;
        uint32_t kind;
        memcpy(&idx, buf, 8);
        memcpy(&kind, buf + 8, 4);
        if (kind == K_FIN) {
            have_fin = 1;
            fin_total = idx;
            continue;
        }
        if (kind != K_DATA) {
            fprintf(stderr, "bench_stream recv: ADU of kind %u\n", kind);
            return 1;
        }
        if (r != size) {
            fprintf(stderr, "bench_stream recv: %zd-byte ADU, want %d\n", r, size);
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
    }
    double secs = t_last - t_first;
    if (secs <= 0)
        secs = 1e-9;
    uint64_t sent = have_fin ? fin_total : n;
    uint64_t lost = sent > n ? sent - n : 0;
    printf("RESULT adus=%llu bytes=%llu secs=%.4f adu_per_s=%.0f mb_per_s=%.2f sent=%llu lost=%llu "
           "loss=%.4f reordered=%llu maxrss_kb=%ld t_first=%.6f t_last=%.6f%s\n",
           (unsigned long long)n, (unsigned long long)bytes, secs, n / secs, bytes / secs / 1e6,
           (unsigned long long)sent, (unsigned long long)lost, sent ? (double)lost / sent : 0.0,
           (unsigned long long)reordered, maxrss_kb(), t_first, t_last, have_fin ? "" : " nofin=1");
    close(fd);
    return 0;
}

static int do_send(uint32_t dest, int size, double secs, uint64_t max_count)
{
    uint32_t node = local_node();
    int fd = socket(AF_BP, SOCK_DGRAM, 0);
    if (fd < 0)
        die("socket");
    struct sockaddr_bp a, d;
    bp_sockaddr_ipn(&a, node, 2);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0)
        die("bind");
    bp_sockaddr_ipn(&d, dest, 1);
    unsigned char *buf = malloc(size);
    if (!buf)
        die("malloc");
    memset(buf, 0xa5, size);
    uint64_t sent = 0;
    double t0 = now(), t = t0;
    while (t - t0 < secs && sent < max_count) {
        for (int k = 0; k < 16 && sent < max_count; k++) {
            put_hdr(buf, sent, K_DATA);
            if (sendto(fd, buf, size, 0, (struct sockaddr *)&d, sizeof d) != size)
                die("sendto");
            sent++;
        }
        t = now();
    }
    double el = now() - t0;
    put_hdr(buf, sent, K_FIN);
    if (sendto(fd, buf, 16, 0, (struct sockaddr *)&d, sizeof d) != 16)
        die("sendto fin");
    printf("RESULT sent=%llu secs=%.4f adu_per_s=%.0f maxrss_kb=%ld t_start=%.6f\n",
           (unsigned long long)sent, el, sent / el, maxrss_kb(), t0);
    fflush(stdout);
    close(fd);
    return 0;
}

int main(int argc, char *argv[])
{
    if (argc >= 3 && strcmp(argv[1], "recv") == 0) {
        int size = atoi(argv[2]);
        double idle = argc > 3 ? atof(argv[3]) : 20.0;
        if (size < 16 || idle <= 0) {
            fprintf(stderr, "bench_stream: SIZE >= 16, IDLE_SECONDS > 0\n");
            return 2;
        }
        return do_recv(size, idle);
    }
    if (argc >= 6 && strcmp(argv[1], "send") == 0) {
        uint32_t dest = (uint32_t)strtoul(argv[2], NULL, 10);
        int size = atoi(argv[3]);
        double secs = atof(argv[4]);
        long long max_count = atoll(argv[5]);
        if (size < 16 || secs <= 0 || max_count < 1) {
            fprintf(stderr, "bench_stream: SIZE >= 16, SECONDS > 0, MAX_COUNT >= 1\n");
            return 2;
        }
        return do_send(dest, size, secs, (uint64_t)max_count);
    }
    fprintf(stderr, "usage: bench_stream recv SIZE [IDLE_SECONDS]\n"
                    "       bench_stream send DEST_NODE SIZE SECONDS MAX_COUNT\n");
    return 2;
}
