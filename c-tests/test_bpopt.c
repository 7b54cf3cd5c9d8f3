/*
 * test_bpopt: contract item "setsockopt/getsockopt(SOL_BP)", the per-socket bundle options
 * (README "Bundle options (SOL_BP) and status reports", include/bp_socket.h).
 *
 * With no argument (the conformance test, run by scripts/run-c-tests.sh):
 *  - every option reads its documented default, before and after bind: BP_LIFETIME 86400,
 *    BP_PRIORITY 1, BP_REPORT_TO ipn:0.0 before bind and the socket's own EID after (also after
 *    the implicit bind of a first sendto), BP_CRC_TYPE 2, the others 0;
 *  - every valid value is accepted and read back; every out-of-range value is EINVAL and leaves
 *    the stored value unchanged; an optlen shorter than an int (shorter than 16 for
 *    BP_REPORT_TO) is EINVAL; a null optval is EFAULT; an optlen longer than an int is accepted;
 *  - BP_REPORT_TO: any ipn EID, ipn:0.0 (none) included, is accepted and read back; a family
 *    other than AF_BP or a scheme other than BP_SCHEME_IPN is EINVAL; a value set before bind
 *    survives the bind;
 *  - unknown option numbers are ENOPROTOOPT for setsockopt (whatever the value) and getsockopt;
 *  - getsockopt with a short buffer copies what fits and sets optlen to it; a long buffer gets
 *    optlen = the value's size; optlen 0 copies nothing; a negative optlen is EINVAL;
 *  - options are per socket (a second socket keeps the defaults) and shared by the descriptors
 *    of dup, dup2 and fcntl(F_DUPFD_CLOEXEC) (set through one, read through the other, also
 *    after the original is closed);
 *  - a socket with every option set still delivers ADUs locally.
 *
 * Send mode, for c-tests/test_bpopt_wire.sh (not a test by itself):
 *   test_bpopt send DNODE DSVC SRC_NODE.SRC_SVC LIFETIME CRC HOPLIMIT PRIO REPORT_TO_NODE.SVC
 *                   REPORT_FLAGS ACK MNF
 * binds SRC, sets each option given ("-" leaves that option at its default; numbers may be
 * decimal or 0x hex), reads each back, and sends one ADU "opt-check" to ipn:DNODE.DSVC.
 * Prints "sent opt-check from ipn:N.S" and exits 0, or a FAIL line and exits 1.
 */
#include "harness.h"

#include <limits.h>

struct opt_case {
    int opt;
    const char *name;
    int def;
    int valid[6];
    int nvalid;
    int invalid[8];
    int ninvalid;
};

/* The last valid value of each row differs from the default, so that the per-socket and dup
 * checks below see a non-default value on the first socket. */
static const struct opt_case cases[] = {
    {BP_LIFETIME, "BP_LIFETIME", 86400, {1, 60, INT_MAX, 86400, 3600}, 5,
     {0, -1, -86400, INT_MIN}, 4},
    {BP_PRIORITY, "BP_PRIORITY", 1, {0, 2, 1, 0}, 4, {-1, 3, 4, 255, 256, INT_MAX, INT_MIN}, 7},
    {BP_REPORT_FLAGS, "BP_REPORT_FLAGS", 0,
     {BP_REPORT_RECEIVED | BP_REPORT_FORWARDED | BP_REPORT_DELIVERED | BP_REPORT_DELETED |
          BP_REPORT_STATUS_TIME,
      0, BP_REPORT_STATUS_TIME, BP_REPORT_DELIVERED | BP_REPORT_DELETED},
     4, {-1, 0x20, 0x40, 0x3F, 0x100, INT_MAX, INT_MIN}, 7},
    {BP_CRC_TYPE, "BP_CRC_TYPE", 2, {2, 1}, 2, {0, 3, -1, 4, 256, INT_MAX, INT_MIN}, 7},
    {BP_HOP_LIMIT, "BP_HOP_LIMIT", 0, {1, 255, 0, 5}, 4, {-1, 256, 1000, INT_MAX, INT_MIN}, 5},
    {BP_MUST_NOT_FRAGMENT, "BP_MUST_NOT_FRAGMENT", 0, {1, 0, 1}, 3, {-1, 2, 256, INT_MIN}, 4},
    {BP_ACK_REQUESTED, "BP_ACK_REQUESTED", 0, {1, 0, 1}, 3, {-1, 2, 256, INT_MIN}, 4},
};
#define NCASES ((int)(sizeof cases / sizeof cases[0]))

