/*
 * test_eidtext: EIDs other than two-element ipn through the socket API (struct sockaddr_bp_ext,
 * BP_SCHEME_DTN "dtn://node/svc", BP_SCHEME_EID any EID text such as "ipn:A.N.S").
 *
 * Without arguments (the conformance test; default configuration, node ipn:1.0):
 *  - bp_sockaddr_text(): layout (bp_eid at offset 8, 128 bytes in all), returned addrlen
 *    8 + strlen + 1, scheme DTN for "dtn:" texts and EID otherwise, 0 when the text does not
 *    fit (120 characters and more), the longest text that fits (119) gives 128;
 *  - sendto/sendmsg with a malformed extended destination -> EINVAL: no NUL within addrlen
 *    (addrlen one short, a buffer full of text), addrlen < 8, empty text, unparseable text
 *    (unknown scheme, "dtn:" without "//", no node name, a control character, "ipn:1",
 *    "ipn:1.2.3.4", a component over 32 bits), the null EID ("dtn:none" with either scheme,
 *    "ipn:0.0"), BP_SCHEME_DTN with an ipn text (two- or three-element), BP_SCHEME_EID
 *    "ipn:1.0" (service 0, as with a sockaddr_bp); a family other than AF_BP -> EAFNOSUPPORT;
 *  - bind and connect with BP_SCHEME_DTN or BP_SCHEME_EID -> EAFNOSUPPORT, the socket stays
 *    unbound and unconnected (getsockname ipn:0.0, getpeername ENOTCONN);
 *  - sendto/sendmsg to a dtn EID or a three-element ipn EID with no route succeeds (returns
 *    the length: the node holds the bundle), also from an unbound socket (autobind);
 *    BP_SCHEME_EID with a dtn text is accepted too;
 *  - BP_SCHEME_EID "ipn:1.N" (and its RFC 9758 form "ipn:0.1.N") to a socket of this node
 *    delivers as a sockaddr_bp would: the receiver gets the ADU with a 16-byte
 *    sockaddr_bp source; with sendto and sendmsg, with the exact addrlen and with
 *    sizeof(struct sockaddr_bp_ext).
 *
 * Modes for c-tests/test_eidtext_wire.sh:
 *   test_eidtext send DEST_TEXT SRC_N.S MESSAGE
 *       bind ipn:SRC_N.S, sendto DEST_TEXT (bp_sockaddr_text), print
 *       "sent <len> bytes to <DEST_TEXT> scheme <n> addrlen <n>"; exit 0 if sendto returned
 *       the length.
 *   test_eidtext recv NODE SVC COUNT [msg|from|short]
 *       bind ipn:NODE.SVC, SO_RCVTIMEO 10 s, print "READY ipn:NODE.SVC", then receive COUNT
 *       ADUs and print for each
 *           from <eid text or ipn:N.S> scheme <n> namelen <n> payload <text>
 *       msg (default): recvmsg with a struct sockaddr_bp_ext name buffer;
 *       from: recvfrom with a struct sockaddr_bp_ext buffer;
 *       short: recvmsg with msg_namelen 16 (a struct sockaddr_bp) inside a bigger buffer
 *              filled with 0xA5: prints the text that was written (at most 8 characters)
 *              and then a line "overrun <k>", k = bytes changed past the 16 given.
 *       Exit 0 after COUNT ADUs, 2 on a 10 s timeout, 1 on an error.
 */
#include "harness.h"

#include <stddef.h>
#include <sys/time.h>

static const char msg[] = "eidtext";

static socklen_t text_addr(struct sockaddr_bp_ext *a, const char *eid)
{
    socklen_t n = bp_sockaddr_text(a, eid);
    CHECK(n != 0, "bp_sockaddr_text(\"%s\") fits", eid);
    return n;
}

/* Extended address with an explicit scheme (the helper picks it from the text). */
static socklen_t text_addr_scheme(struct sockaddr_bp_ext *a, const char *eid, int scheme)
{
    socklen_t n = text_addr(a, eid);
    a->bp_scheme = (bp_scheme_t)scheme;
    return n;
}

