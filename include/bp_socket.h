/*
 * bp_socket.h - the AF_BP socket API (Bundle Protocol version 7, RFC 9171)
 *
 * Header-only and binary-compatible with upstream BP Socket
 * (DTN-MTP/bp-socket include/bp_socket.h, since PR #21): a program written for
 * the kernel module compiles and runs unchanged under LD_PRELOAD=libbpshim.so.
 *
 *   int fd = socket(AF_BP, SOCK_DGRAM, 0);
 *   struct sockaddr_bp a;
 *   bp_sockaddr_ipn(&a, 10, 2);
 *   bind(fd, (struct sockaddr *)&a, sizeof a);
 *   bp_sockaddr_ipn(&a, 20, 1);
 *   sendto(fd, "hello", 5, 0, (struct sockaddr *)&a, sizeof a);
 *
 * All fields of struct sockaddr_bp are in host byte order.
 * The full API contract (every call, every errno) is in README.md.
 */
#ifndef BP_SOCKET_H
#define BP_SOCKET_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Address family. Same value as upstream; it is AF_MPLS on Linux, which
 * registers no socket family, so the kernel itself answers EAFNOSUPPORT. */
#ifndef AF_BP
#define AF_BP 28
#endif

typedef enum bp_scheme {
    BP_SCHEME_IPN = 1,
    BP_SCHEME_DTN = 2, /* a dtn: EID, in struct sockaddr_bp_ext (bpshim extension) */
    BP_SCHEME_EID = 3  /* any EID as text, e.g. "ipn:A.N.S", in struct sockaddr_bp_ext (bpshim) */
} bp_scheme_t;

/* 16 bytes: u16 family, 2 bytes padding, int scheme, u32 node, u32 service. */
struct sockaddr_bp {
    sa_family_t bp_family;
    bp_scheme_t bp_scheme;
    union {
        struct {
            uint32_t node_id;
            uint32_t service_id;
        } ipn;
    } bp_addr;
};

/* Extended address (bpshim extension): an EID as text, for dtn EIDs ("dtn://node/service",
 * bp_scheme BP_SCHEME_DTN) and other forms such as three-element ipn EIDs ("ipn:A.N.S",
 * RFC 9758, bp_scheme BP_SCHEME_EID). Same first 8 bytes as struct sockaddr_bp.
 *   sendto/sendmsg: destination; addrlen at least 8 + strlen(bp_eid) + 1.
 *   recvfrom/recvmsg: source, when it is not a two-element ipn EID; the returned namelen is
 *     8 + strlen + 1 (a 16-byte struct sockaddr_bp gets the first 16 bytes: check bp_scheme).
 *   bind/connect: not supported (EAFNOSUPPORT): the node's own ID is an ipn node number. */
#define BP_EID_TEXT_MAX 120
struct sockaddr_bp_ext {
    sa_family_t bp_family;      /* AF_BP */
    uint16_t bp_pad;
    bp_scheme_t bp_scheme;      /* BP_SCHEME_DTN or BP_SCHEME_EID */
    char bp_eid[BP_EID_TEXT_MAX]; /* NUL-terminated EID text */
};

/* Send flags (sendto/sendmsg/send), upstream's values. Each of them shares its
 * bit with a Linux MSG_* flag; on an AF_BP socket they mean only what is below
 * and are never passed on to any other socket. */
#define MSG_ACK_REQUESTED 0x00000001          /* application ack requested */
#define MSG_RECEIVED_RPT 0x00000002           /* status report: received   */
#define MSG_CUSTODY_RPT 0x00000004            /* accepted, no effect (BPv7 has no custody) */
#define MSG_FORWARDED_RPT 0x00000008          /* status report: forwarded  */
#define MSG_DELIVERED_RPT 0x00000010          /* status report: delivered  */
#define MSG_DELETED_RPT 0x00000020            /* status report: deleted    */
#define MSG_BP_BULK_PRIORITY 0x00000100       /* priority: bulk            */
#define MSG_BP_STD_PRIORITY 0x00000200        /* priority: standard (default) */
#define MSG_BP_EXPEDITED_PRIORITY 0x00000400  /* priority: expedited       */
#define MSG_SOURCE_CUSTODY_REQUIRED 0x00001000 /* accepted, no effect      */
#define MSG_SOURCE_CUSTODY_OPTIONAL 0x00002000 /* accepted, no effect      */
#define MSG_NO_CUSTODY_REQUIRED 0x00004000    /* accepted, no effect       */

/* ---- bpshim extensions (not in upstream BP Socket) -------------------------------------- */

/* Option level of the per-socket bundle options below (setsockopt/getsockopt). No Linux
 * protocol level uses this value. Every option takes an int, except BP_REPORT_TO
 * (struct sockaddr_bp). A bad value gives EINVAL. */
#define SOL_BP 0x4250

#define BP_LIFETIME 1          /* lifetime of new bundles, seconds (>= 1); default BP_LIFETIME setting, 24 h */
#define BP_PRIORITY 2          /* 0 bulk, 1 standard, 2 expedited (class-of-service block); default none */
#define BP_REPORT_TO 3         /* struct sockaddr_bp; ipn:0.0 = none; default: the socket's own EID */
#define BP_REPORT_FLAGS 4      /* status reports requested: BP_REPORT_* bits below; default 0 */
#define BP_CRC_TYPE 5          /* 1 CRC-16/X.25, 2 CRC-32C (default); bundles are never sent without CRC */
#define BP_HOP_LIMIT 6         /* 1..255: new bundles carry a hop-count block; 0 (default): none */
#define BP_MUST_NOT_FRAGMENT 7 /* 0 (default) or 1; with 1, an ADU too big for the next hop is EMSGSIZE */
#define BP_ACK_REQUESTED 8     /* 0 (default) or 1: "application acknowledgement requested" flag */

