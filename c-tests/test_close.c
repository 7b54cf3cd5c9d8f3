/*
 * test_close: contract item "close" (single-process part; the exit flush is
 * test_exit_flush.sh).
 *  - received ADUs not yet read are not thrown away at close but delivered to the next socket
 *    bound to the same EID: bind A, send 3 ADUs to A's EID from another socket, read 1 from A,
 *    close A, bind B to the same EID, B reads the remaining 2 in order (within 3 s each), and
 *    nothing else (the one already read is not delivered again);
 *  - the same with nothing read before close (B gets all of them);
 *  - close returns 0, and the fd number is closed (fcntl -> EBADF).
 */
#include "harness.h"

int main(void)
{
    harness_test_name = "test_close";
    int s = BOUND_SOCKET(1, 501);

    section("1 of 3 read, close, the next socket on the EID gets the other 2 in order");
    {
        int a = BOUND_SOCKET(1, 500);
        SEND_STR(s, 1, 500, "one");
        SEND_STR(s, 1, 500, "two");
        SEND_STR(s, 1, 500, "three");
        EXPECT_ADU(a, "one", 1, 501);
        sleep_ms(300); /* "two" and "three" are queued at A by now */
        CHECK(wait_readable(a, 0), "A has unread ADUs before close");
        CHECK_EQ(close(a), 0, "close(A)");
        CHECK_ERR(fcntl(a, F_GETFD), EBADF, "the closed fd number is gone");
        int b = BP_SOCKET(0);
        BIND(b, 1, 500);
        EXPECT_ADU(b, "two", 1, 501);
        EXPECT_ADU(b, "three", 1, 501);
        EXPECT_NOTHING(b, 500);
        /* B is a normal socket afterwards */
        SEND_STR(s, 1, 500, "four");
        EXPECT_ADU(b, "four", 1, 501);
        close(b);
    }

    section("nothing read, close, the next socket on the EID gets everything");
    {
        int a = BOUND_SOCKET(1, 502);
        SEND_STR(s, 1, 502, "alpha");
        SEND_STR(s, 1, 502, "beta");
        CHECK(wait_readable(a, 3000), "A readable");
        sleep_ms(300);
        CHECK_EQ(close(a), 0, "close(A)");
        int b = BOUND_SOCKET(1, 502);
        EXPECT_ADU(b, "alpha", 1, 501);
        EXPECT_ADU(b, "beta", 1, 501);
        EXPECT_NOTHING(b, 300);
        close(b);
    }

    section("a partially read (truncated) ADU counts as read");
    {
        int a = BOUND_SOCKET(1, 503);
        SEND_STR(s, 1, 503, "long first ADU");
        SEND_STR(s, 1, 503, "second");
        CHECK(wait_readable(a, 3000), "A readable");
        char small[4];
        CHECK_EQ(recv(a, small, DYN(sizeof small), 0), 4, "truncated recv");
        sleep_ms(300);
        close(a);
        int b = BOUND_SOCKET(1, 503);
        EXPECT_ADU(b, "second", 1, 501);
        EXPECT_NOTHING(b, 300);
        close(b);
    }

    close(s);
    PASS();
}
