/*
 * test_sendto: contract item "sendto/sendmsg".
 *  - wrong family or scheme -> EAFNOSUPPORT; short addrlen -> EINVAL; service 0 -> EINVAL;
 *  - an ADU over the maximum -> EMSGSIZE: 16 MiB + 1 with the default maximum (this process),
 *    and 1001 bytes with BP_MAX_ADU=1000 (a child: this program re-executes itself with
 *    BP_MAX_ADU=1000 in its environment and the argument --max-adu);
 *  - a zero-length ADU returns 0 and sends nothing (the receiver gets EAGAIN);
 *  - with BP_ROUTE='ipn:5.*=udp:127.0.0.1:PORT' (a child started with --route PORT; PORT is
 *    BPT_PORT_BASE from the runner, else a free port): 70000 bytes to ipn:5.1 -> EMSGSIZE,
 *    60000 bytes -> success (and a UDP datagram of more than 60000 bytes reaches PORT);
 *  - an unbound socket that sends is bound to an ephemeral service first (getsockname shows
 *    node 1 and a service != 0; the receiver sees that source);
 *  - every send flag of the header, alone, is accepted (returns len, the ADU arrives), with
 *    sendto and with sendmsg; two or three priority flags -> EINVAL; both source custody
 *    flags -> EINVAL;
 *  - sendmsg with 3 iovecs gathers them into one ADU;
 *  - a 1 MiB and a 16 MiB ADU sent locally arrive intact.
 */
#include "harness.h"

#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/wait.h>

static const struct {
    int flag;
    const char *name;
} all_flags[] = {
    {MSG_ACK_REQUESTED, "MSG_ACK_REQUESTED"},
    {MSG_RECEIVED_RPT, "MSG_RECEIVED_RPT"},
    {MSG_CUSTODY_RPT, "MSG_CUSTODY_RPT"},
    {MSG_FORWARDED_RPT, "MSG_FORWARDED_RPT"},
    {MSG_DELIVERED_RPT, "MSG_DELIVERED_RPT"},
    {MSG_DELETED_RPT, "MSG_DELETED_RPT"},
    {MSG_BP_BULK_PRIORITY, "MSG_BP_BULK_PRIORITY"},
    {MSG_BP_STD_PRIORITY, "MSG_BP_STD_PRIORITY"},
    {MSG_BP_EXPEDITED_PRIORITY, "MSG_BP_EXPEDITED_PRIORITY"},
    {MSG_SOURCE_CUSTODY_REQUIRED, "MSG_SOURCE_CUSTODY_REQUIRED"},
    {MSG_SOURCE_CUSTODY_OPTIONAL, "MSG_SOURCE_CUSTODY_OPTIONAL"},
    {MSG_NO_CUSTODY_REQUIRED, "MSG_NO_CUSTODY_REQUIRED"},
};

static ssize_t sendmsg_to(int fd, const struct sockaddr_bp *a, socklen_t alen,
                          struct iovec *iov, int n, int flags)
{
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_name = (void *)a;
    m.msg_namelen = alen;
    m.msg_iov = iov;
    m.msg_iovlen = (size_t)n;
    return sendmsg(fd, &m, flags);
}

/* Send `len` pattern bytes from s to r, receive and verify them. */
static void big_adu(int s, int r, uint32_t rsvc, size_t len, int timeout_ms)
{
    unsigned char *out = malloc(len), *in = malloc(len + 16);
    CHECK(out && in, "malloc %zu", len);
    fill_pattern(out, len, (uint32_t)len);
    long long t0 = now_ms();
    ssize_t w = send_to(s, 1, rsvc, out, len, 0);
    CHECK(w == (ssize_t)len, "sendto of a %zu-byte ADU returned %zd", len, w);
    memset(in, 0, len + 16);
    ssize_t n = recv_adu(r, in, len + 16, NULL, timeout_ms, __FILE__, __LINE__);
    CHECK_EQ(n, len, "length of the received %zu-byte ADU", len);
    long bad = check_pattern(in, len, (uint32_t)len);
    CHECK(bad < 0, "%zu-byte ADU content intact (first difference at byte %ld)", len, bad);
    printf("   %zu bytes sent and received in %lld ms\n", len, now_ms() - t0);
    free(out);
    free(in);
}

