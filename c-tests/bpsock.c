/*
 * bpsock - probe: call socket(AF_BP, SOCK_DGRAM, 0) once and report the result.
 *
 *   bpsock
 *
 * Prints "socket(AF_BP) = <fd>" and exits 0, or "socket(AF_BP) = -1 <ERRNAME> (<text>)" and
 * exits 1. Used by test_bad_config.sh (a bad BP_* setting must give -1/EINVAL, a message
 * naming the variable on stderr, and a normal exit, not a crash).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bp_socket.h"

int main(void)
{
    errno = 0;
    int fd = socket(AF_BP, SOCK_DGRAM, 0);
    if (fd < 0) {
        int e = errno;
        const char *name = strerrorname_np(e);
        printf("socket(AF_BP) = -1 %s (%s)\n", name ? name : "?", strerror(e));
        fflush(stdout);
        return 1;
    }
    printf("socket(AF_BP) = %d\n", fd);
    fflush(stdout);
    close(fd);
    return 0;
}
