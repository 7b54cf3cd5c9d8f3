/*
 * interop_dtn7 - the bpshim side of the dtn7-rs interop tests (scripts/interop/dtn7_interop.sh).
 *
 *   interop_dtn7 send <dest_node.dest_service> <src_node.src_service> <gap_ms> FILE...
 *       socket(AF_BP, SOCK_DGRAM, 0); bind the source; for each FILE in order, read it whole
 *       (1 byte .. BP_DEFAULT_MAX_ADU) and send it as one ADU with sendto(dest), then sleep
 *       gap_ms milliseconds (pacing for the UDP convergence layer, which has no flow control;
 *       0 for none). Prints "sent <k> <bytes> <file>" per ADU and "SENT <count>" at the end,
 *       closes the socket and exits 0 (the shim flushes what is queued at exit).
 *
 *   interop_dtn7 recv <node> <service> <count> <idle_seconds> <outdir>
 *       socket(AF_BP, SOCK_DGRAM, 0); SO_RCVTIMEO 1 s; bind ipn:node.service; print
 *       "READY ipn:N.S"; then receive ADUs (recvmsg, buffer of BP_DEFAULT_MAX_ADU + 1 bytes)
 *       until <count> have come, writing ADU k (k = 0, 1, ...) to <outdir>/adu<k>.bin and
 *       printing
 *           ADU <k> len=<bytes> trunc=<0|1> src=<ipn:N.S, the text EID, or ?>
 *       Exits 0 after <count> ADUs, 2 after idle_seconds without any ADU, 1 on an error.
 *
 * stdout is flushed after every line (the test reads it while the program runs).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "bp_socket.h"

static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 65536, n = 0;
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

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static int do_send(int argc, char *argv[])
{
    struct sockaddr_bp dest, src;
    if (bp_parse_ipn(argv[2], &dest) != 0 || bp_parse_ipn(argv[3], &src) != 0) {
        fprintf(stderr, "interop_dtn7: bad EID %s or %s (want node.service)\n", argv[2], argv[3]);
        return 1;
    }
    long gap = atol(argv[4]);
    int fd = socket(AF_BP, SOCK_DGRAM, 0);
    if (fd < 0) {
        perror("interop_dtn7: socket");
        return 1;
    }
    if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) {
        perror("interop_dtn7: bind");
        return 1;
    }
    int k = 0;
    for (int i = 5; i < argc; i++, k++) {
        size_t len;
        unsigned char *data = read_file(argv[i], &len);
        if (!data) {
            fprintf(stderr, "interop_dtn7: cannot read %s: %s\n", argv[i], strerror(errno));
            return 1;
        }
        ssize_t n = sendto(fd, data, len, 0, (struct sockaddr *)&dest, sizeof dest);
        free(data);
        if (n < 0 || (size_t)n != len) {
            fprintf(stderr, "interop_dtn7: sendto of %s (%zu bytes) returned %zd: %s\n", argv[i],
                    len, n, n < 0 ? strerror(errno) : "short");
            return 1;
        }
        printf("sent %d %zu %s\n", k, len, argv[i]);
        fflush(stdout);
        if (gap > 0)
            sleep_ms(gap);
    }
    printf("SENT %d\n", k);
    fflush(stdout);
    close(fd);
    return 0;
}

static int do_recv(char *argv[])
{
    unsigned long node = strtoul(argv[2], NULL, 10), service = strtoul(argv[3], NULL, 10);
    long count = atol(argv[4]);
    int idle = atoi(argv[5]);
    const char *outdir = argv[6];
    size_t cap = BP_DEFAULT_MAX_ADU + 1;
    unsigned char *buf = malloc(cap);
    if (!buf) {
        perror("interop_dtn7: malloc");
        return 1;
    }
    int fd = socket(AF_BP, SOCK_DGRAM, 0);
    if (fd < 0) {
        perror("interop_dtn7: socket");
        return 1;
    }
    struct timeval tv = {1, 0};
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0) {
        perror("interop_dtn7: SO_RCVTIMEO");
        return 1;
    }
    struct sockaddr_bp addr;
    bp_sockaddr_ipn(&addr, (uint32_t)node, (uint32_t)service);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        perror("interop_dtn7: bind");
        return 1;
    }
    char eid[BP_IPN_STRLEN];
    bp_format_ipn(eid, sizeof eid, &addr);
    printf("READY %s\n", eid);
    fflush(stdout);

    int quiet = 0;
    long k = 0;
    while (k < count) {
        struct sockaddr_bp_ext src;
        struct iovec iov = {buf, cap};
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
                    printf("IDLE %d s without an ADU after %ld ADUs\n", quiet, k);
                    fflush(stdout);
                    return 2;
                }
                continue;
            }
            if (errno == EINTR)
                continue;
            perror("interop_dtn7: recvmsg");
            return 1;
        }
        quiet = 0;
        char srcbuf[sizeof src.bp_eid + 1];
        if (msg.msg_namelen >= sizeof(struct sockaddr_bp) && src.bp_scheme == BP_SCHEME_IPN) {
            bp_format_ipn(srcbuf, sizeof srcbuf, (struct sockaddr_bp *)&src);
        } else if (msg.msg_namelen > 8 && src.bp_scheme != BP_SCHEME_IPN) {
            snprintf(srcbuf, sizeof srcbuf, "%.*s", (int)sizeof src.bp_eid, src.bp_eid);
        } else {
            snprintf(srcbuf, sizeof srcbuf, "?");
        }
        size_t got = (size_t)n > cap ? cap : (size_t)n;
        char path[4096];
        snprintf(path, sizeof path, "%s/adu%ld.bin", outdir, k);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(buf, 1, got, f) != got || fclose(f) != 0) {
            fprintf(stderr, "interop_dtn7: cannot write %s\n", path);
            return 1;
        }
        printf("ADU %ld len=%zd trunc=%d src=%s\n", k, n, (msg.msg_flags & MSG_TRUNC) ? 1 : 0,
               srcbuf);
        fflush(stdout);
        k++;
    }
    close(fd);
    return 0;
}

int main(int argc, char *argv[])
{
    if (argc >= 6 && strcmp(argv[1], "send") == 0)
        return do_send(argc, argv);
    if (argc == 7 && strcmp(argv[1], "recv") == 0)
        return do_recv(argv);
    fprintf(stderr,
            "Usage: %s send <dnode.dservice> <snode.sservice> <gap_ms> FILE...\n"
            "       %s recv <node> <service> <count> <idle_seconds> <outdir>\n",
            argv[0], argv[0]);
    return 1;
}
