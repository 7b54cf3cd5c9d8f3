/*
 * bpfrag: large ADUs across nodes (the sending node fragments, the receiving node reassembles)
 * and the status reports that come back for them.
 *
 *   bpfrag recv NODE SERVICE SIZE
 *       bind ipn:NODE.SERVICE, receive one ADU, check it is SIZE bytes of the pattern.
 *   bpfrag send DNODE DSERVICE SIZE SRC_NODE.SRC_SERVICE [EXPIRE_NODE.EXPIRE_SERVICE]
 *       bind the source, ask for delivery and deletion reports (SOL_BP, BP_REPORT_FLAGS), send
 *       SIZE bytes of the pattern to ipn:DNODE.DSERVICE. With EXPIRE_NODE.EXPIRE_SERVICE (a
 *       destination without a route), also send 10 bytes there with a 1 s lifetime. Then read
 *       the error queue (recvmsg MSG_ERRQUEUE) until a delivery report for ADU 1 from node DNODE
 *       has come, and a deletion report (reason 1, lifetime expired) for ADU 2 if it was sent.
 * Exit 0 when every check passed; 1 with a FAIL line otherwise.
 */
#include "bp_socket.h"
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static unsigned char pattern(size_t i) { return (unsigned char)((i * 7 + (i >> 11)) & 0xFF); }

