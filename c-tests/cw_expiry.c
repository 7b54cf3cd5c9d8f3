/*
 * cw_expiry - bundles that expire while they wait for a closed contact, and their deletion
 * reports (helper of test_expiry.sh; not a test itself).
 *
 *   cw_expiry send <node> <dest_node.svc> <go_file> [<report_to_node.svc>]
 *   cw_expiry watch <node> <service> <count> <timeout_s> <src_node.svc>
 *
 * send (the node's contact to the destination must stay closed):
 *   - socket A bound to ipn:node.1 with SOL_BP BP_LIFETIME 2 and BP_REPORT_FLAGS
 *     BP_REPORT_DELETED (both read back with getsockopt) sends 5 ADUs "short-1".."short-5";
 *     socket L bound to ipn:node.2 with BP_LIFETIME 3600 and BP_REPORT_DELETED sends 3 ADUs
 *     "long-1".."long-3"; with report_to, socket R bound to ipn:node.3 with BP_LIFETIME 2,
 *     BP_REPORT_DELETED and BP_REPORT_TO report_to sends 2 ADUs "remote-1", "remote-2";
 *   - 1 s after the sends, no report is queued anywhere (EAGAIN at once on A and L);
 *   - A's error queue then gets 5 reports within 6 s: each 0 bytes, MSG_ERRQUEUE in msg_flags,
 *     one SOL_BP/BP_STATUS_REPORT control message, bp_status BP_REPORT_DELETED, bp_reason 1
 *     (lifetime expired), bp_source ipn:node.1, bp_reporter and msg_name ipn:node.0, distinct
 *     bp_send_seq covering 1..5 and distinct creation timestamps; each report comes at least
 *     1.99 s after its sendto was called and at most 4.5 s after it returned (lifetime 2 s,
 *     lifetimes checked every second);
 *   - 1.5 s after the fifth report: no other report on A, none on L (its bundles live on),
 *     none on R (its reports go to report_to);
 *   - prints "STORE_CHECK" and waits (up to 30 s) until go_file exists, then returns 0.
 * watch: binds ipn:node.service, prints "READY", and waits up to timeout_s for count reports in
 *   its error queue: each BP_REPORT_DELETED, reason 1, bp_source src, bp_reporter ipn:src_node.0,
 *   bp_send_seq 0 (the socket did not send the bundle); then 1 s with no other report.
 * Lines "CHECK ..." for what passed, "REPORT ..." per report; a failed check: "FAIL: ..." on
 * stderr and status 1.
 */
#include "harness.h"

#include <sys/stat.h>

static void set_int(int fd, int opt, const char *name, int v)
{
    if (setsockopt(fd, SOL_BP, opt, &v, sizeof v) != 0)
        FAIL("setsockopt(SOL_BP, %s, %d): %s", name, v, strerror(errno));
    int got = -1;
    socklen_t len = sizeof got;
    if (getsockopt(fd, SOL_BP, opt, &got, &len) != 0)
        FAIL("getsockopt(SOL_BP, %s): %s", name, strerror(errno));
    if (got != v)
        FAIL("getsockopt(SOL_BP, %s) = %d after setting %d", name, got, v);
}

static void addr_is(const struct sockaddr_bp *a, uint32_t node, uint32_t svc, const char *what)
{
    if (a->bp_family != AF_BP || a->bp_scheme != BP_SCHEME_IPN ||
        a->bp_addr.ipn.node_id != node || a->bp_addr.ipn.service_id != svc) {
        char s[BP_IPN_STRLEN];
        bp_format_ipn(s, sizeof s, a);
        FAIL("%s is %s (family %d), want ipn:%u.%u", what, s, a->bp_family, node, svc);
    }
}