static ssize_t sendmsg_ext(int fd, const void *name, socklen_t namelen, const void *buf,
                           size_t len)
{
    struct iovec iov = {(void *)buf, len};
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_name = (void *)name;
    m.msg_namelen = namelen;
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    return sendmsg(fd, &m, 0);
}

/* sendto and sendmsg to `eid` given with `scheme` both fail with `err`. */
static void expect_send_err(int fd, const char *eid, int scheme, int err, const char *why,
                            const char *file, int line)
{
    struct sockaddr_bp_ext a;
    socklen_t n = bp_sockaddr_text(&a, eid);
    if (n == 0)
        harness_fail(file, line, 0, "bp_sockaddr_text(\"%s\") returned 0", eid);
    a.bp_scheme = (bp_scheme_t)scheme;
    errno = 0;
    ssize_t r = sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)&a, n);
    int e = errno;
    if (r != -1 || e != err)
        harness_fail(file, line, e,
                     "sendto scheme %d \"%s\" (%s): got ret=%zd, want -1 with errno %d (%s)",
                     scheme, eid, why, r, err, strerror(err));
    errno = 0;
    r = sendmsg_ext(fd, &a, n, msg, strlen(msg));
    e = errno;
    if (r != -1 || e != err)
        harness_fail(file, line, e,
                     "sendmsg scheme %d \"%s\" (%s): got ret=%zd, want -1 with errno %d (%s)",
                     scheme, eid, why, r, err, strerror(err));
    char shown[64];
    size_t k = 0;
    for (const char *c = eid; *c && k + 5 < sizeof shown; c++)
        k += (size_t)snprintf(shown + k, sizeof shown - k,
                              (*c >= 0x20 && *c < 0x7f) ? "%c" : "\\x%02x", (unsigned char)*c);
    shown[k] = '\0';
    printf("   scheme %d \"%s\": errno %d (%s)\n", scheme, shown, err, why);
}
#define EXPECT_SEND_ERR(fd, eid, scheme, err, why)                                        \
    expect_send_err((fd), (eid), (scheme), (err), (why), __FILE__, __LINE__)

/* getsockname shows ipn:0.0 and getpeername fails with ENOTCONN. */
static void expect_unbound_unconnected(int fd, const char *file, int line)
{
    check_unbound(fd, file, line);
    struct sockaddr_bp p;
    socklen_t pl = sizeof p;
    errno = 0;
    int r = getpeername(fd, (struct sockaddr *)&p, &pl);
    if (r != -1 || errno != ENOTCONN)
        harness_fail(file, line, errno, "getpeername(fd %d) = %d, want -1/ENOTCONN", fd, r);
}

