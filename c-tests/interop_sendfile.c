/*
 * interop_sendfile - send the contents of files as ADUs (interop tests, scripts/interop/).
 *
 *   interop_sendfile <dest_node.dest_service> <src_node.src_service> FLAGS:FILE...
 *
 * socket(AF_BP, SOCK_DGRAM, 0); bind to the source; then, for each argument FLAGS:FILE in
 * order, read FILE whole (binary, any size up to BP_DEFAULT_MAX_ADU, 0 bytes allowed) and send
 * it as one ADU with sendto(..., FLAGS, dest) (FLAGS: a number in C syntax, 0x.. for hex, e.g.
 * 0x401 = MSG_ACK_REQUESTED | MSG_BP_EXPEDITED_PRIORITY). Prints one line per ADU:
 *   sent <bytes> bytes flags 0x<flags> from <file>
 * then closes the socket and exits 0 (what was sent still leaves: the shim flushes on exit).
 * Exits 1 on any error (bad argument, unreadable file, failed call), saying which.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bp_socket.h"

static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    unsigned char *buf = malloc(cap);
    while (buf) {
        if (n == cap) {
            unsigned char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) {
            if (ferror(f)) {
                free(buf);
                buf = NULL;
            }
            break;
        }
    }
    fclose(f);
    *len = n;
    return buf;
}

int main(int argc, char *argv[])
{
    struct sockaddr_bp dest, src;
    if (argc < 4) {
        fprintf(stderr, "Usage: %s <dest_node.dest_service> <src_node.src_service> FLAGS:FILE...\n",
                argv[0]);
        return 1;
    }
    if (bp_parse_ipn(argv[1], &dest) != 0 || bp_parse_ipn(argv[2], &src) != 0) {
        fprintf(stderr, "interop_sendfile: bad EID %s or %s\n", argv[1], argv[2]);
        return 1;
    }
    int fd = socket(AF_BP, SOCK_DGRAM, 0);
    if (fd < 0) {
        perror("interop_sendfile: socket");
        return 1;
    }
    if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) {
        perror("interop_sendfile: bind");
        return 1;
    }
    for (int i = 3; i < argc; i++) {
        char *colon = strchr(argv[i], ':');
        char *end;
        if (!colon) {
            fprintf(stderr, "interop_sendfile: want FLAGS:FILE, got %s\n", argv[i]);
            return 1;
        }
        *colon = '\0';
        errno = 0;
        unsigned long flags = strtoul(argv[i], &end, 0);
        if (errno || end == argv[i] || *end || flags > 0x7FFFFFFFul) {
            fprintf(stderr, "interop_sendfile: bad flags %s\n", argv[i]);
            return 1;
        }
        const char *path = colon + 1;
        size_t len;
        unsigned char *buf = read_file(path, &len);
        if (!buf) {
            fprintf(stderr, "interop_sendfile: cannot read %s: %s\n", path, strerror(errno));
            return 1;
        }
        ssize_t n = sendto(fd, buf, len, (int)flags, (struct sockaddr *)&dest, sizeof dest);
        if (n < 0 || (size_t)n != len) {
            fprintf(stderr, "interop_sendfile: sendto %s (%zu bytes, flags 0x%lx): %s\n", path, len,
                    flags, n < 0 ? strerror(errno) : "short send");
            free(buf);
            return 1;
        }
        printf("sent %zu bytes flags 0x%lx from %s\n", len, flags, path);
        fflush(stdout);
        free(buf);
    }
    close(fd);
    return 0;
}
