/*
 * test_errqueue: contract item "recvmsg(..., MSG_ERRQUEUE)" and the status reports of
 * README "Bundle options (SOL_BP) and status reports" (one node, ipn:1.0, local delivery).
 *  - nothing queued: EAGAIN at once, also on a blocking socket (bound or not);
 *  - BP_REPORT_FLAGS = BP_REPORT_DELIVERED, 3 ADUs to another local socket: once received,
 *    3 delivery reports are read in order: 0 bytes, bp_send_seq 1, 2, 3, bp_status
 *    BP_REPORT_DELIVERED, reason 0, bp_source = the sender's EID, bp_reporter and msg_name
 *    ipn:1.0 (namelen 16), MSG_ERRQUEUE in msg_flags and no MSG_CTRUNC, one control message
 *    SOL_BP/BP_STATUS_REPORT of CMSG_LEN(sizeof(struct bp_status_report)), creation time
 *    within 60 s of now, distinct bundle IDs, no fragment, no event times; then EAGAIN;
 *  - the data path is not disturbed: while reports are queued the sender's recv is EAGAIN and
 *    poll shows no POLLIN; an ADU sent to the sender then is received intact and the reports
 *    stay queued; the receiver gets exactly the 3 ADUs;
 *  - MSG_PEEK leaves the report queued (two peeks and the read give the same report);
 *  - a control buffer too small (and none at all): returns 0 with MSG_CTRUNC, report consumed;
 *  - BP_REPORT_STATUS_TIME: bp_time[2] (delivery) is DTN ms within 60 s of now, the other
 *    times 0; without it bp_time[2] is 0;
 *  - a 1 s-lifetime ADU to ipn:1.899 (nothing bound) gives a deletion report after 1-3 s,
 *    reason 1 (lifetime expired), reporter ipn:1.0;
 *  - BP_REPORT_TO = another local socket's EID: the report goes to that socket's error queue
 *    (bp_send_seq 0 there, never as an ADU on its data path), not to the sender's.
 */
#include "harness.h"

#include <sys/time.h>

#define DTN_EPOCH_UNIX_MS 946684800000LL

static long long dtn_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 - DTN_EPOCH_UNIX_MS;
}

/* One recvmsg(MSG_ERRQUEUE | extra) and what it returned. */
struct errq {
    ssize_t n;
    int err;
    int msg_flags;
    struct sockaddr_bp from;
    socklen_t fromlen;
    size_t controllen;
    int ncmsg;
    int cmsg_level, cmsg_type;
    size_t cmsg_len;
    struct bp_status_report r;
};

/* cbuf_size: bytes of control buffer offered (SIZE_MAX-ish values not used); -1: none. */
static void errq_read(int fd, int extra_flags, long cbuf_size, struct errq *q)
{
    union {
        struct cmsghdr align;
        unsigned char b[512];
    } cbuf;
    char data[64];
    struct iovec iov = {data, sizeof data};
    struct msghdr m;
    memset(q, 0, sizeof *q);
    memset(&cbuf, 0xC5, sizeof cbuf);
    memset(&q->from, 0xA5, sizeof q->from);
    memset(&m, 0, sizeof m);
    m.msg_name = &q->from;
    m.msg_namelen = sizeof q->from;
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    if (cbuf_size >= 0) {
        m.msg_control = cbuf.b;
        m.msg_controllen = (size_t)cbuf_size;
    }
    m.msg_flags = 0x7FFF0000; /* must be overwritten */
    errno = 0;
    q->n = recvmsg(fd, &m, MSG_ERRQUEUE | extra_flags);
    q->err = errno;
    q->msg_flags = m.msg_flags;
    q->fromlen = m.msg_namelen;
    q->controllen = m.msg_controllen;
    if (q->n < 0)
        return;
    if (cbuf_size > 0 && m.msg_controllen > 0) {
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
            if (q->ncmsg++ == 0) {
                q->cmsg_level = c->cmsg_level;
                q->cmsg_type = c->cmsg_type;
                q->cmsg_len = c->cmsg_len;
                if (c->cmsg_len >= CMSG_LEN(sizeof q->r))
                    memcpy(&q->r, CMSG_DATA(c), sizeof q->r);
            }
        }
    }
}

#define FULL_CBUF ((long)CMSG_SPACE(sizeof(struct bp_status_report)))

