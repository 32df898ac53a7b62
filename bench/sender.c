/* A UDP flood where every packet is a new flow, and the counter at the other end.
 *
 *   sender send DST PORT SECONDS MAX_PACKETS SRC_BASE SRC_COUNT
 *       raw IPv4 packets (IP_HDRINCL) written with sendmmsg in batches; each packet has the
 *       next (source address, source port) of SRC_COUNT addresses from SRC_BASE times the
 *       ports 1024..65535, so no two packets of a run share a flow below SRC_COUNT * 64512
 *       packets. Stops after SECONDS or MAX_PACKETS, whichever comes first. Prints
 *       "sent PACKETS SECONDS".
 *   sender recv PORT SECONDS
 *       counts UDP datagrams arriving on PORT (any local address) for SECONDS, or until
 *       SIGTERM. Prints "received PACKETS FIRST_TO_LAST_SECONDS".
 *
 * Both loops are bounded by time (and the sender by packets too). Built by bench/topology.py
 * with the system's cc at run time.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define PAYLOAD 18
#define FIRST_PORT 1024
#define PORTS (65536 - FIRST_PORT)

struct packet {
    struct iphdr ip;
    struct udphdr udp;
    char payload[PAYLOAD];
} __attribute__((packed));

static volatile sig_atomic_t stopping;

static void on_term(int sig)
{
    (void)sig;
    stopping = 1;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int do_send(const char *dst, int port, double seconds, long max_packets,
                   const char *src_base, long src_count)
{
    int fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
    if (fd < 0) {
        perror("socket");
        return 1;
    }
    int sndbuf = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf));
    struct sockaddr_in to = {.sin_family = AF_INET};
    uint32_t base;
    if (inet_pton(AF_INET, dst, &to.sin_addr) != 1 || inet_pton(AF_INET, src_base, &base) != 1) {
        fprintf(stderr, "bad address\n");
        return 2;
    }
    base = ntohl(base);
    static struct packet packets[BATCH];
    struct iovec iov[BATCH];
    struct mmsghdr msgs[BATCH];
    memset(msgs, 0, sizeof(msgs));
    for (int i = 0; i < BATCH; i++) {
        struct packet *p = &packets[i];
        memset(p, 0, sizeof(*p));
        p->ip.version = 4;
        p->ip.ihl = 5;
        p->ip.ttl = 64;
        p->ip.protocol = IPPROTO_UDP;
        p->ip.tot_len = htons(sizeof(*p));
        p->ip.daddr = to.sin_addr.s_addr;
        p->udp.dest = htons(port);
        p->udp.len = htons(sizeof(p->udp) + PAYLOAD);
        iov[i].iov_base = p;
        iov[i].iov_len = sizeof(*p);
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = &to;
        msgs[i].msg_hdr.msg_namelen = sizeof(to);
    }
    long sent = 0, flow = 0, flows = src_count * PORTS;
    double start = now(), deadline = start + seconds, end = start;
    while (sent < max_packets) {
        int count = BATCH;
        if (max_packets - sent < count)
            count = (int)(max_packets - sent);
        for (int i = 0; i < count; i++) {
            long f = (flow + i) % flows;
            packets[i].ip.saddr = htonl(base + (uint32_t)(f / PORTS));
            packets[i].udp.source = htons(FIRST_PORT + f % PORTS);
        }
        int done = sendmmsg(fd, msgs, count, 0);
        if (done < 0) {
            if (errno == ENOBUFS || errno == EAGAIN || errno == EPERM)
                done = 0; /* a full queue or a firewall in the sender's namespace */
            else {
                perror("sendmmsg");
                return 1;
            }
        }
        sent += done;
        flow += done > 0 ? done : count;
        end = now();
        if (end >= deadline)
            break;
    }
    printf("sent %ld %.6f\n", sent, end - start);
    return 0;
}

static int do_recv(int port, double seconds)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) {
        perror("socket");
        return 1;
    }
    int rcvbuf = 32 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
    struct sockaddr_in at = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (bind(fd, (struct sockaddr *)&at, sizeof(at)) < 0) {
        perror("bind");
        return 1;
    }
    static char buffers[BATCH][256];
    struct iovec iov[BATCH];
    struct mmsghdr msgs[BATCH];
    memset(msgs, 0, sizeof(msgs));
    for (int i = 0; i < BATCH; i++) {
        iov[i].iov_base = buffers[i];
        iov[i].iov_len = sizeof(buffers[i]);
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    struct sigaction term = {.sa_handler = on_term};
    sigaction(SIGTERM, &term, NULL);
    printf("ready\n");
    fflush(stdout);
    long received = 0;
    double deadline = now() + seconds, first = 0, last = 0;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    while (!stopping) {
        double left = deadline - now();
        if (left <= 0)
            break;
        if (poll(&pfd, 1, (int)(left * 1000) + 1) <= 0)
            continue;
        int got = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
        if (got <= 0)
            continue;
        last = now();
        if (received == 0)
            first = last;
        received += got;
    }
    printf("received %ld %.6f\n", received, last - first);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 8 && strcmp(argv[1], "send") == 0)
        return do_send(argv[2], atoi(argv[3]), atof(argv[4]), atol(argv[5]), argv[6],
                       atol(argv[7]));
    if (argc == 4 && strcmp(argv[1], "recv") == 0)
        return do_recv(atoi(argv[2]), atof(argv[3]));
    fprintf(stderr, "usage: sender send DST PORT SECONDS MAX_PACKETS SRC_BASE SRC_COUNT\n"
                    "       sender recv PORT SECONDS\n");
    return 2;
}
