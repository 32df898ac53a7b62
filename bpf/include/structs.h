/* Data shared by the datapath's programs and maps, and with Python (bpf/structs.py mirrors
 * every struct and flag here; tests/datapath/test_structs.py compares sizes and offsets).
 * Every struct is padded explicitly: no hidden holes, so hash keys hash no garbage and the
 * Python mirrors need no guessing. Addresses are in network order, ports in host order. */
#ifndef BPFT_STRUCTS_H
#define BPFT_STRUCTS_H

/* One direction of a connection (the model's FlowTuple), and the conntrack map's key.
 * ICMP: sport is the query id (0 for other types), dport the ICMP type. A protocol without
 * ports (or a later fragment) has both ports 0. */
struct flow4 {
	__be32 saddr;
	__be32 daddr;
	__u16 sport;
	__u16 dport;
	__u8 proto;
	__u8 pad[3]; /* always zero: part of the hashed key */
};

/* ct_entry.flags */
#define CT_F_REPLY_REF 0x01  /* keyed by a NATed flow's reply tuple; `other` is the original
                              * tuple, whose entry holds the state */
#define CT_F_SEEN_REPLY 0x02 /* a reply was seen: ESTABLISHED */
#define CT_F_SNAT 0x04       /* the source is translated (status SNAT) */
#define CT_F_DNAT 0x08       /* the destination is translated (status DNAT) */

/* The TCP tracker's state of a connection (enum tcp_conntrack, the model's names). */
enum ct_tcp_state {
	CT_TCP_NONE = 0, /* not TCP */
	CT_TCP_SYN_SENT = 1,
	CT_TCP_SYN_RECV = 2,
	CT_TCP_ESTABLISHED = 3,
	CT_TCP_FIN_WAIT = 4,
	CT_TCP_CLOSE_WAIT = 5,
	CT_TCP_LAST_ACK = 6,
	CT_TCP_TIME_WAIT = 7,
	CT_TCP_CLOSE = 8,
};

/* A conntrack map value (32 bytes). An original entry (keyed by the original tuple) holds the
 * state; a NATed flow also has a CT_F_REPLY_REF entry keyed by its reply tuple so replies are
 * found in O(1). An un-NATed flow has one entry: its reply tuple is the inverse of the key. */
struct ct_entry {
	__u64 expires_ns;   /* dead from this time on (clock: bpf_ktime_get_ns + clock offset) */
	struct flow4 other; /* original entry: the reply tuple; reply ref: the original tuple */
	__u32 mark;         /* ctmark (CONNMARK) */
	__u8 flags;         /* CT_F_* */
	__u8 tcp_state;     /* enum ct_tcp_state */
	__u8 pad[2];
};

/* pkt_info.flags */
#define PKT_F_FRAG_FIRST 0x01 /* the first fragment of a fragmented datagram (MF, offset 0) */
#define PKT_F_FRAG_LATER 0x02 /* a later fragment: no L4 header, follows the first one */
#define PKT_F_L4 0x04         /* the L4 header (ports / TCP flags / ICMP type) was parsed */
#define PKT_F_PORTS 0x08      /* TCP, UDP or SCTP with ports (the model's has_ports) */
#define PKT_F_ICMP_ERROR 0x10 /* an ICMP error quoting an IP header + 8 bytes (inner valid) */

/* The packet's headers as rules and conntrack see them (filled by parse_ipv4). */
struct pkt_info {
	__be32 saddr;
	__be32 daddr;
	__u16 sport;       /* TCP/UDP/SCTP source port; ICMP query: its id */
	__u16 dport;       /* TCP/UDP/SCTP destination port */
	__u8 protocol;
	__u8 tcp_flags;    /* TCPFL_* */
	__u8 icmp_type;
	__u8 icmp_code;
	__u16 tot_len;     /* IP total length */
	__u16 ip_id;       /* IP identification (fragments are grouped by it) */
	__u16 frag_off;    /* fragment offset in 8-byte units */
	__u8 ttl;
	__u8 tos;
	__u8 flags;        /* PKT_F_* */
	__u8 pad0[3];
	__u32 mark;        /* skb->mark */
	__u32 in_ifindex;  /* skb->ingress_ifindex (0: sent by this host) */
	__u32 out_ifindex; /* the FIB's egress interface, once known (0 before) */
	/* Offsets from skb->data the rewrites need. */
	__u16 l3_off;       /* the IP header */
	__u16 l4_off;       /* the L4 header */
	__u16 inner_l3_off; /* ICMP error: the quoted IP header */
	__u16 inner_l4_off; /* ICMP error: the quoted L4 header */
	__u16 inner_l4_len; /* ICMP error: bytes of the quoted L4 header present (>= 8) */
	__u16 pad1;
	struct flow4 inner; /* ICMP error: the quoted packet's tuple */
};

/* ct_info.state: the ctstate bits as --ctstate / --state see them (xt_conntrack's values, so
 * generated code can test a rule's mask with one AND). */
#define CT_STATE_INVALID 0x0001
#define CT_STATE_ESTABLISHED 0x0002
#define CT_STATE_RELATED 0x0004
#define CT_STATE_NEW 0x0008
#define CT_STATE_UNTRACKED 0x0100
#define CT_STATE_SNAT 0x0200 /* the connection's source is translated */
#define CT_STATE_DNAT 0x0400 /* the connection's destination is translated */