/* One recvmsg(MSG_ERRQUEUE): 1 and *r filled (envelope checked), or 0 on EAGAIN. */
static int read_report(int fd, struct bp_status_report *r, struct sockaddr_bp *from)
{
    union {
        struct cmsghdr align;
        unsigned char b[512];
    } cbuf;
    char data[16];
    struct iovec iov = {data, sizeof data};
    struct msghdr m;
    memset(&m, 0, sizeof m);
    memset(from, 0, sizeof *from);
    m.msg_name = from;
    m.msg_namelen = sizeof *from;
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = cbuf.b;
    m.msg_controllen = sizeof cbuf.b;
    errno = 0;
    ssize_t n = recvmsg(fd, &m, MSG_ERRQUEUE);
    if (n < 0) {
        if (errno == EAGAIN)
            return 0;
        FAIL("recvmsg(fd %d, MSG_ERRQUEUE): %s", fd, strerror(errno));
    }
    if (n != 0)
        FAIL("recvmsg(MSG_ERRQUEUE) returned %zd bytes, want 0", n);
    if (!(m.msg_flags & MSG_ERRQUEUE) || (m.msg_flags & MSG_CTRUNC))
        FAIL("recvmsg(MSG_ERRQUEUE): msg_flags %#x, want MSG_ERRQUEUE and no MSG_CTRUNC",
             m.msg_flags);
    if (m.msg_namelen != sizeof(struct sockaddr_bp))
        FAIL("recvmsg(MSG_ERRQUEUE): namelen %u, want 16", (unsigned)m.msg_namelen);
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    if (!c || c->cmsg_level != SOL_BP || c->cmsg_type != BP_STATUS_REPORT ||
        c->cmsg_len < CMSG_LEN(sizeof *r))
        FAIL("recvmsg(MSG_ERRQUEUE): no SOL_BP/BP_STATUS_REPORT control message of %zu bytes",
             (size_t)CMSG_LEN(sizeof *r));
    memcpy(r, CMSG_DATA(c), sizeof *r);
    return 1;
}

static void expect_none(int fd, const char *what)
{
    struct bp_status_report r;
    struct sockaddr_bp from;
    long long t0 = now_ms();
    if (read_report(fd, &r, &from))
        FAIL("%s: a report is queued (status %#x reason %u seq %llu), want none", what,
             r.bp_status, r.bp_reason, (unsigned long long)r.bp_send_seq);
    if (now_ms() - t0 > 200)
        FAIL("%s: recvmsg(MSG_ERRQUEUE) took %lld ms to say EAGAIN", what, now_ms() - t0);
}

static void check_deleted(const struct bp_status_report *r, const struct sockaddr_bp *from,
                          uint32_t src_node, uint32_t src_svc, const char *what)
{
    if (r->bp_status != BP_REPORT_DELETED)
        FAIL("%s: bp_status %#x, want BP_REPORT_DELETED (%#x) only", what, r->bp_status,
             BP_REPORT_DELETED);
    if (r->bp_reason != 1)
        FAIL("%s: bp_reason %u, want 1 (lifetime expired)", what, r->bp_reason);
    addr_is(&r->bp_source, src_node, src_svc, "bp_source");
    addr_is(&r->bp_reporter, src_node, 0, "bp_reporter");
    addr_is(from, src_node, 0, "msg_name (the reporting node)");
    if (r->bp_frag_offset || r->bp_frag_length)
        FAIL("%s: fragment %llu+%llu, want none", what, (unsigned long long)r->bp_frag_offset,
             (unsigned long long)r->bp_frag_length);
}