/* The error queue of fd is empty: EAGAIN at once. */
static void expect_errq_empty(int fd, const char *what, const char *file, int line)
{
    struct errq q;
    long long t0 = now_ms();
    errq_read(fd, 0, FULL_CBUF, &q);
    long long dt = now_ms() - t0;
    if (q.n != -1 || q.err != EAGAIN)
        harness_fail(file, line, q.err,
                     "%s: recvmsg(fd %d, MSG_ERRQUEUE) = %zd (status %#x seq %llu), want -1/EAGAIN",
                     what, fd, q.n, q.r.bp_status, (unsigned long long)q.r.bp_send_seq);
    if (dt > 200)
        harness_fail(file, line, 0, "%s: recvmsg(fd %d, MSG_ERRQUEUE) took %lld ms to say EAGAIN",
                     what, fd, dt);
}
#define EXPECT_ERRQ_EMPTY(fd, what) expect_errq_empty((fd), (what), __FILE__, __LINE__)

/* Wait (peeking) until a report is queued on fd; fails after timeout_ms. Returns the ms
 * waited. */
static long long wait_report(int fd, int timeout_ms, const char *what, const char *file, int line)
{
    long long t0 = now_ms();
    for (;;) {
        struct errq q;
        errq_read(fd, MSG_PEEK, FULL_CBUF, &q);
        if (q.n >= 0)
            return now_ms() - t0;
        if (q.err != EAGAIN)
            harness_fail(file, line, q.err, "%s: recvmsg(fd %d, MSG_ERRQUEUE|MSG_PEEK)", what,
                         fd);
        if (now_ms() - t0 > timeout_ms)
            harness_fail(file, line, ETIMEDOUT, "%s: no status report on fd %d within %d ms",
                         what, fd, timeout_ms);
        sleep_ms(10);
    }
}
#define WAIT_REPORT(fd, ms, what) wait_report((fd), (ms), (what), __FILE__, __LINE__)

/* A complete, well-formed report (full control buffer): checks the envelope and the fields
 * common to every report here. */
static void check_report_envelope(const struct errq *q, const char *what, const char *file,
                                  int line)
{
    if (q->n != 0)
        harness_fail(file, line, q->err, "%s: recvmsg(MSG_ERRQUEUE) = %zd, want 0", what, q->n);
    if (!(q->msg_flags & MSG_ERRQUEUE))
        harness_fail(file, line, 0, "%s: msg_flags %#x lacks MSG_ERRQUEUE", what, q->msg_flags);
    if (q->msg_flags & (MSG_CTRUNC | MSG_TRUNC))
        harness_fail(file, line, 0, "%s: msg_flags %#x has MSG_CTRUNC/MSG_TRUNC with a %ld-byte "
                     "control buffer", what, q->msg_flags, FULL_CBUF);
    check_addr(&q->from, q->fromlen, 1, 0, what, file, line); /* reporter in msg_name */
    if (q->ncmsg != 1)
        harness_fail(file, line, 0, "%s: %d control messages, want 1", what, q->ncmsg);
    if (q->cmsg_level != SOL_BP || q->cmsg_type != BP_STATUS_REPORT)
        harness_fail(file, line, 0, "%s: control message level %#x type %d, want SOL_BP (%#x) "
                     "BP_STATUS_REPORT (%d)", what, q->cmsg_level, q->cmsg_type, SOL_BP,
                     BP_STATUS_REPORT);
    if (q->cmsg_len != CMSG_LEN(sizeof(struct bp_status_report)))
        harness_fail(file, line, 0, "%s: cmsg_len %zu, want %zu", what, q->cmsg_len,
                     (size_t)CMSG_LEN(sizeof(struct bp_status_report)));
    if (q->controllen != (size_t)FULL_CBUF)
        harness_fail(file, line, 0, "%s: msg_controllen %zu, want %ld", what, q->controllen,
                     FULL_CBUF);
    const struct bp_status_report *r = &q->r;
    check_addr(&r->bp_reporter, sizeof r->bp_reporter, 1, 0, "bp_reporter", file, line);
    long long now = dtn_now_ms();
    if ((long long)r->bp_creation_time < now - 60000 || (long long)r->bp_creation_time > now + 60000)
        harness_fail(file, line, 0, "%s: bp_creation_time %llu is not within 60 s of now (%lld "
                     "DTN ms)", what, (unsigned long long)r->bp_creation_time, now);
    if (r->bp_frag_offset != 0 || r->bp_frag_length != 0)
        harness_fail(file, line, 0, "%s: fragment %llu+%llu, want 0+0 (not a fragment)", what,
                     (unsigned long long)r->bp_frag_offset,
                     (unsigned long long)r->bp_frag_length);
}

