/*
 * dur_send - stream numbered ADUs, reporting each one the moment sendto has returned
 * (helper of the durable-store tests test_outage.sh and test_crash.sh).
 *
 *   dur_send <dest_node.dest_service> <src_node.src_service> <prefix> <count> [size] [gap_us]
 *
 * Binds the source EID, prints "READY <src>", then for K = 1..count sends one ADU whose text is
 * "<prefix>-<K, 8 digits> " padded with '.' to `size` bytes (default 100) and, right after
 * sendto has returned (with a durable store: once the bundle is committed to the node's store),
 * writes "sent K" with one write(2) on stdout (no stdio buffering: a SIGKILL loses no line
 * that was written). `gap_us` (default 0) sleeps between sends. count 0 = no end.
 * SIGUSR1 ends the stream after the send in progress; the program then returns from main (the
 * shim flushes at exit, within BP_EXIT_FLUSH_MS) and prints "done N" (N ADUs sent).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bp_socket.h"
#include "dur_common.h"

int main(int argc, char *argv[])
{
    struct sockaddr_bp dest, src;
    unsigned long count, size = 100, gap_us = 0;
    if (argc < 5 || argc > 7 || bp_parse_ipn(argv[1], &dest) != 0 ||
        bp_parse_ipn(argv[2], &src) != 0 || parse_ul(argv[4], &count) != 0 ||
        (argc > 5 && parse_ul(argv[5], &size) != 0) ||
        (argc > 6 && parse_ul(argv[6], &gap_us) != 0) || size < 32 || size > 65536) {
        fprintf(stderr, "usage: %s <dest_node.svc> <src_node.svc> <prefix> <count> [size 32..65536] "
                        "[gap_us]\n",
                argv[0]);
        return 1;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);

    int fd = socket(AF_BP, SOCK_DGRAM, 0);
    if (fd < 0) {
        perror("dur_send: socket");
        return 1;
    }
    if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) {
        perror("dur_send: bind");
        return 1;
    }
    char line[160];
    char eid[BP_IPN_STRLEN];
    bp_format_ipn(eid, sizeof eid, &src);
    int ln = snprintf(line, sizeof line, "READY %s\n", eid);
    write_all(line, (size_t)ln);

    char *adu = malloc(size);
    if (!adu) {
        perror("dur_send: malloc");
        return 1;
    }
    unsigned long k;
    for (k = 1; (count == 0 || k <= count) && !stop; k++) {
        memset(adu, '.', size);
        int n = snprintf(adu, size, "%s-%08lu ", argv[3], k);
        if (n < 0 || (size_t)n >= size) {
            fprintf(stderr, "dur_send: prefix too long for size %lu\n", size);
            return 1;
        }
        adu[n] = '.'; /* snprintf's NUL becomes padding */
        ln = snprintf(line, sizeof line, "sent %lu\n", k);
        ssize_t r;
        do {
            r = sendto(fd, adu, size, 0, (struct sockaddr *)&dest, sizeof dest);
        } while (r < 0 && errno == EINTR);
        if (r != (ssize_t)size) {
            fprintf(stderr, "dur_send: sendto of ADU %lu returned %zd: %s\n", k, r,
                    r < 0 ? strerror(errno) : "short");
            return 1;
        }
        if (write_all(line, (size_t)ln) < 0)
            return 1;
        if (gap_us) {
            struct timespec ts = {(time_t)(gap_us / 1000000), (long)(gap_us % 1000000) * 1000};
            while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !stop)
                ;
        }
    }
    ln = snprintf(line, sizeof line, "done %lu\n", k - 1);
    write_all(line, (size_t)ln);
    free(adu);
    return 0; /* the socket is left open: the exit flush sends what is queued */
}
