/*
 * dur_recv - receive ADUs and record each one the moment recv has returned
 * (helper of the durable-store tests test_outage.sh and test_crash.sh).
 *
 *   dur_recv <node.service> [count] [idle_s]
 *
 * Binds node.service, prints "READY ipn:N.S", then loops on recvmsg (64 KiB buffer,
 * SO_RCVTIMEO 1 s) and, right after each recvmsg has returned an ADU, writes one line with one
 * write(2) on stdout (no stdio buffering):
 *     ADU <source EID> <length> <ADU text>
 * (the ADU text with any byte outside 0x20..0x7e replaced by '?', so a line is a line).
 * Ends with status 0 after `count` ADUs (0 = no limit) or on SIGTERM/SIGINT (recv returns
 * EINTR), with status 2 after `idle_s` seconds without an ADU (0 = wait forever); then prints
 * "END n" (ADUs received by this run).
 *
 * DUR_RECV_BIND_DELAY_MS=N: create the socket (the node starts), print "NODE UP", and bind only
 * N ms later (what arrives meanwhile waits in the node's store).
 * DUR_RECV_GAP_US=N (to show that the tests can fail): sleep N us between recv's return and
 * the write of the line, which widens the window where a kill loses a consumed ADU.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "bp_socket.h"
#include "dur_common.h"

#define BUF 65536

int main(int argc, char *argv[])
{
    static char buf[BUF];
    static char line[BUF + 128];
    struct sockaddr_bp addr, src;
    unsigned long count = 0, idle_s = 0, gap_us = 0;
    if (argc < 2 || argc > 4 || bp_parse_ipn(argv[1], &addr) != 0 ||
        (argc > 2 && parse_ul(argv[2], &count) != 0) ||
        (argc > 3 && parse_ul(argv[3], &idle_s) != 0)) {
        fprintf(stderr, "usage: %s <node.service> [count] [idle_s]\n", argv[0]);
        return 1;
    }
    const char *g = getenv("DUR_RECV_GAP_US");
    if (g && parse_ul(g, &gap_us) != 0)
        gap_us = 0;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    int fd = socket(AF_BP, SOCK_DGRAM, 0);
    if (fd < 0) {
        perror("dur_recv: socket");
        return 1;
    }
    struct timeval tv = {1, 0};
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0) {
        perror("dur_recv: SO_RCVTIMEO");
        return 1;
    }
    /* The node runs from socket() on; binding late lets bundles for the EID wait in its store. */
    const char *bd = getenv("DUR_RECV_BIND_DELAY_MS");
    if (bd && atoi(bd) > 0) {
        printf("NODE UP\n");
        fflush(stdout);
        usleep((useconds_t)atoi(bd) * 1000);
    }
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        perror("dur_recv: bind");
        return 1;
    }
    char eid[BP_IPN_STRLEN], seid[BP_IPN_STRLEN];
    bp_format_ipn(eid, sizeof eid, &addr);
    int ln = snprintf(line, sizeof line, "READY %s\n", eid);
    write_all(line, (size_t)ln);

    unsigned long got = 0, idle = 0;
    int status = 0;
    while (!stop && (count == 0 || got < count)) {
        socklen_t sl = sizeof src;
        memset(&src, 0, sizeof src);
        ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&src, &sl);
        if (n < 0) {
            if (errno == EINTR)
                continue; /* stop is set by the handler */
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                if (idle_s && ++idle >= idle_s) {
                    fprintf(stderr, "dur_recv: nothing for %lu s, giving up\n", idle);
                    status = 2;
                    break;
                }
                continue;
            }
            perror("dur_recv: recvfrom");
            return 1;
        }
        if (gap_us) {
            struct timespec ts = {(time_t)(gap_us / 1000000), (long)(gap_us % 1000000) * 1000};
            while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
        }
        idle = 0;
        got++;
        bp_format_ipn(seid, sizeof seid, &src);
        ln = snprintf(line, sizeof line, "ADU %s %zd ", seid, n);
        for (ssize_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)buf[i];
            line[ln++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
        }
        line[ln++] = '\n';
        if (write_all(line, (size_t)ln) < 0)
            return 1;
    }
    ln = snprintf(line, sizeof line, "END %lu\n", got);
    write_all(line, (size_t)ln);
    close(fd);
    return status;
}