/* Read one report now (it must be queued) with a full control buffer and check it. */
static struct bp_status_report read_report(int fd, int extra_flags, uint32_t status,
                                           uint32_t reason, uint64_t seq, uint32_t src_node,
                                           uint32_t src_svc, const char *what, const char *file,
                                           int line)
{
    struct errq q;
    errq_read(fd, extra_flags, FULL_CBUF, &q);
    if (q.n < 0)
        harness_fail(file, line, q.err, "%s: recvmsg(fd %d, MSG_ERRQUEUE%s)", what, fd,
                     extra_flags & MSG_PEEK ? "|MSG_PEEK" : "");
    check_report_envelope(&q, what, file, line);
    const struct bp_status_report *r = &q.r;
    if (r->bp_status != status)
        harness_fail(file, line, 0, "%s: bp_status %#x, want %#x", what, r->bp_status, status);
    if (r->bp_reason != reason)
        harness_fail(file, line, 0, "%s: bp_reason %u, want %u", what, r->bp_reason, reason);
    if (r->bp_send_seq != seq)
        harness_fail(file, line, 0, "%s: bp_send_seq %llu, want %llu", what,
                     (unsigned long long)r->bp_send_seq, (unsigned long long)seq);
    char w[160];
    snprintf(w, sizeof w, "%s: bp_source", what);
    check_addr(&r->bp_source, sizeof r->bp_source, src_node, src_svc, w, file, line);
    return q.r;
}
#define READ_REPORT(fd, xf, st, rs, seq, sn, ss, what)                                        \
    read_report((fd), (xf), (st), (rs), (seq), (sn), (ss), (what), __FILE__, __LINE__)

static void expect_times(const struct bp_status_report *r, int which, const char *what)
{
    long long now = dtn_now_ms();
    for (int i = 0; i < 4; i++) {
        long long t = (long long)r->bp_time[i];
        if (i == which)
            CHECK(t >= now - 60000 && t <= now + 60000,
                  "%s: bp_time[%d] = %lld, want DTN ms within 60 s of now (%lld)", what, i, t,
                  now);
        else
            CHECK_EQ(t, 0, "%s: bp_time[%d] (event not reported)", what, i);
    }
}

static void set_flags(int fd, int flags)
{
    CHECK_OK(setsockopt(fd, SOL_BP, BP_REPORT_FLAGS, &flags, sizeof flags),
             "setsockopt(fd %d, BP_REPORT_FLAGS, %#x)", fd, flags);
}