static void check_helper(void)
{
    section("bp_sockaddr_text: layout, length, scheme, too long");
    struct sockaddr_bp_ext a;
    CHECK_EQ(offsetof(struct sockaddr_bp_ext, bp_eid), 8, "offsetof(sockaddr_bp_ext, bp_eid)");
    CHECK_EQ(offsetof(struct sockaddr_bp_ext, bp_scheme),
             offsetof(struct sockaddr_bp, bp_scheme), "bp_scheme at the same offset");
    CHECK_EQ(sizeof(struct sockaddr_bp_ext), 128, "sizeof(struct sockaddr_bp_ext)");
    CHECK_EQ(BP_EID_TEXT_MAX, 120, "BP_EID_TEXT_MAX");

    memset(&a, 0x5A, sizeof a);
    CHECK_EQ(bp_sockaddr_text(&a, "dtn://node30/app"), 8 + 16 + 1, "addrlen of dtn://node30/app");
    CHECK_EQ(a.bp_family, AF_BP, "bp_family");
    CHECK_EQ(a.bp_scheme, BP_SCHEME_DTN, "scheme of dtn://node30/app");
    CHECK(strcmp(a.bp_eid, "dtn://node30/app") == 0, "text copied: \"%s\"", a.bp_eid);
    CHECK_EQ(a.bp_pad, 0, "bp_pad zeroed");
    CHECK_EQ(a.bp_eid[119], 0, "rest of bp_eid zeroed");

    CHECK_EQ(bp_sockaddr_text(&a, "ipn:977.5.1"), 8 + 11 + 1, "addrlen of ipn:977.5.1");
    CHECK_EQ(a.bp_scheme, BP_SCHEME_EID, "scheme of ipn:977.5.1");
    CHECK(strcmp(a.bp_eid, "ipn:977.5.1") == 0, "text copied: \"%s\"", a.bp_eid);
    CHECK_EQ(bp_sockaddr_text(&a, "ipn:20.1"), 8 + 8 + 1, "addrlen of ipn:20.1");
    CHECK_EQ(a.bp_scheme, BP_SCHEME_EID, "scheme of ipn:20.1");
    CHECK_EQ(bp_sockaddr_text(&a, "dtn:none"), 8 + 8 + 1, "addrlen of dtn:none");
    CHECK_EQ(a.bp_scheme, BP_SCHEME_DTN, "scheme of dtn:none");

    char t[200];
    /* "dtn://n/" + 'x' * k: the longest that fits is 119 characters */
    memset(t, 0, sizeof t);
    memcpy(t, "dtn://n/", 8);
    memset(t + 8, 'x', 119 - 8);
    CHECK_EQ(strlen(t), 119, "test text length");
    CHECK_EQ(bp_sockaddr_text(&a, t), 128, "addrlen of a 119-character text");
    CHECK_EQ(a.bp_eid[119], 0, "NUL of a 119-character text");
    t[119] = 'x';
    CHECK_EQ(bp_sockaddr_text(&a, t), 0, "bp_sockaddr_text of a 120-character text");
    memset(t + 8, 'x', 180);
    CHECK_EQ(bp_sockaddr_text(&a, t), 0, "bp_sockaddr_text of a 188-character text");
    printf("   dtn 25, ipn3 20, 119 chars 128, 120 chars 0\n");
}