/* Child: started with BP_MAX_ADU=1000. */
static int child_max_adu(void)
{
    harness_test_name = "test_sendto (BP_MAX_ADU=1000 child)";
    const char *m = getenv("BP_MAX_ADU");
    CHECK(m && strcmp(m, "1000") == 0, "child runs with BP_MAX_ADU=1000");
    int r = BOUND_SOCKET(1, 210), s = BOUND_SOCKET(1, 211);
    static unsigned char buf[5000];
    fill_pattern(buf, sizeof buf, 7);

    section("BP_MAX_ADU=1000: 1000 bytes accepted and delivered");
    SEND(s, 1, 210, buf, 1000, 0);
    {
        unsigned char in[2000];
        ssize_t n = RECV(r, in, sizeof in, NULL);
        CHECK(n == 1000 && memcmp(in, buf, 1000) == 0, "1000-byte ADU intact (got %zd)", n);
    }
    section("BP_MAX_ADU=1000: 1001 and 5000 bytes -> EMSGSIZE");
    CHECK_ERR(send_to(s, 1, 210, buf, 1001, 0), EMSGSIZE, "sendto 1001 bytes");
    CHECK_ERR(send_to(s, 1, 210, buf, 5000, 0), EMSGSIZE, "sendto 5000 bytes");
    {
        struct sockaddr_bp a = ipn(1, 210);
        struct iovec iov[2] = {{buf, 600}, {buf + 600, 401}};
        CHECK_ERR(sendmsg_to(s, &a, sizeof a, iov, 2, 0), EMSGSIZE,
                  "sendmsg of 2 iovecs totalling 1001 bytes");
    }
    EXPECT_NOTHING(r, 300);
    printf("PASS %s\n", harness_test_name);
    return 0;
}

/* Child: started with BP_ROUTE='ipn:5.*=udp:127.0.0.1:PORT'. */
static int child_route(int port)
{
    harness_test_name = "test_sendto (BP_ROUTE child)";
    /* A plain UDP socket on PORT, to see the bundle leave (pass-through socket). */
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    CHECK(u >= 0, "socket(AF_INET, SOCK_DGRAM)");
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK_OK(bind(u, (struct sockaddr *)&sin, sizeof sin), "bind UDP 127.0.0.1:%d", port);
    int rcvbuf = 1 << 20;
    setsockopt(u, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);

    int s = BOUND_SOCKET(1, 220);
    unsigned char *buf = malloc(70000);
    CHECK(buf != NULL, "malloc");
    fill_pattern(buf, 70000, 5);

    section("route over UDP, BP_MUST_NOT_FRAGMENT: 70000 bytes to ipn:5.1 -> EMSGSIZE");
    int one = 1;
    CHECK_OK(setsockopt(s, SOL_BP, BP_MUST_NOT_FRAGMENT, &one, sizeof one),
             "setsockopt(SOL_BP, BP_MUST_NOT_FRAGMENT, 1)");
    CHECK_ERR(send_to(s, 5, 1, buf, 70000, 0), EMSGSIZE, "sendto 70000 bytes to ipn:5.1");
    section("route over UDP: 60000 bytes to ipn:5.1 -> success, one datagram leaves");
    SEND(s, 5, 1, buf, 60000, 0);
    static unsigned char dg[70000];
    {
        ssize_t n = -1;
        if (wait_readable(u, 3000))
            n = recv(u, dg, sizeof dg, MSG_DONTWAIT);
        CHECK(n > 60000 && n <= 65507,
              "a UDP datagram carrying the 60000-byte bundle reached 127.0.0.1:%d (got %zd)",
              port, n);
    }
    section("route over UDP, fragmentation allowed: 70000 bytes -> success, two fragments leave");
    int zero = 0;
    CHECK_OK(setsockopt(s, SOL_BP, BP_MUST_NOT_FRAGMENT, &zero, sizeof zero),
             "setsockopt(SOL_BP, BP_MUST_NOT_FRAGMENT, 0)");
    SEND(s, 5, 1, buf, 70000, 0);
    {
        size_t total = 0;
        int datagrams = 0;
        while (wait_readable(u, 3000)) {
            ssize_t n = recv(u, dg, sizeof dg, MSG_DONTWAIT);
            if (n <= 0)
                break;
            CHECK(n <= 65507, "fragment of %zd bytes fits a UDP datagram", n);
            total += (size_t)n;
            datagrams++;
            if (total > 70000)
                break;
        }
        CHECK(datagrams >= 2 && total > 70000,
              "the 70000-byte ADU left as fragments (%d datagrams, %zu bytes)", datagrams, total);
    }
    free(buf);
    printf("PASS %s\n", harness_test_name);
    return 0;
}