static int do_send(int argc, char *argv[])
{
    struct sockaddr_bp dst, rto;
    uint32_t node = (uint32_t)strtoul(argv[2], NULL, 10);
    if (bp_parse_ipn(argv[3], &dst) != 0)
        FAIL("bad destination %s", argv[3]);
    const char *go = argv[4];
    int remote = argc > 5;
    if (remote && bp_parse_ipn(argv[5], &rto) != 0)
        FAIL("bad report-to %s", argv[5]);
    uint32_t dn = dst.bp_addr.ipn.node_id, ds = dst.bp_addr.ipn.service_id;

    int a = BOUND_SOCKET(node, 1), l = BOUND_SOCKET(node, 2), rs = -1;
    set_int(a, BP_LIFETIME, "BP_LIFETIME", 2);
    set_int(a, BP_REPORT_FLAGS, "BP_REPORT_FLAGS", BP_REPORT_DELETED);
    set_int(l, BP_LIFETIME, "BP_LIFETIME", 3600);
    set_int(l, BP_REPORT_FLAGS, "BP_REPORT_FLAGS", BP_REPORT_DELETED);
    if (remote) {
        rs = BOUND_SOCKET(node, 3);
        set_int(rs, BP_LIFETIME, "BP_LIFETIME", 2);
        set_int(rs, BP_REPORT_FLAGS, "BP_REPORT_FLAGS", BP_REPORT_DELETED);
        if (setsockopt(rs, SOL_BP, BP_REPORT_TO, &rto, sizeof rto) != 0)
            FAIL("setsockopt(SOL_BP, BP_REPORT_TO, %s): %s", argv[5], strerror(errno));
    }
    printf("CHECK SOL_BP options set and read back (A: lifetime 2 s, L: 3600 s, deletion "
           "reports)\n");

    /* sendto of short-i was called at call_at[i] and returned at sent_at[i] (the bundle's
     * creation time is in between). */
    long long call_at[6], sent_at[6];
    char text[32];
    for (int i = 1; i <= 5; i++) {
        snprintf(text, sizeof text, "short-%d", i);
        call_at[i] = now_ms();
        SEND_STR(a, dn, ds, text);
        sent_at[i] = now_ms();
    }
    for (int i = 1; i <= 3; i++) {
        snprintf(text, sizeof text, "long-%d", i);
        SEND_STR(l, dn, ds, text);
    }
    if (remote)
        for (int i = 1; i <= 2; i++) {
            snprintf(text, sizeof text, "remote-%d", i);
            SEND_STR(rs, dn, ds, text);
        }
    long long t0 = call_at[1];
    printf("SENT 5 short (%lld ms), 3 long%s\n", sent_at[5] - t0,
           remote ? ", 2 with a remote report-to" : "");
    fflush(stdout);

    /* Before any lifetime ends: nothing reported. */
    long long wait = t0 + 1000 - now_ms();
    if (wait > 0)
        sleep_ms((long)wait);
    if (now_ms() - t0 < 1900) {
        expect_none(a, "socket A 1 s after its sends");
        expect_none(l, "socket L 1 s after its sends");
        printf("CHECK no report 1 s after the sends (lifetime 2 s not over)\n");
    } else {
        printf("NOTE the check 1 s after the sends came too late (%lld ms); skipped\n",
               now_ms() - t0);
    }

    int seen[6] = {0};
    uint64_t ct[5], cs[5];
    int got = 0;
    while (got < 5) {
        struct bp_status_report r;
        struct sockaddr_bp from;
        if (!read_report(a, &r, &from)) {
            if (now_ms() - t0 > 6000)
                FAIL("socket A: %d of 5 deletion reports within 6 s of the sends", got);
            sleep_ms(20);
            continue;
        }
        long long now = now_ms();
        char w[64];
        snprintf(w, sizeof w, "socket A report %d", got + 1);
        check_deleted(&r, &from, node, 1, w);
        uint64_t q = r.bp_send_seq;
        if (q < 1 || q > 5)
            FAIL("%s: bp_send_seq %llu, want 1..5", w, (unsigned long long)q);
        if (seen[q]++)
            FAIL("%s: bp_send_seq %llu reported twice", w, (unsigned long long)q);
        long long age = now - sent_at[q], since_call = now - call_at[q];
        if (since_call < 1990 || age > 4500)
            FAIL("%s (seq %llu) came %lld ms after its sendto was called and %lld ms after it "
                 "returned, want at least 1990 ms after the call and at most 4500 ms after the "
                 "return (lifetime 2 s, checked every second)", w, (unsigned long long)q,
                 since_call, age);
        for (int j = 0; j < got; j++)
            if (ct[j] == r.bp_creation_time && cs[j] == r.bp_creation_seq)
                FAIL("%s: creation timestamp %llu.%llu already reported", w,
                     (unsigned long long)r.bp_creation_time,
                     (unsigned long long)r.bp_creation_seq);
        ct[got] = r.bp_creation_time;
        cs[got] = r.bp_creation_seq;
        got++;
        printf("REPORT deleted reason %u seq %llu creation %llu.%llu, %lld ms after its send\n",
               r.bp_reason, (unsigned long long)q, (unsigned long long)r.bp_creation_time,
               (unsigned long long)r.bp_creation_seq, age);
        fflush(stdout);
    }
    printf("CHECK 5 deletion reports on socket A: reason 1, bp_send_seq 1..5, source ipn:%u.1, "
           "reporter ipn:%u.0\n", node, node);
    sleep_ms(1500);
    expect_none(a, "socket A after its 5 reports");
    expect_none(l, "socket L (lifetime 3600 s)");
    if (remote)
        expect_none(rs, "socket R (its reports go to its report-to EID)");
    printf("CHECK no other report 1.5 s later on A, none on L%s\n", remote ? " or R" : "");
    printf("STORE_CHECK\n");
    fflush(stdout);
    long long t_go = now_ms();
    struct stat st;
    while (stat(go, &st) != 0) {
        if (now_ms() - t_go > 30000)
            FAIL("%s did not appear within 30 s", go);
        sleep_ms(50);
    }
    printf("DONE\n");
    return 0;
}