static void check_errors(void)
{
    section("sendto/sendmsg with a malformed extended destination: EINVAL / EAFNOSUPPORT");
    int s = BOUND_SOCKET(1, 100);
    struct sockaddr_bp_ext a;
    socklen_t n;

    /* no NUL within addrlen */
    n = text_addr(&a, "dtn://node30/app");
    CHECK_ERR(sendto(s, msg, 7, 0, (struct sockaddr *)&a, n - 1), EINVAL,
              "sendto dtn://node30/app with addrlen one short of the NUL");
    CHECK_ERR(sendmsg_ext(s, &a, n - 1, msg, 7), EINVAL,
              "sendmsg dtn://node30/app with addrlen one short of the NUL");
    n = text_addr(&a, "ipn:977.5.1");
    CHECK_ERR(sendto(s, msg, 7, 0, (struct sockaddr *)&a, n - 1), EINVAL,
              "sendto ipn:977.5.1 with addrlen one short of the NUL");
    memset(a.bp_eid, 'a', sizeof a.bp_eid);
    memcpy(a.bp_eid, "dtn://node30/", 13);
    a.bp_scheme = BP_SCHEME_DTN;
    CHECK_ERR(sendto(s, msg, 7, 0, (struct sockaddr *)&a, sizeof a), EINVAL,
              "sendto sizeof(sockaddr_bp_ext) of text without a NUL");
    a.bp_scheme = BP_SCHEME_EID;
    CHECK_ERR(sendto(s, msg, 7, 0, (struct sockaddr *)&a, sizeof a), EINVAL,
              "sendto scheme EID, sizeof(sockaddr_bp_ext) of text without a NUL");
    /* addrlen shorter than the head (family + scheme) */
    n = text_addr(&a, "dtn://node30/app");
    CHECK_ERR(sendto(s, msg, 7, 0, (struct sockaddr *)&a, 7), EINVAL, "sendto addrlen 7");
    CHECK_ERR(sendto(s, msg, 7, 0, (struct sockaddr *)&a, 8), EINVAL,
              "sendto addrlen 8 (no text at all)");
    printf("   no NUL within addrlen: EINVAL\n");

    EXPECT_SEND_ERR(s, "", BP_SCHEME_DTN, EINVAL, "empty text");
    EXPECT_SEND_ERR(s, "", BP_SCHEME_EID, EINVAL, "empty text");
    EXPECT_SEND_ERR(s, "xyz:abc", BP_SCHEME_EID, EINVAL, "unknown URI scheme");
    EXPECT_SEND_ERR(s, "node30/app", BP_SCHEME_DTN, EINVAL, "no scheme");
    EXPECT_SEND_ERR(s, "dtn:node30/app", BP_SCHEME_DTN, EINVAL, "dtn without //");
    EXPECT_SEND_ERR(s, "dtn://node30", BP_SCHEME_DTN, EINVAL, "dtn without / after the node");
    EXPECT_SEND_ERR(s, "dtn:///app", BP_SCHEME_DTN, EINVAL, "dtn with an empty node name");
    EXPECT_SEND_ERR(s, "dtn://node 30/app", BP_SCHEME_DTN, EINVAL, "dtn with a space");
    EXPECT_SEND_ERR(s, "dtn://node30/a\x01pp", BP_SCHEME_DTN, EINVAL, "dtn with a control char");
    EXPECT_SEND_ERR(s, "ipn:1", BP_SCHEME_EID, EINVAL, "ipn with one component");
    EXPECT_SEND_ERR(s, "ipn:1.2.3.4", BP_SCHEME_EID, EINVAL, "ipn with four components");
    EXPECT_SEND_ERR(s, "ipn:1.x", BP_SCHEME_EID, EINVAL, "ipn with a non-number");
    EXPECT_SEND_ERR(s, "ipn:4294967296.1.1", BP_SCHEME_EID, EINVAL, "allocator over 32 bits");
    EXPECT_SEND_ERR(s, "ipn:977.4294967296.1", BP_SCHEME_EID, EINVAL, "node over 32 bits");
    EXPECT_SEND_ERR(s, "dtn:none", BP_SCHEME_DTN, EINVAL, "the null EID");
    EXPECT_SEND_ERR(s, "dtn:none", BP_SCHEME_EID, EINVAL, "the null EID");
    EXPECT_SEND_ERR(s, "ipn:0.0", BP_SCHEME_EID, EINVAL, "the null EID in ipn form");
    EXPECT_SEND_ERR(s, "ipn:977.5.1", BP_SCHEME_DTN, EINVAL, "scheme DTN with an ipn text");
    EXPECT_SEND_ERR(s, "ipn:1.101", BP_SCHEME_DTN, EINVAL, "scheme DTN with an ipn:N.S text");
    EXPECT_SEND_ERR(s, "ipn:1.0", BP_SCHEME_EID, EINVAL, "service 0, as with sockaddr_bp");

    n = text_addr(&a, "dtn://node30/app");
    a.bp_family = AF_INET;
    CHECK_ERR(sendto(s, msg, 7, 0, (struct sockaddr *)&a, n), EAFNOSUPPORT,
              "sendto family AF_INET, scheme DTN");
    a.bp_family = AF_BP;
    a.bp_scheme = (bp_scheme_t)4;
    CHECK_ERR(sendto(s, msg, 7, 0, (struct sockaddr *)&a, n), EAFNOSUPPORT,
              "sendto scheme 4 with a dtn text");
    printf("   family AF_INET, scheme 4: EAFNOSUPPORT\n");
    /* the socket still works */
    int r = BOUND_SOCKET(1, 101);
    SEND_STR(s, 1, 101, "still fine");
    EXPECT_ADU(r, "still fine", 1, 100);
    close(r);
    close(s);
}