/* Status report bits: BP_REPORT_FLAGS values and bp_status_report.bp_status. */
#define BP_REPORT_RECEIVED 0x01
#define BP_REPORT_FORWARDED 0x02
#define BP_REPORT_DELIVERED 0x04
#define BP_REPORT_DELETED 0x08
#define BP_REPORT_STATUS_TIME 0x10 /* option only: ask for the event times in the reports */

/* Status reports that come back for the bundles a socket sent (addressed to its report-to EID,
 * by default its own) are read, as Linux reports transmit errors, with
 *   recvmsg(fd, &msg, MSG_ERRQUEUE)      (never blocks; EAGAIN when none is queued)
 * which returns 0 bytes of data, the reporting node in msg_name, MSG_ERRQUEUE in msg_flags, and
 * one control message: cmsg_level SOL_BP, cmsg_type BP_STATUS_REPORT, data struct
 * bp_status_report (MSG_CTRUNC if msg_controllen has no room for it). */
#define BP_STATUS_REPORT 1

struct bp_status_report {
    uint32_t bp_status;           /* BP_REPORT_* bits asserted by this report */
    uint32_t bp_reason;           /* RFC 9171 6.1.1 reason code (1: lifetime expired, ...) */
    uint64_t bp_send_seq;         /* about the N-th non-empty ADU sent on this socket (from 1); 0: unknown */
    uint64_t bp_creation_time;    /* the bundle's creation timestamp: DTN time, ms since 2000-01-01 UTC */
    uint64_t bp_creation_seq;     /* and sequence number */
    uint64_t bp_frag_offset;      /* fragment offset and length when the bundle was a fragment, else 0 */
    uint64_t bp_frag_length;
    uint64_t bp_time[4];          /* DTN ms of reception, forwarding, delivery, deletion (0: not given) */
    struct sockaddr_bp bp_source; /* the bundle's source EID */
    struct sockaddr_bp bp_reporter; /* the node that issued the report */
};

/* Largest ADU accepted by default (bytes); BP_MAX_ADU changes it. */
#define BP_DEFAULT_MAX_ADU (16u * 1024u * 1024u)

/* Longest text bp_format_ipn() writes: "ipn:4294967295.4294967295" + NUL. */
#define BP_IPN_STRLEN 26

/* Fill an ipn address. */
static inline void bp_sockaddr_ipn(struct sockaddr_bp *addr, uint32_t node, uint32_t service)
{
    size_t i;
    unsigned char *p = (unsigned char *)addr;
    for (i = 0; i < sizeof *addr; i++)
        p[i] = 0;
    addr->bp_family = AF_BP;
    addr->bp_scheme = BP_SCHEME_IPN;
    addr->bp_addr.ipn.node_id = node;
    addr->bp_addr.ipn.service_id = service;
}

/* Write "ipn:N.S" into buf (size n, at least BP_IPN_STRLEN to never cut).
 * Returns what snprintf returns; "?" is written for a non-ipn address. */
static inline int bp_format_ipn(char *buf, size_t n, const struct sockaddr_bp *addr)
{
    if (addr->bp_family != AF_BP || addr->bp_scheme != BP_SCHEME_IPN)
        return snprintf(buf, n, "?");
    return snprintf(buf, n, "ipn:%lu.%lu", (unsigned long)addr->bp_addr.ipn.node_id,
                    (unsigned long)addr->bp_addr.ipn.service_id);
}

/* Fill an extended address with an EID text ("dtn://node/svc" or "ipn:A.N.S").
 * Returns the addrlen to pass, or 0 if the text does not fit. */
static inline socklen_t bp_sockaddr_text(struct sockaddr_bp_ext *addr, const char *eid)
{
    size_t i, n = 0;
    unsigned char *p = (unsigned char *)addr;
    for (i = 0; i < sizeof *addr; i++)
        p[i] = 0;
    while (eid[n] != '\0')
        n++;
    if (n + 1 > sizeof addr->bp_eid)
        return 0;
    addr->bp_family = AF_BP;
    addr->bp_scheme = (eid[0] == 'd' && eid[1] == 't' && eid[2] == 'n' && eid[3] == ':')
                          ? BP_SCHEME_DTN
                          : BP_SCHEME_EID;
    for (i = 0; i < n; i++)
        addr->bp_eid[i] = eid[i];
    return (socklen_t)(offsetof(struct sockaddr_bp_ext, bp_eid) + n + 1);
}

/* Parse "ipn:N.S" (or "N.S") into addr. Returns 0, or -1 if the text is not
 * an ipn EID with 32-bit node and service numbers. */
static inline int bp_parse_ipn(const char *text, struct sockaddr_bp *addr)
{
    unsigned long long v[2] = {0, 0};
    int i;
    const char *p = text;
    if (p[0] == 'i' && p[1] == 'p' && p[2] == 'n' && p[3] == ':')
        p += 4;
    for (i = 0; i < 2; i++) {
        int digits = 0;
        while (*p >= '0' && *p <= '9') {
            v[i] = v[i] * 10u + (unsigned)(*p - '0');
            if (v[i] > 0xFFFFFFFFull)
                return -1;
            p++;
            digits++;
        }
        if (digits == 0)
            return -1;
        if (i == 0) {
            if (*p != '.')
                return -1;
            p++;
        }
    }
    if (*p != '\0')
        return -1;
    bp_sockaddr_ipn(addr, (uint32_t)v[0], (uint32_t)v[1]);
    return 0;
}

#ifdef __cplusplus
}
#endif

#endif /* BP_SOCKET_H */