static int get_int(int fd, int opt, const char *name)
{
    int v = 0x5A5A5A5A;
    socklen_t len = sizeof v;
    errno = 0;
    if (getsockopt(fd, SOL_BP, opt, &v, &len) != 0)
        harness_fail(__FILE__, __LINE__, errno, "getsockopt(fd %d, SOL_BP, %s)", fd, name);
    CHECK_EQ(len, sizeof(int), "getsockopt(fd %d, SOL_BP, %s): optlen", fd, name);
    return v;
}

static void expect_int(int fd, int opt, const char *name, int want, const char *when)
{
    int v = get_int(fd, opt, name);
    CHECK_EQ(v, want, "fd %d: %s %s", fd, name, when);
}

static void set_int(int fd, int opt, const char *name, int v)
{
    errno = 0;
    if (setsockopt(fd, SOL_BP, opt, &v, sizeof v) != 0)
        harness_fail(__FILE__, __LINE__, errno, "setsockopt(fd %d, SOL_BP, %s, %d)", fd, name,
                     v);
}

static struct sockaddr_bp get_report_to(int fd)
{
    struct sockaddr_bp a;
    socklen_t len = sizeof a;
    memset(&a, 0xA5, sizeof a);
    errno = 0;
    if (getsockopt(fd, SOL_BP, BP_REPORT_TO, &a, &len) != 0)
        harness_fail(__FILE__, __LINE__, errno, "getsockopt(fd %d, SOL_BP, BP_REPORT_TO)", fd);
    CHECK_EQ(len, sizeof(struct sockaddr_bp), "getsockopt(fd %d, BP_REPORT_TO): optlen", fd);
    return a;
}

static void expect_report_to(int fd, uint32_t node, uint32_t svc, const char *when)
{
    struct sockaddr_bp a = get_report_to(fd);
    char what[128];
    snprintf(what, sizeof what, "fd %d: BP_REPORT_TO %s", fd, when);
    check_addr(&a, sizeof a, node, svc, what, __FILE__, __LINE__);
    /* the 2 padding bytes after the family are zero, as in bp_sockaddr_ipn() */
    const unsigned char *p = (const unsigned char *)&a;
    CHECK(p[2] == 0 && p[3] == 0, "%s: padding bytes 0x%02x 0x%02x, want 0", what, p[2], p[3]);
}

static void set_report_to(int fd, uint32_t node, uint32_t svc)
{
    struct sockaddr_bp a = ipn(node, svc);
    errno = 0;
    if (setsockopt(fd, SOL_BP, BP_REPORT_TO, &a, sizeof a) != 0)
        harness_fail(__FILE__, __LINE__, errno,
                     "setsockopt(fd %d, SOL_BP, BP_REPORT_TO, ipn:%u.%u)", fd, node, svc);
}

/* Every option at its default; report-to ipn:rt_node.rt_svc. */
static void expect_defaults(int fd, uint32_t rt_node, uint32_t rt_svc, const char *when)
{
    for (int i = 0; i < NCASES; i++)
        expect_int(fd, cases[i].opt, cases[i].name, cases[i].def, when);
    expect_report_to(fd, rt_node, rt_svc, when);
}

/* Every int option at the last valid value of its row. */
static void expect_last_valid(int fd, const char *when)
{
    for (int i = 0; i < NCASES; i++)
        expect_int(fd, cases[i].opt, cases[i].name, cases[i].valid[cases[i].nvalid - 1], when);
}