static int do_watch(char *argv[])
{
    uint32_t node = (uint32_t)strtoul(argv[2], NULL, 10);
    uint32_t svc = (uint32_t)strtoul(argv[3], NULL, 10);
    int count = atoi(argv[4]);
    long long timeout = atoll(argv[5]) * 1000;
    struct sockaddr_bp src;
    if (bp_parse_ipn(argv[6], &src) != 0)
        FAIL("bad source %s", argv[6]);
    int fd = BOUND_SOCKET(node, svc);
    printf("READY ipn:%u.%u\n", node, svc);
    fflush(stdout);
    long long t0 = now_ms();
    int got = 0;
    while (got < count) {
        struct bp_status_report r;
        struct sockaddr_bp from;
        if (!read_report(fd, &r, &from)) {
            if (now_ms() - t0 > timeout)
                FAIL("ipn:%u.%u: %d of %d reports within %lld s", node, svc, got, count,
                     timeout / 1000);
            sleep_ms(20);
            continue;
        }
        char w[64];
        snprintf(w, sizeof w, "report %d at ipn:%u.%u", got + 1, node, svc);
        check_deleted(&r, &from, src.bp_addr.ipn.node_id, src.bp_addr.ipn.service_id, w);
        if (r.bp_send_seq != 0)
            FAIL("%s: bp_send_seq %llu, want 0 (this socket did not send the bundle)", w,
                 (unsigned long long)r.bp_send_seq);
        got++;
        printf("REPORT deleted reason %u about %s creation %llu.%llu\n", r.bp_reason, argv[6],
               (unsigned long long)r.bp_creation_time, (unsigned long long)r.bp_creation_seq);
        fflush(stdout);
    }
    sleep_ms(1000);
    expect_none(fd, "the report-to socket after its reports");
    printf("CHECK %d deletion reports at ipn:%u.%u from ipn:%u.0, none more\n", count, node, svc,
           src.bp_addr.ipn.node_id);
    return 0;
}

int main(int argc, char *argv[])
{
    harness_test_name = "cw_expiry";
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 5 && argc <= 6 && strcmp(argv[1], "send") == 0)
        return do_send(argc, argv);
    if (argc == 7 && strcmp(argv[1], "watch") == 0)
        return do_watch(argv);
    fprintf(stderr,
            "usage: %s send <node> <dest_node.svc> <go_file> [<report_to_node.svc>]\n"
            "       %s watch <node> <service> <count> <timeout_s> <src_node.svc>\n",
            argv[0], argv[0]);
    return 1;
}
