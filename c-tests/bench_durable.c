/*
 * bench_durable - durable sends per second: how fast an application's sends return when each
 * returns only once its bundle is in the node's store (not a test; scripts/bench/durable.sh
 * runs it).
 *
 *   bench_durable THREADS SIZE SECONDS BATCH
 *
 * THREADS threads, each with its own AF_BP socket (bound to an ephemeral service), send ADUs of
 * SIZE bytes to ipn:20.1 for SECONDS: one sendto() per ADU (BATCH 1) or sendmmsg() of BATCH
 * ADUs. The node is expected to hold them (no open contact to node 20), so what is measured
 * is "send until stored". Prints
 *   RESULT adus=N secs=S adus_per_s=R mb_per_s=M
 */
#define _GNU_SOURCE
#include <bp_socket.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int size, seconds, batch;
static long long counts[64];

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void *run(void *arg)
{
    long i = (long)arg;
    int fd = socket(AF_BP, SOCK_DGRAM, 0);
    if (fd < 0) {
        perror("socket");
        exit(1);
    }
    struct sockaddr_bp dst;
    bp_sockaddr_ipn(&dst, 20, 1);
    char *buf = malloc((size_t)size * (size_t)batch);
    memset(buf, 'd', (size_t)size * (size_t)batch);
    struct mmsghdr *v = calloc((size_t)batch, sizeof *v);
    struct iovec *io = calloc((size_t)batch, sizeof *io);
    for (int k = 0; k < batch; k++) {
        io[k].iov_base = buf + (size_t)k * (size_t)size;
        io[k].iov_len = (size_t)size;
        v[k].msg_hdr.msg_iov = &io[k];
        v[k].msg_hdr.msg_iovlen = 1;
        v[k].msg_hdr.msg_name = &dst;
        v[k].msg_hdr.msg_namelen = sizeof dst;
    }
    double end = now() + seconds;
    long long n = 0;
    while (now() < end) {
        if (batch == 1) {
            if (sendto(fd, buf, (size_t)size, 0, (struct sockaddr *)&dst, sizeof dst) < 0) {
                perror("sendto");
                exit(1);
            }
            n++;
        } else {
            int r = sendmmsg(fd, v, (unsigned)batch, 0);
            if (r < 0) {
                perror("sendmmsg");
                exit(1);
            }
            n += r;
        }
    }
    counts[i] = n;
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: bench_durable THREADS SIZE SECONDS BATCH\n");
        return 2;
    }
    int threads = atoi(argv[1]);
    size = atoi(argv[2]);
    seconds = atoi(argv[3]);
    batch = atoi(argv[4]);
    if (threads < 1 || threads > 64 || size < 1 || seconds < 1 || batch < 1 || batch > 1024) {
        fprintf(stderr, "bench_durable: bad arguments\n");
        return 2;
    }
    pthread_t t[64];
    double t0 = now();
    for (long i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, run, (void *)i);
    long long total = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        total += counts[i];
    }
    double secs = now() - t0;
    printf("RESULT adus=%lld secs=%.2f adus_per_s=%.0f mb_per_s=%.1f\n", total, secs,
           total / secs, total * (double)size / secs / 1e6);
    return 0;
}