static void int_option_rules(int fd)
{
    for (int i = 0; i < NCASES; i++) {
        const struct opt_case *c = &cases[i];
        char when[160];
        for (int k = 0; k < c->nvalid; k++) {
            set_int(fd, c->opt, c->name, c->valid[k]);
            snprintf(when, sizeof when, "after setting %d", c->valid[k]);
            expect_int(fd, c->opt, c->name, c->valid[k], when);
        }
        int keep = c->valid[c->nvalid - 1];
        for (int k = 0; k < c->ninvalid; k++) {
            int v = c->invalid[k];
            CHECK_ERR(setsockopt(fd, SOL_BP, c->opt, &v, sizeof v), EINVAL,
                      "setsockopt(SOL_BP, %s, %d) (out of range)", c->name, v);
            snprintf(when, sizeof when, "after the refused value %d (must stay %d)", v, keep);
            expect_int(fd, c->opt, c->name, keep, when);
        }
        /* short optlen: 0, 1, 3 bytes of an otherwise valid value */
        for (socklen_t l = 0; l < sizeof(int); l += (l == 1 ? 2 : 1)) {
            int v = c->valid[0];
            CHECK_ERR(setsockopt(fd, SOL_BP, c->opt, &v, l), EINVAL,
                      "setsockopt(SOL_BP, %s, %d) with optlen %u", c->name, v, (unsigned)l);
            snprintf(when, sizeof when, "after the refused optlen %u (must stay %d)",
                     (unsigned)l, keep);
            expect_int(fd, c->opt, c->name, keep, when);
        }
        /* null optval */
        CHECK_ERR(setsockopt(fd, SOL_BP, c->opt, NULL, sizeof(int)), EFAULT,
                  "setsockopt(SOL_BP, %s, NULL, 4)", c->name);
        expect_int(fd, c->opt, c->name, keep, "after a null optval");
        /* a longer optlen is accepted (Linux reads the first int) */
        struct {
            int v, pad;
        } big = {c->valid[0], 0x7EADBEEF};
        CHECK_OK(setsockopt(fd, SOL_BP, c->opt, &big, sizeof big),
                 "setsockopt(SOL_BP, %s, %d) with optlen %zu", c->name, big.v, sizeof big);
        expect_int(fd, c->opt, c->name, c->valid[0], "after a set with optlen 8");
        set_int(fd, c->opt, c->name, keep);
        expect_int(fd, c->opt, c->name, keep, "after setting it back");
    }
}

static void report_to_rules(int fd, uint32_t own_node, uint32_t own_svc)
{
    static const uint32_t good[][2] = {{1, 900}, {0, 0}, {20, 3}, {4294967295u, 4294967295u},
                                       {1, 901}};
    for (unsigned k = 0; k < sizeof good / sizeof good[0]; k++) {
        set_report_to(fd, good[k][0], good[k][1]);
        char when[64];
        snprintf(when, sizeof when, "after setting ipn:%u.%u", good[k][0], good[k][1]);
        expect_report_to(fd, good[k][0], good[k][1], when);
    }
    const char *keep_when = "after a refused value (must stay ipn:1.901)";
    /* wrong family */
    static const int families[] = {AF_INET, AF_UNSPEC, AF_INET6, AF_UNIX, AF_BP + 1};
    for (unsigned k = 0; k < sizeof families / sizeof families[0]; k++) {
        struct sockaddr_bp a = ipn(1, 902);
        a.bp_family = (sa_family_t)families[k];
        CHECK_ERR(setsockopt(fd, SOL_BP, BP_REPORT_TO, &a, sizeof a), EINVAL,
                  "setsockopt(BP_REPORT_TO) with family %d", families[k]);
        expect_report_to(fd, 1, 901, keep_when);
    }
    /* wrong scheme */
    static const int schemes[] = {BP_SCHEME_DTN, 0, 3, -1, 0x100};
    for (unsigned k = 0; k < sizeof schemes / sizeof schemes[0]; k++) {
        struct sockaddr_bp a = ipn(1, 902);
        a.bp_scheme = (bp_scheme_t)schemes[k];
        CHECK_ERR(setsockopt(fd, SOL_BP, BP_REPORT_TO, &a, sizeof a), EINVAL,
                  "setsockopt(BP_REPORT_TO) with scheme %d", schemes[k]);
        expect_report_to(fd, 1, 901, keep_when);
    }
    /* short optlen */
    static const socklen_t shorts[] = {0, 1, 4, 8, 12, 15};
    for (unsigned k = 0; k < sizeof shorts / sizeof shorts[0]; k++) {
        struct sockaddr_bp a = ipn(1, 902);
        CHECK_ERR(setsockopt(fd, SOL_BP, BP_REPORT_TO, &a, shorts[k]), EINVAL,
                  "setsockopt(BP_REPORT_TO, ipn:1.902) with optlen %u", (unsigned)shorts[k]);
        expect_report_to(fd, 1, 901, keep_when);
    }
    /* null optval */
    CHECK_ERR(setsockopt(fd, SOL_BP, BP_REPORT_TO, NULL, sizeof(struct sockaddr_bp)), EFAULT,
              "setsockopt(BP_REPORT_TO, NULL, 16)");
    expect_report_to(fd, 1, 901, "after a null optval");
    /* a longer optlen is accepted */
    struct {
        struct sockaddr_bp a;
        char pad[16];
    } big;
    memset(&big, 0x33, sizeof big);
    big.a = ipn(1, 903);
    CHECK_OK(setsockopt(fd, SOL_BP, BP_REPORT_TO, &big, sizeof big),
             "setsockopt(BP_REPORT_TO, ipn:1.903) with optlen %zu", sizeof big);
    expect_report_to(fd, 1, 903, "after a set with optlen 32");
    /* back to the socket's own EID */
    set_report_to(fd, own_node, own_svc);
    expect_report_to(fd, own_node, own_svc, "after setting it back to the own EID");
}