int main(void)
{
    harness_test_name = "test_errqueue";
    char w[128];

    section("nothing queued: EAGAIN at once on a blocking socket");
    int u = BP_SOCKET(0);
    EXPECT_ERRQ_EMPTY(u, "unbound blocking socket");
    int a = BOUND_SOCKET(1, 800);
    EXPECT_ERRQ_EMPTY(a, "bound blocking socket");
    {
        struct timeval tv = {5, 0};
        CHECK_OK(setsockopt(a, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), "SO_RCVTIMEO 5 s");
        EXPECT_ERRQ_EMPTY(a, "bound socket with a 5 s SO_RCVTIMEO");
        struct timeval zero = {0, 0};
        CHECK_OK(setsockopt(a, SOL_SOCKET, SO_RCVTIMEO, &zero, sizeof zero), "SO_RCVTIMEO 0");
    }
    int b = BOUND_SOCKET(1, 801);
    EXPECT_ERRQ_EMPTY(b, "bound blocking socket (receiver)");

    section("BP_REPORT_DELIVERED: 3 ADUs, 3 delivery reports in order");
    set_flags(a, BP_REPORT_DELIVERED);
    SEND_STR(a, 1, 801, "report me 1");
    SEND_STR(a, 1, 801, "report me 2");
    SEND_STR(a, 1, 801, "report me 3");
    EXPECT_ADU(b, "report me 1", 1, 800);
    EXPECT_ADU(b, "report me 2", 1, 800);
    EXPECT_ADU(b, "report me 3", 1, 800);
    WAIT_REPORT(a, 3000, "first delivery report");
    sleep_ms(200); /* let all three be queued */

    section("the data path is not disturbed by queued reports");
    {
        char buf[64];
        errno = 0;
        ssize_t r = recv(a, buf, DYN(sizeof buf), MSG_DONTWAIT);
        CHECK(r == -1 && errno == EAGAIN,
              "recv(MSG_DONTWAIT) on the sender with reports queued = %zd (\"%.*s\"), want "
              "-1/EAGAIN", r, (int)(r > 0 ? r : 0), buf);
        struct pollfd p = {.fd = a, .events = POLLIN};
        int pr = poll(&p, 1, 0);
        CHECK(pr == 0, "poll(POLLIN) on the sender with only reports queued = %d revents %#x, "
              "want 0", pr, p.revents);
        SEND_STR(b, 1, 800, "data while reports wait");
        EXPECT_ADU(a, "data while reports wait", 1, 801);
        EXPECT_NOTHING(b, 100);
    }
    struct bp_status_report rep[3];
    for (int k = 0; k < 3; k++) {
        snprintf(w, sizeof w, "delivery report %d of 3", k + 1);
        rep[k] = READ_REPORT(a, 0, BP_REPORT_DELIVERED, 0, (uint64_t)k + 1, 1, 800, w);
        expect_times(&rep[k], -1, w); /* no BP_REPORT_STATUS_TIME: no times */
    }
    for (int k = 0; k < 3; k++)
        for (int j = k + 1; j < 3; j++)
            CHECK(rep[k].bp_creation_time != rep[j].bp_creation_time ||
                      rep[k].bp_creation_seq != rep[j].bp_creation_seq,
                  "reports %d and %d name the same bundle (creation %llu.%llu)", k + 1, j + 1,
                  (unsigned long long)rep[k].bp_creation_time,
                  (unsigned long long)rep[k].bp_creation_seq);
    sleep_ms(300);
    EXPECT_ERRQ_EMPTY(a, "after the 3 delivery reports (no other report was asked for)");
    EXPECT_ERRQ_EMPTY(b, "the receiver (asked for no report)");
    EXPECT_NOTHING(a, 50);
    EXPECT_NOTHING(b, 50);

    section("MSG_PEEK leaves the report queued");
    SEND_STR(a, 1, 801, "report me 4");
    EXPECT_ADU(b, "report me 4", 1, 800);
    WAIT_REPORT(a, 3000, "report 4");
    {
        struct bp_status_report p1 =
            READ_REPORT(a, MSG_PEEK, BP_REPORT_DELIVERED, 0, 4, 1, 800, "report 4, first peek");
        struct bp_status_report p2 =
            READ_REPORT(a, MSG_PEEK, BP_REPORT_DELIVERED, 0, 4, 1, 800, "report 4, second peek");
        struct bp_status_report p3 =
            READ_REPORT(a, 0, BP_REPORT_DELIVERED, 0, 4, 1, 800, "report 4, read after peeks");
        CHECK(memcmp(&p1, &p2, sizeof p1) == 0, "the two peeks returned different reports");
        CHECK(memcmp(&p1, &p3, sizeof p1) == 0, "the read after the peeks differs from the peek");
    }
    EXPECT_ERRQ_EMPTY(a, "after reading the peeked report");

    section("control buffer too small: 0 bytes, MSG_CTRUNC, report consumed");
    {
        static const long small[] = {-1, 0, (long)sizeof(struct cmsghdr),
                                     (long)CMSG_SPACE(sizeof(struct bp_status_report)) - 8};
        for (unsigned k = 0; k < sizeof small / sizeof small[0]; k++) {
            char text[32];
            snprintf(text, sizeof text, "report me %u", 5 + k);
            SEND_STR(a, 1, 801, text);
            EXPECT_ADU(b, text, 1, 800);
            snprintf(w, sizeof w, "report %u (control buffer %ld%s)", 5 + k, small[k],
                     small[k] < 0 ? ": none" : " bytes");
            WAIT_REPORT(a, 3000, w);
            struct errq q;
            errq_read(a, 0, small[k], &q);
            CHECK_EQ(q.n, 0, "%s: recvmsg(MSG_ERRQUEUE) return", w);
            CHECK(q.msg_flags & MSG_CTRUNC, "%s: msg_flags %#x lacks MSG_CTRUNC", w, q.msg_flags);
            CHECK(q.msg_flags & MSG_ERRQUEUE, "%s: msg_flags %#x lacks MSG_ERRQUEUE", w,
                  q.msg_flags);
            CHECK(q.controllen <= (size_t)(small[k] < 0 ? 0 : small[k]),
                  "%s: msg_controllen %zu grew beyond the buffer", w, q.controllen);
            CHECK(q.ncmsg == 0, "%s: %d control messages in a buffer too small", w, q.ncmsg);
            check_addr(&q.from, q.fromlen, 1, 0, w, __FILE__, __LINE__);
            EXPECT_ERRQ_EMPTY(a, "after a truncated read (the report is consumed)");
        }
    }

    section("BP_REPORT_STATUS_TIME: the delivery time is given");
    set_flags(a, BP_REPORT_DELIVERED | BP_REPORT_STATUS_TIME);
    SEND_STR(a, 1, 801, "report me 9");
    EXPECT_ADU(b, "report me 9", 1, 800);
    WAIT_REPORT(a, 3000, "report 9");
    {
        struct bp_status_report r =
            READ_REPORT(a, 0, BP_REPORT_DELIVERED, 0, 9, 1, 800, "report 9 (with status time)");
        expect_times(&r, 2, "report 9 (with status time)");
        CHECK((long long)r.bp_time[2] >= (long long)r.bp_creation_time - 1000,
              "delivery time %llu is before the creation time %llu",
              (unsigned long long)r.bp_time[2], (unsigned long long)r.bp_creation_time);
    }
    set_flags(a, BP_REPORT_DELIVERED);
    SEND_STR(a, 1, 801, "report me 10");
    EXPECT_ADU(b, "report me 10", 1, 800);
    WAIT_REPORT(a, 3000, "report 10");
    {
        struct bp_status_report r = READ_REPORT(a, 0, BP_REPORT_DELIVERED, 0, 10, 1, 800,
                                                "report 10 (status time no longer asked)");
        expect_times(&r, -1, "report 10 (status time no longer asked)");
    }
    EXPECT_ERRQ_EMPTY(a, "after report 10");

    section("BP_REPORT_TO another local socket: the report goes to its error queue");
    int e = BOUND_SOCKET(1, 830); /* sender */
    int f = BOUND_SOCKET(1, 831); /* report-to */
    int g = BOUND_SOCKET(1, 832); /* destination */
    {
        set_flags(e, BP_REPORT_DELIVERED);
        struct sockaddr_bp rt = ipn(1, 831);
        CHECK_OK(setsockopt(e, SOL_BP, BP_REPORT_TO, &rt, sizeof rt), "BP_REPORT_TO ipn:1.831");
        SEND_STR(e, 1, 832, "report elsewhere");
        EXPECT_ADU(g, "report elsewhere", 1, 830);
        WAIT_REPORT(f, 3000, "report on the report-to socket");
        READ_REPORT(f, 0, BP_REPORT_DELIVERED, 0, 0, 1, 830,
                    "report on the report-to socket ipn:1.831 (not its ADU: seq 0)");
        sleep_ms(300);
        EXPECT_ERRQ_EMPTY(e, "the sender, whose reports go to ipn:1.831");
        EXPECT_ERRQ_EMPTY(f, "the report-to socket after its one report");
        EXPECT_ERRQ_EMPTY(g, "the destination");
        EXPECT_NOTHING(f, 50); /* the report is not an ADU on the report-to socket */
        EXPECT_NOTHING(e, 50);
        EXPECT_NOTHING(g, 50);
    }

    section("deletion report: 1 s lifetime to ipn:1.899 (nothing bound)");
    {
        int c = BOUND_SOCKET(1, 810);
        set_flags(c, BP_REPORT_DELETED | BP_REPORT_STATUS_TIME);
        int one = 1;
        CHECK_OK(setsockopt(c, SOL_BP, BP_LIFETIME, &one, sizeof one), "BP_LIFETIME 1");
        long long t0 = now_ms();
        SEND_STR(c, 1, 899, "nobody binds this");
        long long waited = WAIT_REPORT(c, 6000, "deletion report");
        long long dt = now_ms() - t0;
        CHECK(dt >= 950 && dt <= 3000,
              "the deletion report came %lld ms after the send (peek loop waited %lld ms), "
              "want 1-3 s", dt, waited);
        struct bp_status_report r =
            READ_REPORT(c, 0, BP_REPORT_DELETED, 1, 1, 1, 810, "deletion report");
        expect_times(&r, 3, "deletion report (with status time)");
        CHECK((long long)r.bp_time[3] >= (long long)r.bp_creation_time + 900,
              "deletion time %llu is less than 1 s after the creation time %llu",
              (unsigned long long)r.bp_time[3], (unsigned long long)r.bp_creation_time);
        sleep_ms(200);
        EXPECT_ERRQ_EMPTY(c, "after the deletion report");
        close(c);
    }

    close(e);
    close(f);
    close(g);
    close(a);
    close(b);
    close(u);
    PASS();
}
