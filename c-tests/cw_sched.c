/*
 * cw_sched - send ADUs at given times with given priorities, then stay alive until a given time
 * (helper of test_contact_window.sh; not a test itself).
 *
 *   cw_sched <src_node.src_service> <dest_node.dest_service> <until_unix> ITEM...
 *
 * ITEM is AT:P:TEXT: at the absolute Unix time AT (seconds, decimals allowed) send TEXT (without
 * NUL) to the destination with priority P:
 *   b, s, e   bulk, standard, expedited through the send flag (MSG_BP_BULK_PRIORITY, ...);
 *   B, S, E   the same through setsockopt(SOL_BP, BP_PRIORITY, 0/1/2) before a flagless send;
 *   -         no flag: the socket's BP_PRIORITY as last set (none set: standard, no
 *             class-of-service block).
 * Items are sent in the order given (an AT already past is sent at once). After bind it prints
 * "READY ipn:N.S"; after each send "SENT <unix time when sendto was called> <unix time when it
 * returned> <P> <TEXT>" (times in s with ms);
 * after the last, it sleeps until until_unix and returns 0 ("DONE"). Any failed call: a line on
 * stderr and status 1. stdout is flushed after every line.
 */
#define _GNU_SOURCE
#include <errno.h>
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

static void sleep_until(double t)
{
    struct timespec ts;
    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    if (ts.tv_nsec < 0)
        ts.tv_nsec = 0;
    if (ts.tv_nsec > 999999999)
        ts.tv_nsec = 999999999;
    while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

int main(int argc, char *argv[])
{
    struct sockaddr_bp src, dst;
    if (argc < 5 || bp_parse_ipn(argv[1], &src) != 0 || bp_parse_ipn(argv[2], &dst) != 0) {
        fprintf(stderr, "usage: %s <src_node.svc> <dest_node.svc> <until_unix> AT:P:TEXT...\n",
                argv[0]);
        return 1;
    }
    double until = strtod(argv[3], NULL);
    int fd = socket(AF_BP, SOCK_DGRAM, 0);
    if (fd < 0) {
        perror("cw_sched: socket");
        return 1;
    }
    if (bind(fd, (struct sockaddr *)&src, sizeof src) != 0) {
        perror("cw_sched: bind");
        return 1;
    }
    printf("READY %s\n", argv[1]);
    fflush(stdout);

    for (int i = 4; i < argc; i++) {
        char *item = argv[i];
        char *c1 = strchr(item, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c1 || !c2 || c2 != c1 + 2) {
            fprintf(stderr, "cw_sched: bad item '%s' (want AT:P:TEXT)\n", item);
            return 1;
        }
        double at = strtod(item, NULL);
        char p = c1[1];
        const char *text = c2 + 1;
        int flags = 0, opt = -1;
        switch (p) {
        case 'b': flags = MSG_BP_BULK_PRIORITY; break;
        case 's': flags = MSG_BP_STD_PRIORITY; break;
        case 'e': flags = MSG_BP_EXPEDITED_PRIORITY; break;
        case 'B': opt = 0; break;
        case 'S': opt = 1; break;
        case 'E': opt = 2; break;
        case '-': break;
        default:
            fprintf(stderr, "cw_sched: bad priority '%c' in '%s'\n", p, item);
            return 1;
        }
        if (opt >= 0 && setsockopt(fd, SOL_BP, BP_PRIORITY, &opt, sizeof opt) != 0) {
            perror("cw_sched: setsockopt(SOL_BP, BP_PRIORITY)");
            return 1;
        }
        sleep_until(at);
        double t_call = now_unix();
        ssize_t n = sendto(fd, text, strlen(text), flags, (struct sockaddr *)&dst, sizeof dst);
        if (n != (ssize_t)strlen(text)) {
            fprintf(stderr, "cw_sched: sendto '%s' = %zd: %s\n", text, n, strerror(errno));
            return 1;
        }
        printf("SENT %.3f %.3f %c %s\n", t_call, now_unix(), p, text);
        fflush(stdout);
    }
    sleep_until(until);
    printf("DONE\n");
    fflush(stdout);
    return 0;
}