static void unknown_options(int fd)
{
    static const int unknown[] = {0, 9, 10, 42, 255, 0x4250, -1, INT_MAX, INT_MIN};
    static const int values[] = {0, 1, 2, -1};
    for (unsigned k = 0; k < sizeof unknown / sizeof unknown[0]; k++) {
        for (unsigned j = 0; j < sizeof values / sizeof values[0]; j++) {
            int v = values[j];
            CHECK_ERR(setsockopt(fd, SOL_BP, unknown[k], &v, sizeof v), ENOPROTOOPT,
                      "setsockopt(SOL_BP, unknown option %d, value %d)", unknown[k], v);
        }
        int v = 0;
        socklen_t len = sizeof v;
        CHECK_ERR(getsockopt(fd, SOL_BP, unknown[k], &v, &len), ENOPROTOOPT,
                  "getsockopt(SOL_BP, unknown option %d)", unknown[k]);
    }
}

static void short_get_buffers(int fd)
{
    /* BP_LIFETIME 86400 = 0x00015180: the low bytes come first on a little-endian host; compare
     * with the bytes of the int itself so the check holds on any byte order. */
    set_int(fd, BP_LIFETIME, "BP_LIFETIME", 86400);
    int full = 86400;
    const unsigned char *fb = (const unsigned char *)&full;
    for (socklen_t l = 0; l <= sizeof(int); l++) {
        unsigned char buf[8];
        memset(buf, 0xEE, sizeof buf);
        socklen_t len = l;
        CHECK_OK(getsockopt(fd, SOL_BP, BP_LIFETIME, buf, &len),
                 "getsockopt(BP_LIFETIME) with optlen %u", (unsigned)l);
        CHECK_EQ(len, l, "getsockopt(BP_LIFETIME) with optlen %u: optlen after", (unsigned)l);
        CHECK(memcmp(buf, fb, l) == 0,
              "getsockopt(BP_LIFETIME) with optlen %u: copied bytes %02x %02x %02x %02x, "
              "want the first %u bytes of the int 86400 (%02x %02x %02x %02x)",
              (unsigned)l, buf[0], buf[1], buf[2], buf[3], (unsigned)l, fb[0], fb[1], fb[2],
              fb[3]);
        for (size_t i = l; i < sizeof buf; i++)
            CHECK(buf[i] == 0xEE,
                  "getsockopt(BP_LIFETIME) with optlen %u wrote byte %zu (0x%02x) beyond optlen",
                  (unsigned)l, i, buf[i]);
    }
    {
        unsigned char buf[64];
        memset(buf, 0xEE, sizeof buf);
        socklen_t len = sizeof buf;
        CHECK_OK(getsockopt(fd, SOL_BP, BP_HOP_LIMIT, buf, &len),
                 "getsockopt(BP_HOP_LIMIT) with optlen 64");
        CHECK_EQ(len, sizeof(int), "getsockopt(BP_HOP_LIMIT) with optlen 64: optlen after");
        for (size_t i = sizeof(int); i < sizeof buf; i++)
            CHECK(buf[i] == 0xEE, "getsockopt(BP_HOP_LIMIT) with optlen 64 wrote byte %zu", i);
    }
    {
        int v = 0;
        socklen_t len = (socklen_t)-1;
        CHECK_ERR(getsockopt(fd, SOL_BP, BP_LIFETIME, &v, &len), EINVAL,
                  "getsockopt(BP_LIFETIME) with optlen -1");
    }
    {
        socklen_t len = sizeof(int);
        CHECK_ERR(getsockopt(fd, SOL_BP, BP_LIFETIME, NULL, &len), EFAULT,
                  "getsockopt(BP_LIFETIME, NULL optval)");
    }
    /* BP_REPORT_TO: 16 bytes */
    struct sockaddr_bp want;
    {
        socklen_t len = sizeof want;
        CHECK_OK(getsockopt(fd, SOL_BP, BP_REPORT_TO, &want, &len), "getsockopt(BP_REPORT_TO)");
    }
    static const socklen_t ls[] = {0, 2, 8, 15, 16};
    for (unsigned k = 0; k < sizeof ls / sizeof ls[0]; k++) {
        unsigned char buf[40];
        memset(buf, 0xEE, sizeof buf);
        socklen_t len = ls[k];
        CHECK_OK(getsockopt(fd, SOL_BP, BP_REPORT_TO, buf, &len),
                 "getsockopt(BP_REPORT_TO) with optlen %u", (unsigned)ls[k]);
        CHECK_EQ(len, ls[k], "getsockopt(BP_REPORT_TO) with optlen %u: optlen after",
                 (unsigned)ls[k]);
        CHECK(memcmp(buf, &want, ls[k]) == 0,
              "getsockopt(BP_REPORT_TO) with optlen %u: the bytes copied are not the first %u "
              "bytes of the address",
              (unsigned)ls[k], (unsigned)ls[k]);
        for (size_t i = ls[k]; i < sizeof buf; i++)
            CHECK(buf[i] == 0xEE, "getsockopt(BP_REPORT_TO) with optlen %u wrote byte %zu",
                  (unsigned)ls[k], i);
    }
    {
        unsigned char buf[40];
        memset(buf, 0xEE, sizeof buf);
        socklen_t len = sizeof buf;
        CHECK_OK(getsockopt(fd, SOL_BP, BP_REPORT_TO, buf, &len),
                 "getsockopt(BP_REPORT_TO) with optlen 40");
        CHECK_EQ(len, 16, "getsockopt(BP_REPORT_TO) with optlen 40: optlen after");
        CHECK(memcmp(buf, &want, 16) == 0, "getsockopt(BP_REPORT_TO) with optlen 40: value");
        for (size_t i = 16; i < sizeof buf; i++)
            CHECK(buf[i] == 0xEE, "getsockopt(BP_REPORT_TO) with optlen 40 wrote byte %zu", i);
    }
}