static void check_bind_connect(void)
{
    section("bind/connect with BP_SCHEME_DTN or BP_SCHEME_EID: EAFNOSUPPORT");
    static const struct {
        const char *eid;
        int scheme;
    } cases[] = {
        {"dtn://node30/app", BP_SCHEME_DTN},
        {"dtn://node1/app", BP_SCHEME_DTN},
        {"dtn://node30/app", BP_SCHEME_EID},
        {"ipn:977.5.1", BP_SCHEME_EID},
        {"ipn:977.1.5", BP_SCHEME_EID},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int s = BP_SOCKET(0);
        struct sockaddr_bp_ext a;
        socklen_t n = text_addr_scheme(&a, cases[i].eid, cases[i].scheme);
        CHECK_ERR(bind(s, (struct sockaddr *)&a, n), EAFNOSUPPORT, "bind scheme %d \"%s\"",
                  cases[i].scheme, cases[i].eid);
        CHECK_ERR(bind(s, (struct sockaddr *)&a, sizeof a), EAFNOSUPPORT,
                  "bind scheme %d \"%s\", addrlen 128", cases[i].scheme, cases[i].eid);
        expect_unbound_unconnected(s, __FILE__, __LINE__);
        CHECK_ERR(connect(s, (struct sockaddr *)&a, n), EAFNOSUPPORT,
                  "connect scheme %d \"%s\"", cases[i].scheme, cases[i].eid);
        CHECK_ERR(connect(s, (struct sockaddr *)&a, sizeof a), EAFNOSUPPORT,
                  "connect scheme %d \"%s\", addrlen 128", cases[i].scheme, cases[i].eid);
        expect_unbound_unconnected(s, __FILE__, __LINE__);
        /* a bound socket cannot connect to it either */
        BIND(s, 1, (uint32_t)(110 + i));
        CHECK_ERR(connect(s, (struct sockaddr *)&a, n), EAFNOSUPPORT,
                  "connect of a bound socket, scheme %d \"%s\"", cases[i].scheme, cases[i].eid);
        struct sockaddr_bp p;
        socklen_t pl = sizeof p;
        CHECK_ERR(getpeername(s, (struct sockaddr *)&p, &pl), ENOTCONN,
                  "getpeername after the failed connect");
        CHECK_SOCKNAME(s, 1, (uint32_t)(110 + i));
        printf("   scheme %d \"%s\": bind and connect EAFNOSUPPORT\n", cases[i].scheme,
               cases[i].eid);
        close(s);
    }
    /* BP_SCHEME_EID with a two-element ipn text is not a bind address either: bind takes a
     * struct sockaddr_bp (header: "bind/connect: not supported"). */
    int s = BP_SOCKET(0);
    struct sockaddr_bp_ext a;
    socklen_t n = text_addr(&a, "ipn:1.120");
    CHECK_ERR(bind(s, (struct sockaddr *)&a, n), EAFNOSUPPORT, "bind scheme EID \"ipn:1.120\"");
    CHECK_UNBOUND(s);
    printf("   scheme 3 \"ipn:1.120\": bind EAFNOSUPPORT\n");
    close(s);
}

