/*
 * dur_common.h - helpers shared by dur_send.c and dur_recv.c, the helper programs of the
 * durable-store tests (header only: scripts/run-c-tests.sh builds each c-tests/NAME.c as a
 * program of its own, so shared code cannot be a .c file).
 */
#ifndef BPSHIM_DUR_COMMON_H
#define BPSHIM_DUR_COMMON_H

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

/* Set to 1 by on_stop_signal (dur_recv installs it for SIGTERM and SIGINT, dur_send for
 * SIGUSR1). */
static volatile sig_atomic_t stop;

static inline void on_stop_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* Write all of buf to stdout with write(2) (no stdio buffering), retrying after EINTR and
 * short writes. Returns 0, or -1 on an error. */
static inline int write_all(const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(1, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* *out = the decimal number s (digits only: no sign, no trailing text, no overflow).
 * Returns 0, or -1 (and *out unchanged) if s is not such a number. */
static inline int parse_ul(const char *s, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-')
        return -1;
    *out = v;
    return 0;
}

#endif /* BPSHIM_DUR_COMMON_H */
