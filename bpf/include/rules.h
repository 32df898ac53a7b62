/* The rule data the generated chain programs read: one struct per rule (its match values and
 * its action), lookup keys and entries, SELECT and AFFINITY members. Which fields a rule uses,
 * and how (inverted or not), is the Shape: generated code. The values are Data: map entries
 * the agent writes (bpf/ruledata.py packs them; bpf/ruledata.py's ctypes mirrors are compared
 * with these by tests/datapath/test_codegen.py). Addresses network order, ports host order. */
#ifndef BPFT_RULES_H
#define BPFT_RULES_H

#ifndef LOOKUP_CANDIDATES
#define LOOKUP_CANDIDATES 8 /* translator/plan.py MAX_CANDIDATES */
#endif
#ifndef MULTIPORT_MAX
#define MULTIPORT_MAX 15 /* xt_multiport's XT_MULTI_PORTS */
#endif
#ifndef AFFINITY_MAX
#define AFFINITY_MAX 16 /* lists one AFFINITY block checks, one by one */
#endif
#ifndef SELECT_TRIES
#define SELECT_TRIES 64 /* members drawn one by one after a chosen member's chain returned */
#endif
#ifndef RULE_SLOTS
#define RULE_SLOTS 262144 /* rules with data (and counters) */
#endif
#ifndef LOOKUP_MAX_ENTRIES
#define LOOKUP_MAX_ENTRIES 262144
#endif
#ifndef RECENT_MAX_ENTRIES
#define RECENT_MAX_ENTRIES 65536
#endif
#ifndef LOCAL_ADDRS
#define LOCAL_ADDRS 1024
#endif

/* rule_act.kind: what a rule does when it matches. */
enum act_kind {
	ACT_NONE = 0,      /* no target: count and go on */
	ACT_ACCEPT = 1,
	ACT_DROP = 2,
	ACT_RETURN = 3,
	ACT_JUMP = 4,      /* -j CHAIN: push a frame, run prog/member */
	ACT_GOTO = 5,      /* -g CHAIN: run prog/member without a frame */
	ACT_MARK = 6,      /* MARK --set-xmark val/mask (every MARK form is one) */
	ACT_CONNMARK = 7,  /* CONNMARK --set-xmark val/mask on the connection's mark */
	ACT_DNAT = 8,
	ACT_SNAT = 9,
	ACT_MASQUERADE = 10, /* SNAT to the out interface's address (ifaddr map) */
	ACT_REDIRECT = 11,   /* DNAT to the in interface's address (127.0.0.1 from OUTPUT) */
	ACT_REJECT = 12,     /* dropped, counted as DROP_REJECT (no ICMP/RST sent yet) */
	ACT_LOG = 13,        /* nothing is logged; counted */
	ACT_NOTRACK = 14,    /* raw NOTRACK / CT --notrack: the packet stays untracked */
};

struct rule_act {
	__u8 kind;   /* enum act_kind */
	__u8 pad;
	__u16 prog;  /* JUMP/GOTO: the chain program (index in the prog array) */
	__u32 member; /* JUMP/GOTO: the family member the program runs */
	__u32 val;   /* MARK/CONNMARK: xor value */
	__u32 mask;  /* MARK/CONNMARK: bits cleared first */
	struct nat_range nat; /* DNAT/SNAT/MASQUERADE/REDIRECT */
};

/* rule_val.flags */
#define RV_F_ICMP_ANY_TYPE 0x01 /* icmp type "any" (255) */
#define RV_F_SRC_SIDE 0x02      /* recent: --rsource (else --rdest) */

/* One rule's values: every field a match of the datapath can test; a rule uses the ones its
 * Shape says. `slot` is its counter index. */
struct rule_val {
	__be32 src;
	__be32 smask;
	__be32 dst;
	__be32 dmask;
	__u32 in_ifindex;
	__u32 out_ifindex;
	__u16 sport_lo;
	__u16 sport_hi;
	__u16 dport_lo;
	__u16 dport_hi;
	__u32 mark;
	__u32 mark_mask;
	__u32 ctstate;     /* CT_STATE_* bits: --ctstate / --state */
	__u32 probability; /* statistic random: 31-bit probability */
	__u8 proto;
	__u8 tcp_mask;     /* --tcp-flags mask */
	__u8 tcp_cmp;      /* --tcp-flags comparison */
	__u8 icmp_type;
	__u8 icmp_code_lo;
	__u8 icmp_code_hi;
	__u8 multiport_n;  /* entries used in multiport[] */
	__u8 flags;        /* RV_F_* */
	__u16 multiport[MULTIPORT_MAX][2]; /* --ports lists: [lo, hi] each */
	__u32 recent_list; /* recent: the list's id */
	__u32 recent_mask; /* recent: --mask */
	__u32 recent_seconds; /* recent: --seconds (0: any age) */
	__u32 slot;        /* counter index (ctr) */
	struct rule_act act;
};

/* A RULE block's rule: (program, block, family member) -> rule_val. */
struct rblk_key {
	__u16 prog;
	__u16 block;
	__u32 member;
};

/* A LOOKUP's hash key: the family member, then the key fields the block uses (the others 0). */
struct lk_key {
	__u32 member;
	__u8 proto;
	__u8 pad;
	__u16 dport;
	__be32 src; /* masked to the block's prefix length */
	__be32 dst;
};

/* A LOOKUP's LPM key: the exact part (member, protocol, port, the other address) always
 * whole, then the varying prefix's address: prefixlen = LK_LPM_EXACT_BITS + its length. */
#define LK_LPM_EXACT_BITS 96
struct lk_lpm_key {
	__u32 prefixlen;
	__u32 member;
	__u8 proto;
	__u8 pad;
	__u16 dport;
	__be32 fixed; /* the other prefix field, masked (0 when the block has none) */
	__be32 addr;  /* the LPM field */
};

/* A LOOKUP entry: the rules a packet with this key meets, in order (`variant`: which residual
 * check the generated code runs; `slot`: the rule's rule_val in rdata). */
struct lk_cand {
	__u32 slot;
	__u8 variant;
	__u8 pad[3];
};

struct lk_val {
	__u32 count;
	struct lk_cand cand[LOOKUP_CANDIDATES];
};

/* A SELECT or AFFINITY block of one member: how many members it has, and (SELECT) the size
 * of its alias table: count, or count + 1 when no member may be taken (its last slot). */
struct sel_head {
	__u32 count;
	__u32 table;
};

/* One member of a SELECT or AFFINITY block. SELECT draws once (the alias method): member i
 * is taken when the second draw is below `cut`, else member `alias`; `probability` is the
 * member's own (the kernel's), for the draws one by one after a return. AFFINITY: `slot`'s
 * rule_val names the recent list. */
struct sel_key {
	__u16 prog;
	__u16 block;
	__u32 member;
	__u32 index;
};

struct sel_member {
	__u32 cut;
	__u32 alias;
	__u32 probability;
	__u32 slot;
};

/* recent lists: (list id, address) -> last time seen (ns). */
struct recent_key {
	__u32 list;
	__be32 addr;
};

/* Per-rule counters (per CPU). */
struct rule_ctr {
	__u64 packets;
	__u64 bytes;
};

#endif /* BPFT_RULES_H */
