/*
 * interop_recvhex - receive ADUs and print each one in hex (interop tests, scripts/interop/).
 *
 *   interop_recvhex <node> <service> <idle_seconds> [end_text]
 *
 * socket(AF_BP, SOCK_DGRAM, 0); SO_RCVTIMEO 1 s; bind ipn:node.service; print
 *   READY ipn:<node>.<service>
 * then loop on recvmsg (1 MiB buffer) and print one line per ADU:
 *   ADU <index> len=<bytes> trunc=<0|1> src=<ipn:N.S or ?> hex=<payload in lowercase hex>
 * Stops with status 0 after an ADU whose payload is exactly end_text (default "END"), with
 * status 2 after idle_seconds without any ADU, with status 1 on an error. stdout is flushed
 * after every line.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "bp_socket.h"

#define BUF_SIZE (1024 * 1024)

int main(int argc, char *argv[])
{
    if (argc < 4 || argc > 5) {
        fprintf(stderr, "Usage: %s <node> <service> <idle_seconds> [end_text]\n", argv[0]);
        return 1;
    }
    unsigned long node = strtoul(argv[1], NULL, 10), service = strtoul(argv[2], NULL, 10);
    int idle = atoi(argv[3]);
    const char *end_text = argc == 5 ? argv[4] : "END";
    size_t end_len = strlen(end_text);
    static unsigned char buf[BUF_SIZE];
    static char hex[2 * BUF_SIZE + 1];

    int fd = socket(AF_BP, SOCK_DGRAM, 0);
    if (fd < 0) {
        perror("interop_recvhex: socket");
        return 1;
    }
    struct timeval tv = {1, 0};
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0) {
        perror("interop_recvhex: SO_RCVTIMEO");
        return 1;
    }
    struct sockaddr_bp addr, src;
    bp_sockaddr_ipn(&addr, (uint32_t)node, (uint32_t)service);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        perror("interop_recvhex: bind");
        return 1;
    }
    char eid[BP_IPN_STRLEN];
    bp_format_ipn(eid, sizeof eid, &addr);
    printf("READY %s\n", eid);
    fflush(stdout);

    int quiet = 0;
    unsigned long index = 0;
    for (;;) {
        struct iovec iov = {buf, BUF_SIZE};
        struct msghdr msg;
        memset(&msg, 0, sizeof msg);
        memset(&src, 0, sizeof src);
        msg.msg_name = &src;
        msg.msg_namelen = sizeof src;
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        ssize_t n = recvmsg(fd, &msg, 0);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                if (++quiet >= idle) {
                    printf("IDLE %d s without an ADU after %lu ADUs\n", quiet, index);
                    fflush(stdout);
                    return 2;
                }
                continue;
            }
            if (errno == EINTR)
                continue;
            perror("interop_recvhex: recvmsg");
            return 1;
        }
        quiet = 0;
        size_t shown = (size_t)n > BUF_SIZE ? BUF_SIZE : (size_t)n;
        for (size_t i = 0; i < shown; i++)
            snprintf(hex + 2 * i, 3, "%02x", buf[i]);
        hex[2 * shown] = '\0';
        if (msg.msg_namelen >= sizeof(struct sockaddr_bp))
            bp_format_ipn(eid, sizeof eid, &src);
        else
            snprintf(eid, sizeof eid, "?");
        printf("ADU %lu len=%zd trunc=%d src=%s hex=%s\n", index++, n,
               (msg.msg_flags & MSG_TRUNC) ? 1 : 0, eid, hex);
        fflush(stdout);
        if (shown == end_len && memcmp(buf, end_text, end_len) == 0)
            break;
    }
    close(fd);
    return 0;
}