static void run_child(char **argv0, const char *mode, const char *arg, const char *envname,
                      const char *envval)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        setenv(envname, envval, 1);
        /* A second process of the same node needs a store of its own. */
        setenv("BP_DURABILITY", "memory", 1);
        char *args[] = {argv0[0], (char *)mode, (char *)arg, NULL};
        execv("/proc/self/exe", args);
        perror("execv /proc/self/exe");
        _exit(127);
    }
    int st;
    CHECK(waitpid(pid, &st, 0) == pid, "waitpid");
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "child run with %s=%s passed (status %#x%s)", envname, envval, st,
          WIFSIGNALED(st) ? ", killed by a signal" : "");
}

static int free_udp_port(void)
{
    int b = port_base();
    if (b > 0)
        return b;
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sin;
    socklen_t len = sizeof sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(u >= 0 && bind(u, (struct sockaddr *)&sin, sizeof sin) == 0 &&
              getsockname(u, (struct sockaddr *)&sin, &len) == 0,
          "find a free UDP port");
    close(u);
    return ntohs(sin.sin_port);
}

int main(int argc, char **argv)
{
    harness_test_name = "test_sendto";
    if (argc >= 2 && strcmp(argv[1], "--max-adu") == 0)
        return child_max_adu();
    if (argc >= 3 && strcmp(argv[1], "--route") == 0)
        return child_route(atoi(argv[2]));

    int r = BOUND_SOCKET(1, 200);
    int s = BOUND_SOCKET(1, 201);
    const char *msg = "payload";
    struct sockaddr_bp a;

    section("wrong family or scheme -> EAFNOSUPPORT");
    a = ipn(1, 200);
    a.bp_family = AF_INET;
    CHECK_ERR(sendto(s, msg, 7, 0, (struct sockaddr *)&a, sizeof a), EAFNOSUPPORT,
              "sendto family AF_INET");
    {
        struct iovec iov = {(void *)msg, 7};
        CHECK_ERR(sendmsg_to(s, &a, sizeof a, &iov, 1, 0), EAFNOSUPPORT,
                  "sendmsg family AF_INET");
    }
    a = ipn(1, 200);
    a.bp_family = AF_UNSPEC;
    CHECK_ERR(sendto(s, msg, 7, 0, (struct sockaddr *)&a, sizeof a), EAFNOSUPPORT,
              "sendto family AF_UNSPEC");
    a = ipn(1, 200);
    a.bp_scheme = BP_SCHEME_DTN;
    /* BP_SCHEME_DTN takes a struct sockaddr_bp_ext: the bytes after the scheme are not a
     * NUL-terminated dtn EID here. */
    CHECK_ERR(sendto(s, msg, 7, 0, (struct sockaddr *)&a, sizeof a), EINVAL,
              "sendto scheme DTN without an EID text");
    a.bp_scheme = (bp_scheme_t)7;
    CHECK_ERR(sendto(s, msg, 7, 0, (struct sockaddr *)&a, sizeof a), EAFNOSUPPORT,
              "sendto scheme 7");
    {
        struct iovec iov = {(void *)msg, 7};
        CHECK_ERR(sendmsg_to(s, &a, sizeof a, &iov, 1, 0), EAFNOSUPPORT, "sendmsg scheme 7");
    }

    section("short addrlen -> EINVAL");
    a = ipn(1, 200);
    CHECK_ERR(sendto(s, msg, 7, 0, (struct sockaddr *)&a, 15), EINVAL, "sendto addrlen 15");
    CHECK_ERR(sendto(s, msg, 7, 0, (struct sockaddr *)&a, 8), EINVAL, "sendto addrlen 8");
    {
        struct iovec iov = {(void *)msg, 7};
        CHECK_ERR(sendmsg_to(s, &a, 12, &iov, 1, 0), EINVAL, "sendmsg namelen 12");
    }

    section("service 0 -> EINVAL");
    a = ipn(1, 0);
    CHECK_ERR(sendto(s, msg, 7, 0, (struct sockaddr *)&a, sizeof a), EINVAL,
              "sendto ipn:1.0");
    EXPECT_NOTHING(r, 200);

    section("ADU over the default maximum (16 MiB + 1) -> EMSGSIZE");
    {
        size_t n = BP_DEFAULT_MAX_ADU + 1;
        char *big = calloc(1, n);
        CHECK(big != NULL, "calloc");
        CHECK_ERR(send_to(s, 1, 200, big, n, 0), EMSGSIZE, "sendto %zu bytes", n);
        free(big);
    }

    section("zero-length ADU: returns 0, sends nothing");
    {
        ssize_t z = send_to(s, 1, 200, msg, 0, 0);
        CHECK(z == 0, "sendto of 0 bytes returned %zd, want 0", z);
        struct iovec iov = {(void *)msg, 0};
        a = ipn(1, 200);
        z = sendmsg_to(s, &a, sizeof a, &iov, 1, 0);
        CHECK(z == 0, "sendmsg of 0 bytes returned %zd, want 0", z);
        sleep_ms(300);
        char b[16];
        CHECK_ERR(recv(r, b, sizeof b, MSG_DONTWAIT), EAGAIN,
                  "receiver after a zero-length send (300 ms later)");
        SEND_STR(s, 1, 200, "marker");
        EXPECT_ADU(r, "marker", 1, 201);
    }

    section("an unbound socket that sends is bound to an ephemeral service first");
    {
        int u = BP_SOCKET(0);
        CHECK_UNBOUND(u);
        SEND_STR(u, 1, 200, "from unbound");
        struct sockaddr_bp me;
        socklen_t len = sizeof me;
        CHECK_OK(getsockname(u, (struct sockaddr *)&me, &len), "getsockname after autobind");
        CHECK(len == 16 && me.bp_family == AF_BP && me.bp_scheme == BP_SCHEME_IPN &&
                  me.bp_addr.ipn.node_id == 1 && me.bp_addr.ipn.service_id != 0,
              "autobound address: len %u family %u scheme %d ipn:%u.%u, want ipn:1.<non-zero>",
              (unsigned)len, me.bp_family, (int)me.bp_scheme, me.bp_addr.ipn.node_id,
              me.bp_addr.ipn.service_id);
        printf("   autobound to ipn:%u.%u\n", me.bp_addr.ipn.node_id, me.bp_addr.ipn.service_id);
        EXPECT_ADU(r, "from unbound", 1, me.bp_addr.ipn.service_id);
        SEND_STR(u, 1, 200, "again");
        EXPECT_ADU(r, "again", 1, me.bp_addr.ipn.service_id);
        CHECK_SOCKNAME(u, 1, me.bp_addr.ipn.service_id);
        /* the peer can answer to the ephemeral address */
        SEND_STR(r, 1, me.bp_addr.ipn.service_id, "reply");
        EXPECT_ADU(u, "reply", 1, 200);
        close(u);
    }

    section("every send flag alone is accepted and the ADU arrives (sendto)");
    for (unsigned i = 0; i < sizeof all_flags / sizeof all_flags[0]; i++) {
        char text[64];
        snprintf(text, sizeof text, "sendto with %s", all_flags[i].name);
        ssize_t w = send_to(s, 1, 200, text, strlen(text), all_flags[i].flag);
        CHECK(w == (ssize_t)strlen(text), "sendto with flag %s (%#x) returned %zd",
              all_flags[i].name, all_flags[i].flag, w);
        EXPECT_ADU(r, text, 1, 201);
    }
    section("every send flag alone is accepted and the ADU arrives (sendmsg)");
    for (unsigned i = 0; i < sizeof all_flags / sizeof all_flags[0]; i++) {
        char text[64];
        snprintf(text, sizeof text, "sendmsg with %s", all_flags[i].name);
        struct iovec iov = {text, strlen(text)};
        a = ipn(1, 200);
        ssize_t w = sendmsg_to(s, &a, sizeof a, &iov, 1, all_flags[i].flag);
        CHECK(w == (ssize_t)strlen(text), "sendmsg with flag %s (%#x) returned %zd",
              all_flags[i].name, all_flags[i].flag, w);
        EXPECT_ADU(r, text, 1, 201);
    }
    section("compatible flags together (upstream sender.c set) are accepted");
    {
        int f = MSG_ACK_REQUESTED | MSG_RECEIVED_RPT | MSG_DELIVERED_RPT |
                MSG_BP_EXPEDITED_PRIORITY | MSG_SOURCE_CUSTODY_OPTIONAL;
        ssize_t w = send_to(s, 1, 200, "combo", 5, f);
        CHECK(w == 5, "sendto with ACK|RECEIVED_RPT|DELIVERED_RPT|EXPEDITED|CUSTODY_OPTIONAL "
                      "returned %zd", w);
        EXPECT_ADU(r, "combo", 1, 201);
    }

    section("conflicting priority / custody flags -> EINVAL, nothing sent");
    CHECK_ERR(send_to(s, 1, 200, msg, 7, MSG_BP_BULK_PRIORITY | MSG_BP_EXPEDITED_PRIORITY),
              EINVAL, "BULK|EXPEDITED");
    CHECK_ERR(send_to(s, 1, 200, msg, 7, MSG_BP_BULK_PRIORITY | MSG_BP_STD_PRIORITY), EINVAL,
              "BULK|STD");
    CHECK_ERR(send_to(s, 1, 200, msg, 7, MSG_BP_STD_PRIORITY | MSG_BP_EXPEDITED_PRIORITY),
              EINVAL, "STD|EXPEDITED");
    CHECK_ERR(send_to(s, 1, 200, msg, 7,
                      MSG_BP_BULK_PRIORITY | MSG_BP_STD_PRIORITY | MSG_BP_EXPEDITED_PRIORITY),
              EINVAL, "BULK|STD|EXPEDITED");
    CHECK_ERR(send_to(s, 1, 200, msg, 7,
                      MSG_SOURCE_CUSTODY_REQUIRED | MSG_SOURCE_CUSTODY_OPTIONAL),
              EINVAL, "SOURCE_CUSTODY_REQUIRED|SOURCE_CUSTODY_OPTIONAL");
    {
        struct iovec iov = {(void *)msg, 7};
        a = ipn(1, 200);
        CHECK_ERR(sendmsg_to(s, &a, sizeof a, &iov, 1,
                             MSG_BP_BULK_PRIORITY | MSG_BP_EXPEDITED_PRIORITY),
                  EINVAL, "sendmsg BULK|EXPEDITED");
    }
    EXPECT_NOTHING(r, 300);

    section("sendmsg gathers 3 iovecs into one ADU");
    {
        char p1[] = "gather ", p2[] = "three ", p3[] = "iovecs";
        struct iovec iov[3] = {{p1, 7}, {p2, 6}, {p3, 6}};
        a = ipn(1, 200);
        ssize_t w = sendmsg_to(s, &a, sizeof a, iov, 3, 0);
        CHECK(w == 19, "sendmsg of 3 iovecs returned %zd, want 19", w);
        EXPECT_ADU(r, "gather three iovecs", 1, 201);
        EXPECT_NOTHING(r, 200);
    }

    section("1 MiB and 16 MiB ADUs arrive intact");
    big_adu(s, r, 200, 1u << 20, 10000);
    big_adu(s, r, 200, BP_DEFAULT_MAX_ADU, 20000);
    EXPECT_NOTHING(r, 100);

    close(r);
    close(s);

    section("child with BP_MAX_ADU=1000");
    run_child(argv, "--max-adu", "", "BP_MAX_ADU", "1000");

    section("child with BP_ROUTE to an unused UDP port");
    {
        char route[96], portstr[16];
        int port = free_udp_port();
        snprintf(route, sizeof route, "ipn:5.*=udp:127.0.0.1:%d", port);
        snprintf(portstr, sizeof portstr, "%d", port);
        run_child(argv, "--route", portstr, "BP_ROUTE", route);
    }

    PASS();
}
