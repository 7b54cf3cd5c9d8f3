/*
 * bench_local - AF_BP throughput between two sockets of one process (local delivery).
 * A benchmark for scripts/bench/run.sh, not a test. Run under LD_PRELOAD=libbpshim.so.
 *
 *   bench_local SIZE SECONDS [WINDOW]
 *
 * The receiver (main thread) binds ipn:<local node>.1 (the node number from BP_NODE, default
 * 1); a sender thread binds ipn:<local node>.2 and sends SIZE-byte ADUs (SIZE >= 8: the first
 * 8 bytes are the ADU's index, u64 little endian) to ipn:<local node>.1 for SECONDS, keeping
 * at most WINDOW ADUs sent but not yet received (default: 1 MiB worth, 64..4096), since local
 * delivery has no flow control of its own and an unbounded backlog would only measure memory.
 * The receiver checks every ADU (length, source, index in sequence, no loss) and measures its
 * rate from the first to the last ADU. Prints
 *   RESULT adus=N bytes=B secs=S adu_per_s=R mb_per_s=M sent=N lost=L window=W
 * and exits 0, or prints "bench_local: ..." and exits 1 on an error or a failed check.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "bp_socket.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int g_size;
static double g_secs;
static long g_window;
static uint32_t g_node = 1;
static atomic_long g_received;
static atomic_long g_sent;
static atomic_int g_done;

static void die(const char *what)
{
    fprintf(stderr, "bench_local: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void *sender(void *arg)
{
    (void)arg;
    int fd = socket(AF_BP, SOCK_DGRAM, 0);
    if (fd < 0)
        die("sender socket");
    struct sockaddr_bp a;
    bp_sockaddr_ipn(&a, g_node, 2);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0)
        die("sender bind");
    bp_sockaddr_ipn(&a, g_node, 1);
    unsigned char *buf = malloc(g_size);
    memset(buf, 0x5a, g_size);
    uint64_t i = 0;
    double t0 = now();
    struct timespec nap = {0, 20000};
    while (now() - t0 < g_secs) {
        for (int k = 0; k < 16; k++) {
            if ((long)i - atomic_load(&g_received) >= g_window) {
                nanosleep(&nap, NULL);
                break;
            }
            memcpy(buf, &i, 8);
            ssize_t r = sendto(fd, buf, g_size, 0, (struct sockaddr *)&a, sizeof a);
            if (r != g_size)
                die("sendto");
            i++;
            atomic_store(&g_sent, (long)i);
        }
    }
    atomic_store(&g_done, 1);
    free(buf);
    close(fd);
    return NULL;
}

int main(int argc, char *argv[])
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_local SIZE SECONDS [WINDOW]\n");
        return 2;
    }
    g_size = atoi(argv[1]);
    g_secs = atof(argv[2]);
    if (g_size < 8 || g_secs <= 0) {
        fprintf(stderr, "bench_local: SIZE must be >= 8 and SECONDS > 0\n");
        return 2;
    }
    g_window = argc > 3 ? atol(argv[3]) : (1l << 20) / g_size;
    if (g_window < 64 && argc <= 3)
        g_window = 64;
    if (g_window > 4096 && argc <= 3)
        g_window = 4096;
    if (g_window < 1)
        g_window = 1;
    const char *node = getenv("BP_NODE");
    if (node && strncmp(node, "ipn:", 4) == 0)
        g_node = (uint32_t)strtoul(node + 4, NULL, 10);

    int fd = socket(AF_BP, SOCK_DGRAM, 0);
    if (fd < 0)
        die("receiver socket");
    struct timeval tv = {0, 200000};
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0)
        die("SO_RCVTIMEO");
    struct sockaddr_bp a, src;
    bp_sockaddr_ipn(&a, g_node, 1);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0)
        die("receiver bind");

    pthread_t th;
    if (pthread_create(&th, NULL, sender, NULL) != 0) {
        fprintf(stderr, "bench_local: pthread_create failed\n");
        return 1;
    }
    unsigned char *buf = malloc(g_size + 1);
    uint64_t n = 0, bytes = 0;
    double t_first = 0, t_last = 0, t_quiet = now();
    for (;;) {
        struct iovec iov = {buf, (size_t)g_size + 1};
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
            if (atomic_load(&g_done) && (long)n >= atomic_load(&g_sent))
                break;
            if (t - t_quiet > 3.0) {
                fprintf(stderr, "bench_local: nothing received for 3 s (%llu of %ld)\n",
                        (unsigned long long)n, atomic_load(&g_sent));
                break;
            }
            continue;
        }
        t_quiet = t;
        uint64_t idx;
        memcpy(&idx, buf, 8);
        if (r != g_size || src.bp_addr.ipn.node_id != g_node || src.bp_addr.ipn.service_id != 2 ||
            idx != n) {
            fprintf(stderr, "bench_local: bad ADU: len %zd (want %d), src ipn:%u.%u, index %llu (want %llu)\n",
                    r, g_size, src.bp_addr.ipn.node_id, src.bp_addr.ipn.service_id,
                    (unsigned long long)idx, (unsigned long long)n);
            return 1;
        }
        if (n == 0)
            t_first = t;
        t_last = t;
        n++;
        bytes += r;
        atomic_store(&g_received, (long)n);
        if (atomic_load(&g_done) && (long)n >= atomic_load(&g_sent))
            break;
    }
    pthread_join(th, NULL);
    long sent = atomic_load(&g_sent);
    double secs = t_last - t_first;
    if (secs <= 0)
        secs = 1e-9;
    printf("RESULT adus=%llu bytes=%llu secs=%.4f adu_per_s=%.0f mb_per_s=%.2f sent=%ld lost=%ld "
           "window=%ld\n",
           (unsigned long long)n, (unsigned long long)bytes, secs, n / secs, bytes / secs / 1e6,
           sent, sent - (long)n, g_window);
    close(fd);
    return (long)n == sent ? 0 : 1;
}
