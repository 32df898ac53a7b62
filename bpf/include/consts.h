/* Limits and kernel defaults of the datapath. Every limit is an overridable #define: the loader
 * (or a test) may pass -DNAME=value to size maps or bound loops differently. */
#ifndef BPFT_CONSTS_H
#define BPFT_CONSTS_H

/* Conntrack table size (LRU: a full table evicts the least recently used flow). A NATed flow
 * takes two entries (original tuple + a reference keyed by its reply tuple), others one. */
#ifndef CT_MAX_ENTRIES
#define CT_MAX_ENTRIES 65536
#endif

/* Later fragments remember their first fragment's verdict and translation this long, in this
 * many slots (LRU). */
#ifndef FRAG_MAX_ENTRIES
#define FRAG_MAX_ENTRIES 4096
#endif
#ifndef FRAG_TIMEOUT_S
#define FRAG_TIMEOUT_S 30 /* net.ipv4.ipfrag_time */
#endif

/* How many candidate ports nat_bind4 tries before giving up (nf_nat's own bound is 128
 * attempts). The reference model searches the whole range; the two differ only when more than
 * this many consecutive candidates are taken. */
#ifndef NAT_PORT_TRIES
#define NAT_PORT_TRIES 128
#endif

/* Kernel default conntrack timeouts in seconds (nf_conntrack_*_timeout), the same values as
 * translator/model/conntrack.py (a test compares them). */
#ifndef CT_TIMEOUT_TCP_SYN_SENT
#define CT_TIMEOUT_TCP_SYN_SENT 120
#endif
#ifndef CT_TIMEOUT_TCP_SYN_RECV
#define CT_TIMEOUT_TCP_SYN_RECV 60
#endif
#ifndef CT_TIMEOUT_TCP_ESTABLISHED
#define CT_TIMEOUT_TCP_ESTABLISHED 432000
#endif
#ifndef CT_TIMEOUT_TCP_FIN_WAIT
#define CT_TIMEOUT_TCP_FIN_WAIT 120
#endif
#ifndef CT_TIMEOUT_TCP_CLOSE_WAIT
#define CT_TIMEOUT_TCP_CLOSE_WAIT 60
#endif
#ifndef CT_TIMEOUT_TCP_LAST_ACK
#define CT_TIMEOUT_TCP_LAST_ACK 30
#endif
#ifndef CT_TIMEOUT_TCP_TIME_WAIT
#define CT_TIMEOUT_TCP_TIME_WAIT 120
#endif
#ifndef CT_TIMEOUT_TCP_CLOSE
#define CT_TIMEOUT_TCP_CLOSE 10
#endif
#ifndef CT_TIMEOUT_UDP
#define CT_TIMEOUT_UDP 30 /* until traffic was seen both ways */
#endif
#ifndef CT_TIMEOUT_UDP_STREAM
#define CT_TIMEOUT_UDP_STREAM 120
#endif
#ifndef CT_TIMEOUT_ICMP
#define CT_TIMEOUT_ICMP 30
#endif
#ifndef CT_TIMEOUT_GENERIC
#define CT_TIMEOUT_GENERIC 600
#endif

#define BPFT_NSEC_PER_SEC 1000000000ULL

/* Protocol numbers beyond <uapi/linux/in.h>'s IPPROTO_* (SCTP is there too). */
#define ETH_P_IPV4 0x0800

/* TCP flag bits as in the TCP header's 14th byte (and --tcp-flags). */
#define TCPFL_FIN 0x01
#define TCPFL_SYN 0x02
#define TCPFL_RST 0x04
#define TCPFL_PSH 0x08
#define TCPFL_ACK 0x10
#define TCPFL_URG 0x20

/* IPv4 frag_off bits (host order). */
#define IP_MF_BIT 0x2000
#define IP_OFFSET_MASK 0x1fff

/* ICMP types the tracker treats specially (errors quote the packet they are about). */
#define ICMP_T_ECHOREPLY 0
#define ICMP_T_DEST_UNREACH 3
#define ICMP_T_SOURCE_QUENCH 4
#define ICMP_T_REDIRECT 5
#define ICMP_T_ECHO 8
#define ICMP_T_TIME_EXCEEDED 11
#define ICMP_T_PARAMETERPROB 12

#endif /* BPFT_CONSTS_H */
