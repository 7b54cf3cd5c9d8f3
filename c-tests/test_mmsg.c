/*
 * test_mmsg: sendmmsg and recvmmsg on AF_BP (beyond upstream's list; the batch calls are how
 * a single thread sends and reads durably at speed: one store commit per batch).
 *  - sendmmsg of 20 messages (different sizes, one iovec each): returns 20, msg_len of each
 *    is its length; every ADU arrives once, in order;
 *  - recvmmsg with vlen 64: returns what is queued (as with MSG_WAITFORONE), at least 1,
 *    msg_len and msg_name (source ipn:1.501) filled; a second call gets the rest;
 *  - recvmmsg on an empty socket with MSG_DONTWAIT: -1/EAGAIN;
 *  - the reads are committed: after close, a new socket bound to the same EID gets nothing
 *    (unread ADUs would be redelivered to it: that path is checked too, with 3 unread ADUs);
 *  - sendmmsg with a bad destination in the first message: -1/EAFNOSUPPORT; in the third:
 *    returns 2 (what was sent).
 */
#include "harness.h"

#include <netinet/in.h>

#define N 20

int main(void)
{
    harness_test_name = "test_mmsg";
    int r = BOUND_SOCKET(1, 500);
    int s = BOUND_SOCKET(1, 501);

    section("sendmmsg: 20 ADUs in one call");
    static char bufs[N][300];
    struct iovec io[N];
    struct mmsghdr v[N];
    struct sockaddr_bp dst = ipn(1, 500);
    memset(v, 0, sizeof v);
    for (int i = 0; i < N; i++) {
        memset(bufs[i], 'a' + i, sizeof bufs[i]);
        io[i].iov_base = bufs[i];
        io[i].iov_len = (size_t)(10 + i * 10);
        v[i].msg_hdr.msg_iov = &io[i];
        v[i].msg_hdr.msg_iovlen = 1;
        v[i].msg_hdr.msg_name = &dst;
        v[i].msg_hdr.msg_namelen = sizeof dst;
    }
    int n = sendmmsg(s, v, N, 0);
    CHECK_EQ(n, N, "sendmmsg returns the number sent");
    for (int i = 0; i < N; i++)
        CHECK_EQ((int)v[i].msg_len, 10 + i * 10, "msg_len of message %d", i);

    section("recvmmsg: what is queued, in order, with names and lengths");
    static char in[64][400];
    struct iovec rio[64];
    struct mmsghdr rv[64];
    struct sockaddr_bp src[64];
    int seen = 0;
    long long end = now_ms() + 5000;
    while (seen < N && now_ms() < end) {
        memset(rv, 0, sizeof rv);
        for (int i = 0; i < 64; i++) {
            rio[i].iov_base = in[i];
            rio[i].iov_len = sizeof in[i];
            rv[i].msg_hdr.msg_iov = &rio[i];
            rv[i].msg_hdr.msg_iovlen = 1;
            rv[i].msg_hdr.msg_name = &src[i];
            rv[i].msg_hdr.msg_namelen = sizeof src[i];
        }
        int got = recvmmsg(r, rv, 64, MSG_WAITFORONE, NULL);
        CHECK(got >= 1, "recvmmsg returned %d", got);
        for (int i = 0; i < got; i++, seen++) {
            CHECK(seen < N, "more ADUs than sent");
            CHECK_EQ((int)rv[i].msg_len, 10 + seen * 10, "length of ADU %d", seen);
            CHECK(in[i][0] == 'a' + seen && in[i][rv[i].msg_len - 1] == 'a' + seen,
                  "content of ADU %d", seen);
            CHECK_EQ((int)rv[i].msg_hdr.msg_namelen, 16, "namelen");
            CHECK(src[i].bp_addr.ipn.node_id == 1 && src[i].bp_addr.ipn.service_id == 501,
                  "source of ADU %d", seen);
        }
        printf("   recvmmsg got %d (total %d)\n", got, seen);
    }
    CHECK_EQ(seen, N, "every ADU received once");

    section("recvmmsg on an empty socket with MSG_DONTWAIT -> EAGAIN");
    CHECK_ERR(recvmmsg(r, rv, 64, MSG_DONTWAIT, NULL), EAGAIN, "empty");

    section("reads are committed; unread ADUs go to the next binder");
    for (int i = 0; i < 3; i++)
        SEND_STR(s, 1, 500, "unread");
    CHECK(wait_readable(r, 3000) > 0, "the 3 ADUs arrive");
    sleep_ms(100);
    close(r);
    r = BOUND_SOCKET(1, 500);
    int again = 0;
    end = now_ms() + 1500;
    while (now_ms() < end) {
        char b[64];
        ssize_t k = recv(r, b, sizeof b, MSG_DONTWAIT);
        if (k < 0) {
            sleep_ms(20);
            continue;
        }
        CHECK(k == 6 && memcmp(b, "unread", 6) == 0, "only the unread ADUs come again");
        again++;
    }
    CHECK_EQ(again, 3, "the 3 unread ADUs (and none of the 20 read ones) reach the next binder");

    section("sendmmsg with a bad destination");
    struct sockaddr_in bad = {.sin_family = AF_INET};
    v[0].msg_hdr.msg_name = &bad;
    v[0].msg_hdr.msg_namelen = sizeof bad;
    CHECK_ERR(sendmmsg(s, v, 3, 0), EAFNOSUPPORT, "first message bad");
    v[0].msg_hdr.msg_name = &dst;
    v[0].msg_hdr.msg_namelen = sizeof dst;
    v[2].msg_hdr.msg_name = &bad;
    v[2].msg_hdr.msg_namelen = sizeof bad;
    CHECK_EQ(sendmmsg(s, v, 3, 0), 2, "third message bad: the first two are sent");
    PASS();
}
