/*
 * cw_fill - fill the node's store up to BP_STORE_MAX while the contact is closed, check the
 * back-pressure, then keep sending once the contact opens (helper of test_full_store.sh; not a
 * test itself).
 *
 *   cw_fill <src_node.svc> <dest_node.svc> <open_unix> <extra>
 *
 * Every ADU is 1000 bytes: "fill-NNNNNN " padded with 'x'; NNNNNN counts every attempt (a
 * failed send's number is never reused). Lines on stdout (flushed):
 *   OK NNNNNN                a send returned 1000 (the ADU is accepted);
 *   FAILED NNNNNN errno      a send returned -1 (the ADU must never arrive);
 *   FULL ok=N elapsed_ms=T   the blocking send with SO_SNDTIMEO 1 s failed after T ms;
 *   CHECK ...                one line per check passed;
 *   WAITING                  the node is full and the program blocks until the contact opens;
 *   TOTAL ok=N failed=M      at the end (status 0).
 * Steps:
 *  A. blocking socket, SO_SNDTIMEO = 1 s: send until a send fails. It must fail with EAGAIN
 *     after 0.9 to 3 s (the timeout, not at once), and before open_unix - 1 (the contact must
 *     still be closed; otherwise the scenario is too slow for this machine).
 *  B. O_NONBLOCK: a send fails with EAGAIN in under 250 ms; poll(POLLOUT, 200 ms) returns 0 and
 *     waits 150 ms or more; with MSG_DONTWAIT on the blocking socket, EAGAIN too.
 *  C. blocking again with SO_SNDTIMEO = 30 s: one send blocks until the contact opens and the
 *     store drains; it must succeed no earlier than open_unix - 0.1 s and no later than
 *     open_unix + 5 s. Then poll(POLLOUT, 1 s) reports POLLOUT at once (under 500 ms).
 *  D. <extra> more blocking sends (SO_SNDTIMEO 10 s), each must succeed.
 * Any check that fails: "FAIL: ..." on stderr, status 1.
 */
#include "harness.h"

#include <sys/time.h>

#define ADU 1000

static double now_unix(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fd;
static struct sockaddr_bp dst;
static unsigned long next_id = 1, n_ok, n_failed;

static void set_sndtimeo(long secs)
{
    struct timeval tv = {secs, 0};
    if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0)
        FAIL("setsockopt(SO_SNDTIMEO, %ld s): %s", secs, strerror(errno));
}

static void set_nonblock(int on)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK) != 0)
        FAIL("fcntl(O_NONBLOCK=%d): %s", on, strerror(errno));
}

/* One send attempt with a new number; returns 0 on success, else errno. *ms: its duration. */
static int send_one(int flags, long long *ms)
{
    char buf[ADU];
    unsigned long id = next_id++;
    memset(buf, 'x', sizeof buf);
    int k = snprintf(buf, sizeof buf, "fill-%06lu ", id);
    buf[k] = 'x'; /* snprintf's NUL back to padding */
    long long t0 = now_ms();
    errno = 0;
    ssize_t n = sendto(fd, buf, sizeof buf, flags, (struct sockaddr *)&dst, sizeof dst);
    int e = errno;
    if (ms)
        *ms = now_ms() - t0;
    if (n == ADU) {
        printf("OK %06lu\n", id);
        n_ok++;
        return 0;
    }
    if (n >= 0)
        FAIL("sendto of %d bytes returned %zd", ADU, n);
    printf("FAILED %06lu %d\n", id, e);
    n_failed++;
    return e ? e : -1;
}

