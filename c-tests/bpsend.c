/*
 * bpsend - send a message as a bundle (modelled on upstream bp-socket sender.c).
 *
 *   bpsend <dest_node> <dest_service> <message> [src_node.src_service] [count]
 *
 * socket(AF_BP, SOCK_DGRAM, 0); bind to the source if one is given (otherwise the socket is
 * sent from unbound and the shim binds an ephemeral service, like UDP); sendto the message
 * (without its NUL) `count` times (default 1) with MSG_ACK_REQUESTED; then return from main
 * (the socket left open, or closed first with BPSEND_CLOSE=1): what was sent must still
 * leave (the shim flushes at exit).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bp_socket.h"

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
    fprintf(stderr, "Usage: %s <dest_node> <dest_service> <message> [src_node.src_service] [count]\n"
                    "  e.g. %s 20 1 hello 10.2\n",
            prog, prog);
    exit(1);
}

int main(int argc, char *argv[])
{
    unsigned long node, service, count = 1;
    struct sockaddr_bp dest, src;

    if (argc < 4 || argc > 6)
        usage(argv[0]);
    if (parse_u32(argv[1], &node) != 0 || parse_u32(argv[2], &service) != 0 || service == 0) {
        fprintf(stderr, "Invalid destination ipn:%s.%s\n", argv[1], argv[2]);
        usage(argv[0]);
    }
    if (argc >= 6 && (parse_u32(argv[5], &count) != 0 || count == 0)) {
        fprintf(stderr, "Invalid count: %s\n", argv[5]);
        usage(argv[0]);
    }

    int fd = socket(AF_BP, SOCK_DGRAM, 0);
    if (fd < 0) {
        perror("socket creation failed");
        return 1;
    }

    if (argc >= 5 && argv[4][0] != '\0') {
        if (bp_parse_ipn(argv[4], &src) != 0) {
            fprintf(stderr, "Invalid source EID: %s (want node.service or ipn:node.service)\n",
                    argv[4]);
            close(fd);
            return 1;
        }
        if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) {
            perror("bind failed");
            close(fd);
            return 1;
        }
    }

    bp_sockaddr_ipn(&dest, (uint32_t)node, (uint32_t)service);
    size_t len = strlen(argv[3]);
    for (unsigned long i = 0; i < count; i++) {
        ssize_t n = sendto(fd, argv[3], len, MSG_ACK_REQUESTED, (struct sockaddr *)&dest,
                           sizeof dest);
        if (n < 0) {
            perror("sendto failed");
            close(fd);
            return 1;
        }
        printf("Message sent successfully: %s\n", argv[3]);
    }
    fflush(stdout);
    /* Like upstream sender.c the program ends right after sending. By default the socket is
     * left open, so exit() itself must flush; BPSEND_CLOSE=1 closes it first (tests use both). */
    const char *c = getenv("BPSEND_CLOSE");
    if (c && strcmp(c, "1") == 0)
        close(fd);
    return 0;
}