/* ct_info.flags */
#define CTI_TRACKED 0x01   /* orig/reply describe a connection (NEW, ESTABLISHED or RELATED) */
#define CTI_REPLY 0x02     /* the packet travels in the reply direction (--ctdir REPLY) */
#define CTI_NEW 0x04       /* unconfirmed: this packet creates it; ct_confirm4 inserts it */
#define CTI_RELATED 0x08   /* an ICMP error about the connection; never confirmed */
#define CTI_DNAT_DONE 0x10 /* the destination binding is decided (nat PREROUTING/OUTPUT ran) */
#define CTI_SNAT_DONE 0x20 /* the source binding is decided (nat POSTROUTING/INPUT ran) */
#define CTI_NOTRACK 0x40   /* set by raw NOTRACK before ct_lookup4: the packet is UNTRACKED */

/* The packet's connection as the rules see it (the model's _Flow). */
struct ct_info {
	__u16 state;        /* CT_STATE_* */
	__u8 flags;         /* CTI_* */
	__u8 tcp_state;     /* the connection's tracker state before this packet */
	__u32 mark;         /* ctmark; CONNMARK may change it, ct_confirm4 stores it */
	struct flow4 orig;  /* the original tuple (the key of the connection's entry) */
	struct flow4 reply; /* the reply tuple (after NAT bindings) */
};

/* NAT targets: what a DNAT/SNAT/MASQUERADE/REDIRECT rule asks for (the model's NatRange). */
#define NAT_KIND_SNAT 1 /* source manip: SNAT, MASQUERADE (address from the FIB) */
#define NAT_KIND_DNAT 2 /* destination manip: DNAT, REDIRECT (address of the in interface) */

/* nat_range.flags */
#define NAT_F_PORTS 0x01        /* min_port..max_port given; else keep the port if possible */
#define NAT_F_RANDOM 0x02       /* --random (the kernel's pick is its own; as without here) */
#define NAT_F_RANDOM_FULLY 0x04 /* --random-fully: never keep, start at a random port */
#define NAT_F_PERSISTENT 0x08   /* --persistent (one address per client; min_addr here) */

struct nat_range {
	__be32 min_addr;
	__be32 max_addr;
	__u16 min_port;
	__u16 max_port;
	__u8 kind;  /* NAT_KIND_* */
	__u8 flags; /* NAT_F_* */
	__u8 pad[2];
};

/* nat_bind4's port search, kept in the per-packet state: the search loop reads its inputs
 * back from map memory, so the verifier meets one state at the loop, not one per way in. */
struct nat_search {
	struct flow4 cand; /* the candidate tuple; the port under test replaces one of its ports */
	__u32 low;         /* first port of the range */
	__u32 size;        /* ports in the range (1..65536) */
	__u32 start;       /* offset of the first port tried (random with --random-fully) */
	__u8 keep_first;   /* try cand as it is before the range (the port is kept if free) */
	__u8 dport;        /* the port under test is the destination port (else source/ICMP id) */
	__u8 kind;         /* NAT_KIND_* of the binding */
	__u8 search;       /* 0: cand is the binding, no search (no ports, DNAT without ports) */
};

/* The per-packet state in the per-CPU scratch map: tail-called programs of one packet share
 * it. The generated rule code owns `spare` (its chain call stack, counters to bump...). */
#define PKT_STATE_SPARE 128
struct pkt_state {
	struct pkt_info pkt;
	struct ct_info ct;
	struct nat_search nat;
	__u32 drop_reason;  /* enum drop_reason, DROP_NONE while alive */
	__u64 now_ns;       /* the packet's clock for conntrack (expiry, refresh) */
	__u8 spare[PKT_STATE_SPARE]; /* reserved for the generated code */
};

/* Later fragments follow their first fragment: key = the first fragment's header as it
 * arrived, value = its verdict and translated addresses. */
struct frag_key {
	__be32 saddr;
	__be32 daddr;
	__u16 ip_id;
	__u8 proto;
	__u8 pad;
};

struct frag_entry {
	__u64 expires_ns;
	__be32 new_saddr;
	__be32 new_daddr;
	__u32 verdict;     /* TC_ACT_OK or TC_ACT_SHOT */
	__u32 drop_reason; /* why the first fragment was dropped */
};

/* --- the test harness's configuration (bpf/harness.c only; not used by real programs) --- */

#ifndef HARNESS_RULES
#define HARNESS_RULES 4
#endif
#define HARNESS_LOCALS 2

/* One nat rule of the harness: match protocol, address/mask (DNAT: destination, SNAT:
 * source) and destination port, then bind `to`. */
struct harness_rule {
	__be32 match_addr;
	__be32 match_mask;
	__u16 match_dport; /* 0: any */
	__u8 match_proto;  /* 0: any */
	__u8 enabled;
	struct nat_range to;
};

/* harness_cfg.flags */
#define HCFG_DROP_INVALID 0x01   /* -A FORWARD -m conntrack --ctstate INVALID -j DROP */
#define HCFG_NO_CONFIRM 0x02     /* benchmark: never insert (every packet stays a new flow) */
#define HCFG_FORGET 0x04         /* benchmark: insert, then delete what was inserted */
#define HCFG_UNDO 0x08           /* benchmark: rewrite the packet back to its own tuple at
                                  * the end, so BPF_PROG_TEST_RUN's repeats (which run on the
                                  * previous run's output) all see the same packet */

struct harness_cfg {
	struct harness_rule dnat[HARNESS_RULES]; /* "PREROUTING", first match wins */
	struct harness_rule snat[HARNESS_RULES]; /* "POSTROUTING"; no match: null binding */
	__u64 clock_offset_ns; /* added to bpf_ktime_get_ns: tests move time forward */
	__u32 flags;           /* HCFG_* */
	/* the node's own addresses: a packet to one of them takes the INPUT path, whose nat
	 * chain (empty in the harness) gives it the null source binding (no FIB here) */
	__be32 local[HARNESS_LOCALS];
	__u16 notrack_udp_dport; /* raw: -p udp --dport N -j NOTRACK (0: none) */
	__u16 pad;
};

#endif /* BPFT_STRUCTS_H */