int main(int argc, char *argv[])
{
    harness_test_name = "cw_fill";
    struct sockaddr_bp src;
    if (argc != 5 || bp_parse_ipn(argv[1], &src) != 0 || bp_parse_ipn(argv[2], &dst) != 0) {
        fprintf(stderr, "usage: %s <src_node.svc> <dest_node.svc> <open_unix> <extra>\n", argv[0]);
        return 1;
    }
    double open_at = strtod(argv[3], NULL);
    unsigned long extra = strtoul(argv[4], NULL, 10);
    setvbuf(stdout, NULL, _IOLBF, 0);

    fd = socket(AF_BP, SOCK_DGRAM, 0);
    if (fd < 0)
        FAIL("socket: %s", strerror(errno));
    if (bind(fd, (struct sockaddr *)&src, sizeof src) != 0)
        FAIL("bind %s: %s", argv[1], strerror(errno));
    printf("READY %s (contact opens in %.1f s)\n", argv[1], open_at - now_unix());

    /* A. fill with blocking sends, SO_SNDTIMEO 1 s */
    set_sndtimeo(1);
    long long t_fill = now_ms(), ms = 0;
    int e;
    while ((e = send_one(0, &ms)) == 0) {
        if (n_ok > 20000)
            FAIL("20000 ADUs of %d bytes accepted and the store is not full (BP_STORE_MAX ignored?)",
                 ADU);
        if (ms >= 900)
            FAIL("send %lu blocked %lld ms and then succeeded while the contact was closed",
                 n_ok, ms);
    }
    double t_full = now_unix();
    printf("FULL ok=%lu elapsed_ms=%lld fill_s=%.2f\n", n_ok, ms, (now_ms() - t_fill) / 1000.0);
    if (e != EAGAIN)
        FAIL("the send that found the store full failed with errno %d (%s), want EAGAIN", e,
             strerror(e));
    if (ms < 900 || ms > 3000)
        FAIL("the send that found the store full failed after %lld ms, want the SO_SNDTIMEO of "
             "1 s (900..3000 ms)", ms);
    printf("CHECK blocking send with SO_SNDTIMEO 1 s: EAGAIN after %lld ms\n", ms);
    if (t_full > open_at - 1)
        FAIL("the store was full only %.2f s before the contact opens (too slow: the scenario "
             "needs the contact closed for the next steps)", open_at - t_full);

    /* B. non-blocking */
    set_nonblock(1);
    e = send_one(0, &ms);
    if (e != EAGAIN)
        FAIL("non-blocking send on a full store: errno %d (%s), want EAGAIN", e, strerror(e));
    if (ms > 250)
        FAIL("non-blocking send on a full store took %lld ms to fail", ms);
    printf("CHECK O_NONBLOCK send: EAGAIN in %lld ms\n", ms);
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    long long t0 = now_ms();
    int r = poll(&p, 1, 200);
    long long waited = now_ms() - t0;
    if (r != 0)
        FAIL("poll(POLLOUT, 200 ms) on a full store returned %d (revents %#x) after %lld ms, "
             "want 0", r, p.revents, waited);
    if (waited < 150)
        FAIL("poll(POLLOUT, 200 ms) returned 0 after only %lld ms", waited);
    printf("CHECK poll(POLLOUT, 200 ms): 0 after %lld ms\n", waited);
    set_nonblock(0);
    e = send_one(MSG_DONTWAIT, &ms);
    if (e != EAGAIN || ms > 250)
        FAIL("MSG_DONTWAIT send on a full store: errno %d (%s) after %lld ms, want EAGAIN at once",
             e, strerror(e), ms);
    printf("CHECK MSG_DONTWAIT send: EAGAIN in %lld ms\n", ms);
    if (now_unix() > open_at - 0.2)
        FAIL("steps B ended %.2f s after the contact opened (too slow)", now_unix() - open_at);

    /* C. a blocking send waits until the contact opens and the store drains */
    printf("WAITING\n");
    set_sndtimeo(30);
    e = send_one(0, &ms);
    double t_ok = now_unix();
    if (e != 0)
        FAIL("blocking send (SO_SNDTIMEO 30 s) after the contact opened: errno %d (%s) after "
             "%lld ms", e, strerror(e), ms);
    if (t_ok < open_at - 0.1 || t_ok > open_at + 5)
        FAIL("the blocked send returned %.3f s after the contact opened, want -0.1..5 s",
             t_ok - open_at);
    printf("CHECK blocked send succeeded %.3f s after the contact opened (blocked %lld ms)\n",
           t_ok - open_at, ms);
    p.revents = 0;
    t0 = now_ms();
    r = poll(&p, 1, 1000);
    waited = now_ms() - t0;
    if (r != 1 || !(p.revents & POLLOUT) || waited > 500)
        FAIL("poll(POLLOUT, 1 s) after the store drained: %d, revents %#x, after %lld ms; want "
             "POLLOUT at once", r, p.revents, waited);
    printf("CHECK poll(POLLOUT) after the drain: POLLOUT in %lld ms\n", waited);

    /* D. more sends, through the open contact */
    set_sndtimeo(10);
    long long t_extra = now_ms();
    for (unsigned long i = 0; i < extra; i++) {
        e = send_one(0, &ms);
        if (e != 0)
            FAIL("send %lu of %lu after the contact opened: errno %d (%s) after %lld ms", i + 1,
                 extra, e, strerror(e), ms);
    }
    printf("CHECK %lu more blocking sends succeeded in %.2f s\n", extra,
           (now_ms() - t_extra) / 1000.0);
    printf("TOTAL ok=%lu failed=%lu\n", n_ok, n_failed);
    return 0;
}