static void check_send_unrouted(void)
{
    section("sendto/sendmsg to a dtn or three-element ipn EID with no route: held, returns len");
    int s = BOUND_SOCKET(1, 130);
    struct sockaddr_bp_ext a;
    socklen_t n;
    static const char *const dests[] = {"dtn://node30/app", "dtn://node30/", "ipn:977.5.1",
                                        "dtn://x/a/b/c?d=e"};
    for (size_t i = 0; i < sizeof dests / sizeof dests[0]; i++) {
        n = text_addr(&a, dests[i]);
        ssize_t w = sendto(s, msg, strlen(msg), 0, (struct sockaddr *)&a, n);
        CHECK_EQ(w, strlen(msg), "sendto \"%s\" (no route)", dests[i]);
        w = sendmsg_ext(s, &a, n, msg, strlen(msg));
        CHECK_EQ(w, strlen(msg), "sendmsg \"%s\" (no route)", dests[i]);
        w = sendto(s, msg, strlen(msg), 0, (struct sockaddr *)&a, sizeof a);
        CHECK_EQ(w, strlen(msg), "sendto \"%s\" with addrlen sizeof(sockaddr_bp_ext)", dests[i]);
        printf("   %s: sendto, sendmsg returned %zu\n", dests[i], strlen(msg));
    }
    n = text_addr_scheme(&a, "dtn://node30/app", BP_SCHEME_EID);
    CHECK_EQ(sendto(s, msg, strlen(msg), 0, (struct sockaddr *)&a, n), strlen(msg),
             "sendto scheme EID \"dtn://node30/app\"");
    /* a zero-length ADU still returns 0 */
    n = text_addr(&a, "dtn://node30/app");
    CHECK_EQ(sendto(s, msg, 0, 0, (struct sockaddr *)&a, n), 0, "sendto 0 bytes to a dtn EID");
    /* bigger than the 128 KiB inline limit: travels in a memfd with the text */
    size_t big = 200 * 1024;
    unsigned char *buf = malloc(big);
    CHECK(buf != NULL, "malloc");
    fill_pattern(buf, big, 7);
    CHECK_EQ(sendto(s, buf, big, 0, (struct sockaddr *)&a, n), big,
             "sendto a %zu-byte ADU to a dtn EID", big);
    free(buf);
    printf("   scheme EID with a dtn text, 0 bytes, 200 KiB: accepted\n");
    close(s);

    int u = BP_SOCKET(0);
    n = text_addr(&a, "ipn:977.5.1");
    CHECK_EQ(sendto(u, msg, strlen(msg), 0, (struct sockaddr *)&a, n), strlen(msg),
             "sendto ipn:977.5.1 from an unbound socket");
    struct sockaddr_bp me;
    socklen_t ml = sizeof me;
    CHECK_OK(getsockname(u, (struct sockaddr *)&me, &ml), "getsockname after autobind");
    CHECK(ml == sizeof me && me.bp_addr.ipn.node_id == 1 && me.bp_addr.ipn.service_id >= 32768,
          "autobound to ipn:1.(>= 32768): len %u ipn:%u.%u", (unsigned)ml,
          me.bp_addr.ipn.node_id, me.bp_addr.ipn.service_id);
    printf("   unbound socket: autobound to ipn:1.%u\n", me.bp_addr.ipn.service_id);
    close(u);
    /* the node is still up */
    int r = BOUND_SOCKET(1, 131), t = BOUND_SOCKET(1, 132);
    SEND_STR(t, 1, 131, "after the held bundles");
    EXPECT_ADU(r, "after the held bundles", 1, 132);
    close(r);
    close(t);
}