static void set_all_non_default(int fd)
{
    for (int i = 0; i < NCASES; i++)
        set_int(fd, cases[i].opt, cases[i].name, cases[i].valid[cases[i].nvalid - 1]);
}

static int conformance(void)
{
    harness_test_name = "test_bpopt";

    section("defaults on an unbound socket (BP_REPORT_TO ipn:0.0)");
    int a = BP_SOCKET(0);
    expect_defaults(a, 0, 0, "(unbound, default)");

    section("defaults after bind (BP_REPORT_TO = own EID ipn:1.700)");
    BIND(a, 1, 700);
    expect_defaults(a, 1, 700, "(bound to ipn:1.700, default)");

    section("int options: valid values read back; out of range, short optlen, null -> refused");
    int_option_rules(a);
    expect_last_valid(a, "after the option rules");

    section("BP_REPORT_TO: values, wrong family/scheme/optlen -> EINVAL");
    report_to_rules(a, 1, 700);

    section("unknown option numbers -> ENOPROTOOPT");
    unknown_options(a);

    section("getsockopt with short and long buffers");
    short_get_buffers(a);
    set_all_non_default(a);
    expect_last_valid(a, "after setting the non-default values again");

    section("options are per socket: a second socket keeps the defaults");
    int b = BP_SOCKET(0);
    expect_defaults(b, 0, 0, "(second socket, unbound)");
    BIND(b, 1, 701);
    expect_defaults(b, 1, 701, "(second socket, bound)");
    set_int(b, BP_HOP_LIMIT, "BP_HOP_LIMIT", 200);
    expect_int(a, BP_HOP_LIMIT, "BP_HOP_LIMIT", 5, "of the first socket after the second set 200");
    expect_last_valid(a, "(first socket, after the second socket's set)");

    section("BP_REPORT_TO of an unbound socket follows its implicit bind; a set value survives bind");
    {
        int u = BP_SOCKET(0);
        expect_report_to(u, 0, 0, "(unbound)");
        SEND_STR(u, 1, 701, "implicit bind");
        EXPECT_ADU(b, "implicit bind", 0, 0);
        struct sockaddr_bp me;
        socklen_t ml = sizeof me;
        CHECK_OK(getsockname(u, (struct sockaddr *)&me, &ml), "getsockname after implicit bind");
        CHECK(me.bp_addr.ipn.node_id == 1 && me.bp_addr.ipn.service_id >= 32768,
              "implicit bind gave ipn:%u.%u, want ipn:1.S with S >= 32768",
              me.bp_addr.ipn.node_id, me.bp_addr.ipn.service_id);
        expect_report_to(u, 1, me.bp_addr.ipn.service_id, "after the implicit bind of sendto");
        close(u);

        int v = BP_SOCKET(0);
        set_report_to(v, 1, 950);
        BIND(v, 1, 702);
        expect_report_to(v, 1, 950, "set to ipn:1.950 before bind, after bind to ipn:1.702");
        close(v);

        int w = BP_SOCKET(0);
        set_int(w, BP_LIFETIME, "BP_LIFETIME", 77);
        BIND(w, 1, 703);
        expect_int(w, BP_LIFETIME, "BP_LIFETIME", 77, "set before bind, read after bind");
        expect_report_to(w, 1, 703, "(lifetime set before bind, report-to left default)");
        close(w);
    }

    section("options are shared by dup, dup2 and fcntl(F_DUPFD_CLOEXEC) descriptors");
    {
        int d = dup(a);
        CHECK(d >= 0, "dup");
        expect_last_valid(d, "(read through dup)");
        expect_report_to(d, 1, 700, "(read through dup)");
        set_int(d, BP_HOP_LIMIT, "BP_HOP_LIMIT", 77);
        expect_int(a, BP_HOP_LIMIT, "BP_HOP_LIMIT", 77, "(set to 77 through the dup)");
        set_report_to(a, 1, 960);
        expect_report_to(d, 1, 960, "(set to ipn:1.960 through the original)");

        int d2 = dup2(a, 200);
        CHECK_EQ(d2, 200, "dup2(a, 200)");
        expect_int(d2, BP_HOP_LIMIT, "BP_HOP_LIMIT", 77, "(read through dup2)");
        int d3 = fcntl(a, F_DUPFD_CLOEXEC, 300);
        CHECK(d3 >= 300, "fcntl(F_DUPFD_CLOEXEC, 300) = %d", d3);
        set_int(d3, BP_PRIORITY, "BP_PRIORITY", 2);
        expect_int(d, BP_PRIORITY, "BP_PRIORITY", 2, "(set to 2 through the F_DUPFD copy)");
        expect_int(a, BP_PRIORITY, "BP_PRIORITY", 2, "(set to 2 through the F_DUPFD copy)");

        CHECK_OK(close(a), "close the original");
        expect_int(d, BP_HOP_LIMIT, "BP_HOP_LIMIT", 77, "(dup, after the original was closed)");
        expect_int(d2, BP_PRIORITY, "BP_PRIORITY", 2, "(dup2, after the original was closed)");
        expect_report_to(d3, 1, 960, "(F_DUPFD copy, after the original was closed)");
        set_int(d2, BP_CRC_TYPE, "BP_CRC_TYPE", 2);
        expect_int(d3, BP_CRC_TYPE, "BP_CRC_TYPE", 2, "(set through dup2, read through F_DUPFD)");
        close(d2);
        close(d3);
        a = d;
    }

    section("a socket with every option set still delivers locally");
    {
        int s = BOUND_SOCKET(1, 710);
        set_int(s, BP_LIFETIME, "BP_LIFETIME", 60);
        set_int(s, BP_PRIORITY, "BP_PRIORITY", 2);
        set_int(s, BP_CRC_TYPE, "BP_CRC_TYPE", 1);
        set_int(s, BP_HOP_LIMIT, "BP_HOP_LIMIT", 5);
        set_int(s, BP_MUST_NOT_FRAGMENT, "BP_MUST_NOT_FRAGMENT", 1);
        set_int(s, BP_ACK_REQUESTED, "BP_ACK_REQUESTED", 1);
        set_report_to(s, 0, 0);
        SEND_STR(s, 1, 701, "with options 1");
        EXPECT_ADU(b, "with options 1", 1, 710);
        set_int(s, BP_PRIORITY, "BP_PRIORITY", 0);
        set_int(s, BP_CRC_TYPE, "BP_CRC_TYPE", 2);
        SEND_STR(s, 1, 701, "with options 2");
        EXPECT_ADU(b, "with options 2", 1, 710);
        /* the socket with the non-default options (and its dup) still works */
        SEND_STR(a, 1, 701, "from the dup'd socket");
        EXPECT_ADU(b, "from the dup'd socket", 1, 700);
        close(s);
    }

    close(a);
    close(b);
    PASS();
}

