/*
 * cw_recv - receive ADUs and print each with its arrival time (helper of test_contact_window.sh
 * and test_full_store.sh; not a test itself).
 *
 *   cw_recv <node> <service> <count> <deadline_unix> [idle_s]
 *
 * socket(AF_BP, SOCK_DGRAM, 0), bind ipn:node.service, print "READY ipn:N.S"; then receive
 * (poll + recvfrom, 64 KiB buffer) and print one line per ADU:
 *     RECV <unix time of arrival, s.ms> <length> <ADU text up to its first space or NUL>
 * Stops with status 0 after <count> ADUs (count 0: no limit), or when idle_s seconds pass
 * without an ADU after the first one (if idle_s is given and > 0); with status 2 ("TIMEOUT got
 * N") when the absolute Unix time deadline_unix passes first and count was not reached (with
 * count 0 the deadline ends the run with status 0). stdout is flushed after every line.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bp_socket.h"

static double now_unix(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char *argv[])
{
    static char buf[65537];
    if (argc < 5 || argc > 6) {
        fprintf(stderr, "usage: %s <node> <service> <count> <deadline_unix> [idle_s]\n", argv[0]);
        return 1;
    }
    unsigned long node = strtoul(argv[1], NULL, 10), svc = strtoul(argv[2], NULL, 10);
    unsigned long count = strtoul(argv[3], NULL, 10);
    double deadline = strtod(argv[4], NULL);
    double idle = argc > 5 ? strtod(argv[5], NULL) : 0;

    int fd = socket(AF_BP, SOCK_DGRAM, 0);
    if (fd < 0) {
        perror("cw_recv: socket");
        return 1;
    }
    struct sockaddr_bp a;
    bp_sockaddr_ipn(&a, (uint32_t)node, (uint32_t)svc);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        perror("cw_recv: bind");
        return 1;
    }
    printf("READY ipn:%lu.%lu\n", node, svc);
    fflush(stdout);

    unsigned long got = 0;
    double last = 0;
    for (;;) {
        double now = now_unix();
        if (now >= deadline) {
            if (count) {
                printf("TIMEOUT got %lu of %lu\n", got, count);
                fflush(stdout);
                return 2;
            }
            printf("DEADLINE got %lu\n", got);
            return 0;
        }
        if (idle > 0 && got > 0 && now - last >= idle) {
            printf("IDLE got %lu\n", got);
            return 0;
        }
        double wait = deadline - now;
        if (idle > 0 && got > 0 && idle - (now - last) < wait)
            wait = idle - (now - last);
        if (wait > 0.2)
            wait = 0.2;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, (int)(wait * 1000) + 1);
        if (r < 0 && errno != EINTR) {
            perror("cw_recv: poll");
            return 1;
        }
        for (;;) {
            ssize_t n = recv(fd, buf, sizeof buf - 1, MSG_DONTWAIT);
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                    break;
                perror("cw_recv: recv");
                return 1;
            }
            last = now_unix();
            buf[n] = '\0';
            size_t k = strcspn(buf, " ");
            if (k > 100)
                k = 100;
            printf("RECV %.3f %zd %.*s\n", last, n, (int)k, buf);
            fflush(stdout);
            if (count && ++got >= count) {
                printf("DONE got %lu\n", got);
                return 0;
            }
            if (!count)
                got++;
        }
    }
}