static void check_local_eid_ipn(void)
{
    section("BP_SCHEME_EID \"ipn:1.N\" to a socket of this node: delivered as with sockaddr_bp");
    int r = BOUND_SOCKET(1, 120), s = BOUND_SOCKET(1, 121);
    struct sockaddr_bp_ext a;
    socklen_t n = text_addr(&a, "ipn:1.120");
    CHECK_EQ(a.bp_scheme, BP_SCHEME_EID, "helper scheme for ipn:1.120");
    CHECK_EQ(sendto(s, "via sendto", 10, 0, (struct sockaddr *)&a, n), 10,
             "sendto scheme EID \"ipn:1.120\"");
    EXPECT_ADU(r, "via sendto", 1, 121);
    CHECK_EQ(sendmsg_ext(s, &a, n, "via sendmsg", 11), 11, "sendmsg scheme EID \"ipn:1.120\"");
    EXPECT_ADU(r, "via sendmsg", 1, 121);
    CHECK_EQ(sendto(s, "full addrlen", 12, 0, (struct sockaddr *)&a, sizeof a), 12,
             "sendto scheme EID \"ipn:1.120\", addrlen 128");
    EXPECT_ADU(r, "full addrlen", 1, 121);
    n = text_addr(&a, "ipn:0.1.120");
    CHECK_EQ(sendto(s, "allocator 0", 11, 0, (struct sockaddr *)&a, n), 11,
             "sendto scheme EID \"ipn:0.1.120\" (RFC 9758 allocator 0)");
    EXPECT_ADU(r, "allocator 0", 1, 121);
    /* recvfrom with a sockaddr_bp_ext buffer: still a 16-byte sockaddr_bp for an ipn source */
    n = text_addr(&a, "ipn:1.120");
    CHECK_EQ(sendto(s, "ext buffer", 10, 0, (struct sockaddr *)&a, n), 10, "sendto");
    CHECK(wait_readable(r, 3000), "ADU arrived");
    struct sockaddr_bp_ext from;
    memset(&from, 0xA5, sizeof from);
    socklen_t fl = sizeof from;
    char buf[64];
    ssize_t got = recvfrom(r, buf, DYN(sizeof buf), 0, (struct sockaddr *)&from, &fl);
    CHECK_EQ(got, 10, "recvfrom length");
    CHECK_ADDR((struct sockaddr_bp *)&from, fl, 1, 121, "source in a sockaddr_bp_ext buffer");
    CHECK_EQ((unsigned char)from.bp_eid[8], 0xA5, "nothing written past 16 bytes");
    /* an unbound socket sending to it */
    int u = BP_SOCKET(0);
    CHECK_EQ(sendto(u, "unbound", 7, 0, (struct sockaddr *)&a, n), 7, "sendto from unbound");
    struct sockaddr_bp src;
    char b2[32];
    ssize_t m = RECV(r, b2, sizeof b2, &src);
    CHECK(m == 7 && memcmp(b2, "unbound", 7) == 0, "ADU from the unbound socket");
    CHECK(src.bp_addr.ipn.node_id == 1 && src.bp_addr.ipn.service_id >= 32768,
          "source ipn:1.(ephemeral): ipn:%u.%u", src.bp_addr.ipn.node_id,
          src.bp_addr.ipn.service_id);
    printf("   sendto, sendmsg, addrlen 128, ipn:0.1.120, unbound sender: delivered\n");
    close(u);
    close(r);
    close(s);
}

static int conformance(void)
{
    check_helper();
    check_errors();
    check_bind_connect();
    check_send_unrouted();
    check_local_eid_ipn();
    PASS();
}

/* ---- modes for test_eidtext_wire.sh ---------------------------------------------------- */

static int parse_ns(const char *t, uint32_t *node, uint32_t *svc)
{
    struct sockaddr_bp a;
    if (bp_parse_ipn(t, &a) != 0)
        return -1;
    *node = a.bp_addr.ipn.node_id;
    *svc = a.bp_addr.ipn.service_id;
    return 0;
}

static int mode_send(int argc, char **argv)
{
    harness_test_name = "test_eidtext send";
    if (argc != 5) {
        fprintf(stderr, "usage: test_eidtext send DEST_TEXT SRC_N.S MESSAGE\n");
        return 1;
    }
    uint32_t node, svc;
    CHECK(parse_ns(argv[3], &node, &svc) == 0, "source \"%s\" is N.S", argv[3]);
    int fd = BOUND_SOCKET(node, svc);
    struct sockaddr_bp_ext a;
    socklen_t n = bp_sockaddr_text(&a, argv[2]);
    CHECK(n != 0, "bp_sockaddr_text(\"%s\")", argv[2]);
    size_t len = strlen(argv[4]);
    errno = 0;
    ssize_t w = sendto(fd, argv[4], len, 0, (struct sockaddr *)&a, n);
    CHECK(w == (ssize_t)len, "sendto \"%s\" returned %zd, want %zu", argv[2], w, len);
    printf("sent %zd bytes to %s scheme %d addrlen %u\n", w, argv[2], (int)a.bp_scheme,
           (unsigned)n);
    fflush(stdout);
    close(fd);
    return 0;
}