static int fail(const char *what)
{
    printf("FAIL: %s (errno=%d %s)\n", what, errno, strerror(errno));
    return 1;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int do_recv(unsigned node, unsigned service, size_t size)
{
    int fd = socket(AF_BP, SOCK_DGRAM, 0);
    if (fd < 0)
        return fail("socket");
    struct timeval tv = {30, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_bp a;
    bp_sockaddr_ipn(&a, node, service);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0)
        return fail("bind");
    printf("Listening on ipn:%u.%u\n", node, service);
    fflush(stdout);
    unsigned char *buf = malloc(size + 1);
    if (!buf)
        return fail("malloc");
    struct sockaddr_bp src;
    socklen_t sl = sizeof src;
    ssize_t n = recvfrom(fd, buf, size + 1, 0, (struct sockaddr *)&src, &sl);
    if (n < 0)
        return fail("recvfrom");
    if ((size_t)n != size) {
        printf("FAIL: received %zd bytes, want %zu\n", n, size);
        return 1;
    }
    for (size_t i = 0; i < size; i++)
        if (buf[i] != pattern(i)) {
            printf("FAIL: byte %zu is %u, want %u\n", i, buf[i], pattern(i));
            return 1;
        }
    char s[BP_IPN_STRLEN];
    bp_format_ipn(s, sizeof s, &src);
    printf("bpfrag: received %zd bytes from %s intact\n", n, s);
    return 0;
}

static int parse_eid(const char *t, unsigned *n, unsigned *s)
{
    struct sockaddr_bp a;
    if (bp_parse_ipn(t, &a) < 0)
        return -1;
    *n = a.bp_addr.ipn.node_id;
    *s = a.bp_addr.ipn.service_id;
    return 0;
}

static int do_send(unsigned dnode, unsigned dsvc, size_t size, const char *src, const char *expire)
{
    unsigned sn, ss, en = 0, es = 0;
    if (parse_eid(src, &sn, &ss) < 0 || (expire && parse_eid(expire, &en, &es) < 0)) {
        printf("FAIL: bad EID argument\n");
        return 1;
    }
    int fd = socket(AF_BP, SOCK_DGRAM, 0);
    if (fd < 0)
        return fail("socket");
    struct sockaddr_bp a;
    bp_sockaddr_ipn(&a, sn, ss);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0)
        return fail("bind");
    int flags = BP_REPORT_DELIVERED | BP_REPORT_DELETED | BP_REPORT_STATUS_TIME;
    if (setsockopt(fd, SOL_BP, BP_REPORT_FLAGS, &flags, sizeof flags) < 0)
        return fail("setsockopt BP_REPORT_FLAGS");
    unsigned char *buf = malloc(size);
    if (!buf)
        return fail("malloc");
    for (size_t i = 0; i < size; i++)
        buf[i] = pattern(i);
    bp_sockaddr_ipn(&a, dnode, dsvc);
    if (sendto(fd, buf, size, 0, (struct sockaddr *)&a, sizeof a) != (ssize_t)size)
        return fail("sendto the large ADU");
    printf("bpfrag: sent %zu bytes to ipn:%u.%u\n", size, dnode, dsvc);
    if (expire) {
        int one = 1;
        if (setsockopt(fd, SOL_BP, BP_LIFETIME, &one, sizeof one) < 0)
            return fail("setsockopt BP_LIFETIME 1");
        bp_sockaddr_ipn(&a, en, es);
        if (sendto(fd, "short-life", 10, 0, (struct sockaddr *)&a, sizeof a) != 10)
            return fail("sendto the short-lived ADU");
        printf("bpfrag: sent 10 bytes with a 1 s lifetime to ipn:%u.%u (no route)\n", en, es);
    }
    fflush(stdout);
    int delivered = 0, deleted = expire ? 0 : 1;
    double end = now_s() + 20;
    while ((!delivered || !deleted) && now_s() < end) {
        unsigned char cbuf[CMSG_SPACE(sizeof(struct bp_status_report))];
        struct sockaddr_bp rep;
        struct msghdr m;
        memset(&m, 0, sizeof m);
        m.msg_name = &rep;
        m.msg_namelen = sizeof rep;
        m.msg_control = cbuf;
        m.msg_controllen = sizeof cbuf;
        ssize_t n = recvmsg(fd, &m, MSG_ERRQUEUE);
        if (n < 0) {
            if (errno != EAGAIN)
                return fail("recvmsg MSG_ERRQUEUE");
            usleep(50000);
            continue;
        }
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        if (n != 0 || !(m.msg_flags & MSG_ERRQUEUE) || !c || c->cmsg_level != SOL_BP ||
            c->cmsg_type != BP_STATUS_REPORT) {
            printf("FAIL: error-queue message not a status report (n=%zd flags=%#x)\n", n,
                   m.msg_flags);
            return 1;
        }
        struct bp_status_report r;
        memcpy(&r, CMSG_DATA(c), sizeof r);
        char s1[BP_IPN_STRLEN], s2[BP_IPN_STRLEN];
        bp_format_ipn(s1, sizeof s1, &rep);
        bp_format_ipn(s2, sizeof s2, &r.bp_source);
        printf("bpfrag: report from %s: status %#x reason %u about ADU %lu (source %s, created "
               "%lu.%lu, fragment %lu+%lu)\n",
               s1, r.bp_status, r.bp_reason, (unsigned long)r.bp_send_seq, s2,
               (unsigned long)r.bp_creation_time, (unsigned long)r.bp_creation_seq,
               (unsigned long)r.bp_frag_offset, (unsigned long)r.bp_frag_length);
        fflush(stdout);
        if (r.bp_source.bp_addr.ipn.node_id != sn || r.bp_source.bp_addr.ipn.service_id != ss) {
            printf("FAIL: report about a bundle from %s, want ipn:%u.%u\n", s2, sn, ss);
            return 1;
        }
        if ((r.bp_status & BP_REPORT_DELIVERED) && r.bp_send_seq == 1 &&
            rep.bp_addr.ipn.node_id == dnode && r.bp_time[2] != 0)
            delivered = 1;
        if ((r.bp_status & BP_REPORT_DELETED) && r.bp_send_seq == 2 && r.bp_reason == 1 &&
            rep.bp_addr.ipn.node_id == sn)
            deleted = 1;
    }
    if (!delivered) {
        printf("FAIL: no delivery report for ADU 1 from node %u within 20 s\n", dnode);
        return 1;
    }
    if (!deleted) {
        printf("FAIL: no deletion report (lifetime expired) for ADU 2 within 20 s\n");
        return 1;
    }
    printf("bpfrag: delivery%s report(s) read\n", expire ? " and deletion" : "");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 5 && strcmp(argv[1], "recv") == 0)
        return do_recv((unsigned)atoi(argv[2]), (unsigned)atoi(argv[3]),
                       (size_t)strtoull(argv[4], NULL, 10));
    if (argc >= 6 && strcmp(argv[1], "send") == 0)
        return do_send((unsigned)atoi(argv[2]), (unsigned)atoi(argv[3]),
                       (size_t)strtoull(argv[4], NULL, 10), argv[5], argc > 6 ? argv[6] : NULL);
    fprintf(stderr, "usage: bpfrag recv NODE SERVICE SIZE | bpfrag send DNODE DSERVICE SIZE "
                    "SRC_N.S [EXPIRE_N.S]\n");
    return 2;
}