/* ---- send mode (for test_bpopt_wire.sh) ----------------------------------------------- */

static int arg_int(const char *s, const char *what, int *set)
{
    if (strcmp(s, "-") == 0) {
        *set = 0;
        return 0;
    }
    char *end;
    errno = 0;
    long v = strtol(s, &end, 0);
    if (*s == '\0' || *end != '\0' || errno != 0 || v < INT_MIN || v > INT_MAX) {
        fprintf(stderr, "FAIL: test_bpopt send: bad %s '%s'\n", what, s);
        exit(2);
    }
    *set = 1;
    return (int)v;
}

static int send_mode(int argc, char **argv)
{
    harness_test_name = "test_bpopt send";
    if (argc != 13) {
        fprintf(stderr,
                "usage: test_bpopt send DNODE DSVC SRC_NODE.SRC_SVC LIFETIME CRC HOPLIMIT PRIO "
                "REPORT_TO_NODE.SVC REPORT_FLAGS ACK MNF   ('-': leave the default)\n");
        return 2;
    }
    int set;
    uint32_t dnode = (uint32_t)strtoul(argv[2], NULL, 10);
    uint32_t dsvc = (uint32_t)strtoul(argv[3], NULL, 10);
    struct sockaddr_bp src, rt;
    if (bp_parse_ipn(argv[4], &src) != 0) {
        fprintf(stderr, "FAIL: test_bpopt send: bad source EID '%s'\n", argv[4]);
        return 2;
    }
    int fd = BP_SOCKET(0);
    BIND(fd, src.bp_addr.ipn.node_id, src.bp_addr.ipn.service_id);
    static const struct {
        int opt;
        const char *name;
        int argi;
    } ints[] = {
        {BP_LIFETIME, "BP_LIFETIME", 5},      {BP_CRC_TYPE, "BP_CRC_TYPE", 6},
        {BP_HOP_LIMIT, "BP_HOP_LIMIT", 7},    {BP_PRIORITY, "BP_PRIORITY", 8},
        {BP_REPORT_FLAGS, "BP_REPORT_FLAGS", 10}, {BP_ACK_REQUESTED, "BP_ACK_REQUESTED", 11},
        {BP_MUST_NOT_FRAGMENT, "BP_MUST_NOT_FRAGMENT", 12},
    };
    for (unsigned i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        int v = arg_int(argv[ints[i].argi], ints[i].name, &set);
        if (!set)
            continue;
        set_int(fd, ints[i].opt, ints[i].name, v);
        expect_int(fd, ints[i].opt, ints[i].name, v, "read back after setting it");
        printf("set %s = %d\n", ints[i].name, v);
    }
    if (strcmp(argv[9], "-") != 0) {
        if (bp_parse_ipn(argv[9], &rt) != 0) {
            fprintf(stderr, "FAIL: test_bpopt send: bad report-to EID '%s'\n", argv[9]);
            return 2;
        }
        set_report_to(fd, rt.bp_addr.ipn.node_id, rt.bp_addr.ipn.service_id);
        expect_report_to(fd, rt.bp_addr.ipn.node_id, rt.bp_addr.ipn.service_id,
                         "read back after setting it");
        printf("set BP_REPORT_TO = ipn:%u.%u\n", rt.bp_addr.ipn.node_id,
               rt.bp_addr.ipn.service_id);
    }
    SEND_STR(fd, dnode, dsvc, "opt-check");
    printf("sent opt-check from ipn:%u.%u\n", src.bp_addr.ipn.node_id,
           src.bp_addr.ipn.service_id);
    fflush(stdout);
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "send") == 0)
        return send_mode(argc, argv);
    if (argc > 1) {
        fprintf(stderr, "usage: test_bpopt            (conformance test)\n"
                        "       test_bpopt send ...   (see the comment at the top)\n");
        return 2;
    }
    return conformance();
}