static int mode_recv(int argc, char **argv)
{
    harness_test_name = "test_eidtext recv";
    if (argc != 5 && argc != 6) {
        fprintf(stderr, "usage: test_eidtext recv NODE SVC COUNT [msg|from|short]\n");
        return 1;
    }
    uint32_t node = (uint32_t)strtoul(argv[2], NULL, 10);
    uint32_t svc = (uint32_t)strtoul(argv[3], NULL, 10);
    int count = atoi(argv[4]);
    const char *how = argc == 6 ? argv[5] : "msg";
    if (strcmp(how, "msg") != 0 && strcmp(how, "from") != 0 && strcmp(how, "short") != 0) {
        fprintf(stderr, "test_eidtext recv: mode must be msg, from or short\n");
        return 1;
    }
    int fd = BOUND_SOCKET(node, svc);
    struct timeval tv = {10, 0};
    CHECK_OK(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), "SO_RCVTIMEO 10 s");
    printf("READY ipn:%u.%u %s\n", node, svc, how);
    fflush(stdout);
    static char buf[65536];
    for (int i = 0; i < count; i++) {
        struct sockaddr_bp_ext from;
        memset(&from, 0xA5, sizeof from);
        socklen_t cap = strcmp(how, "short") == 0 ? (socklen_t)sizeof(struct sockaddr_bp)
                                                  : (socklen_t)sizeof from;
        socklen_t namelen = cap;
        ssize_t n;
        errno = 0;
        if (strcmp(how, "from") == 0) {
            n = recvfrom(fd, buf, DYN(sizeof buf - 1), 0, (struct sockaddr *)&from, &namelen);
        } else {
            struct iovec iov = {buf, sizeof buf - 1};
            struct msghdr m;
            memset(&m, 0, sizeof m);
            m.msg_name = &from;
            m.msg_namelen = namelen;
            m.msg_iov = &iov;
            m.msg_iovlen = 1;
            n = recvmsg(fd, &m, 0);
            namelen = m.msg_namelen;
            if (n >= 0 && (m.msg_flags & MSG_TRUNC))
                printf("TRUNCATED ADU %d\n", i);
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                printf("TIMEOUT after %d of %d ADUs\n", i, count);
                fflush(stdout);
                return 2;
            }
            harness_fail(__FILE__, __LINE__, errno, "recv (%s) of ADU %d", how, i);
        }
        buf[n] = '\0';
        char eid[BP_EID_TEXT_MAX + 1];
        if (from.bp_family != AF_BP) {
            snprintf(eid, sizeof eid, "?family%u", (unsigned)from.bp_family);
        } else if (from.bp_scheme == BP_SCHEME_IPN) {
            bp_format_ipn(eid, sizeof eid, (const struct sockaddr_bp *)&from);
        } else {
            /* the text that was written: up to the NUL, within min(namelen, cap) */
            size_t written = (namelen < cap ? namelen : cap);
            size_t room = written > 8 ? written - 8 : 0;
            size_t k = 0;
            while (k < room && k < BP_EID_TEXT_MAX && from.bp_eid[k] != '\0')
                k++;
            memcpy(eid, from.bp_eid, k);
            eid[k] = '\0';
        }
        printf("from %s scheme %d namelen %u payload %s\n", eid, (int)from.bp_scheme,
               (unsigned)namelen, buf);
        if (strcmp(how, "short") == 0) {
            const unsigned char *p = (const unsigned char *)&from;
            int changed = 0;
            for (size_t k = sizeof(struct sockaddr_bp); k < sizeof from; k++)
                changed += p[k] != 0xA5;
            printf("overrun %d\n", changed);
        }
        fflush(stdout);
    }
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    harness_test_name = "test_eidtext";
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 2 && strcmp(argv[1], "send") == 0)
        return mode_send(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "recv") == 0)
        return mode_recv(argc, argv);
    if (argc != 1) {
        fprintf(stderr, "usage: test_eidtext | test_eidtext send DEST SRC_N.S MSG | "
                        "test_eidtext recv NODE SVC COUNT [msg|from|short]\n");
        return 1;
    }
    return conformance();
}
