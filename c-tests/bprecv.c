/*
 * bprecv - receive bundles and print them (modelled on upstream bp-socket receiver.c).
 *
 *   bprecv <node> <service> [count] [max_timeouts]
 *
 * socket(AF_BP, SOCK_DGRAM, 1); SO_RCVTIMEO = 3 s (set before bind, as upstream does); bind
 * ipn:node.service; then loop on recvmsg with a 64 KiB buffer:
 *   - timeout (EAGAIN): "Timeout waiting for message, continuing..."; after max_timeouts
 *     consecutive timeouts (if given) exit with status 2;
 *   - EINTR (Ctrl-C; the SIGINT handler is installed with signal()): exit 0;
 *   - a message: "Received message (N bytes): <text>" and, if the source address came back,
 *     "Bundle sent by ipn:N.S"; exit 0 after `count` messages if given.
 * stdout is flushed after every line (tests read it through a pipe).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "bp_socket.h"

#define BUFFER_SIZE 65536

static volatile sig_atomic_t running = 1;

static void handle_sigint(int sig)
{
    (void)sig;
    running = 0;
}

static int parse_u32(const char *s, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v > 0xFFFFFFFFul)
        return -1;
    *out = v;
    return 0;
}

static void usage(const char *prog)
{
    fprintf(stderr, "Usage: %s <node> <service> [count] [max_timeouts]\n  e.g. %s 20 1\n", prog,
            prog);
    exit(1);
}

int main(int argc, char *argv[])
{
    unsigned long node, service, count = 0, max_timeouts = 0;
    static char buffer[BUFFER_SIZE + 1];
    struct sockaddr_bp addr, src;

    if (argc < 3 || argc > 5)
        usage(argv[0]);
    if (parse_u32(argv[1], &node) != 0 || parse_u32(argv[2], &service) != 0 || service == 0) {
        fprintf(stderr, "Invalid EID ipn:%s.%s\n", argv[1], argv[2]);
        usage(argv[0]);
    }
    if (argc >= 4 && parse_u32(argv[3], &count) != 0)
        usage(argv[0]);
    if (argc >= 5 && parse_u32(argv[4], &max_timeouts) != 0)
        usage(argv[0]);

    signal(SIGINT, handle_sigint);

    int fd = socket(AF_BP, SOCK_DGRAM, 1);
    if (fd < 0) {
        perror("socket creation failed");
        return 1;
    }

    struct timeval tv = {3, 0};
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0) {
        perror("setsockopt SO_RCVTIMEO failed");
        close(fd);
        return 1;
    }

    bp_sockaddr_ipn(&addr, (uint32_t)node, (uint32_t)service);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        perror("bind failed");
        close(fd);
        return 1;
    }
    char eid[BP_IPN_STRLEN];
    bp_format_ipn(eid, sizeof eid, &addr);
    printf("Listening on %s\n", eid);
    fflush(stdout);

    unsigned long received = 0, timeouts = 0;
    int status = 0;
    while (running) {
        struct iovec iov;
        struct msghdr msg;
        memset(&msg, 0, sizeof msg);
        memset(&src, 0, sizeof src);
        iov.iov_base = buffer;
        iov.iov_len = BUFFER_SIZE;
        msg.msg_name = &src;
        msg.msg_namelen = sizeof src;
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;

        ssize_t n = recvmsg(fd, &msg, 0);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                printf("Timeout waiting for message, continuing...\n");
                fflush(stdout);
                if (max_timeouts && ++timeouts >= max_timeouts) {
                    fprintf(stderr, "bprecv: %lu consecutive timeouts, giving up\n", timeouts);
                    status = 2;
                    break;
                }
                continue;
            }
            if (errno == EINTR) {
                printf("Interrupted, exiting\n");
                break;
            }
            perror("recvmsg failed");
            status = 1;
            break;
        }
        timeouts = 0;
        size_t shown = (size_t)n > BUFFER_SIZE ? BUFFER_SIZE : (size_t)n;
        buffer[shown] = '\0';
        printf("Received message (%zd bytes): %.*s%s\n", n, (int)shown, buffer,
               (msg.msg_flags & MSG_TRUNC) ? " [truncated]" : "");
        if (msg.msg_namelen >= sizeof(struct sockaddr_bp)) {
            bp_format_ipn(eid, sizeof eid, &src);
            printf("Bundle sent by %s\n", eid);
        }
        fflush(stdout);
        if (count && ++received >= count)
            break;
    }
    fflush(stdout);
    close(fd);
    return status;
}
