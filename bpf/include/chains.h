/* The runtime of the generated chain programs (bpf/codegen.py): where a packet is in the
 * rule set, jumps and returns across tail calls, the data maps, matchers and actions.
 *
 * Every built-in chain and every family of look-alike user chains is one program in the prog
 * array `progs`; index 0 is the pipeline (the hooks in netfilter's order). A jump pushes a
 * frame (program, block and candidate to resume at, member) and tail-calls the target; the
 * end of a user chain or RETURN pops it and tail-calls back. The frames live in the per-packet
 * state's spare area (struct chain_state), which every tail-called program shares. */
#ifndef BPFT_CHAINS_H
#define BPFT_CHAINS_H

#include "rules.h"

#ifndef STACK_DEPTH
#define STACK_DEPTH 8 /* chains deep a jump may go (a power of two); deeper drops DROP_STACK */
#endif
#ifndef PROGS_MAX
#define PROGS_MAX 64
#endif
#define PROG_PIPELINE 0
#define BLOCK_POLICY 0xffff /* resume a built-in chain at its policy */

struct frame {
	__u16 prog;  /* the slot of the chain program's segment to run */
	__u16 block; /* the block to resume at (BLOCK_POLICY: a built-in chain's policy) */
	__u16 cand;  /* the candidate (LOOKUP) or member (SELECT, AFFINITY) to resume at */
	__u16 pad;
	__u32 member; /* the family member the program runs */
};

/* chain_state.stage: the hooks in order (enum stage, generated with the pipeline). */
struct chain_state {
	struct frame cur; /* what the program being called runs */
	struct frame stack[STACK_DEPTH];
	__u16 builtin; /* the slot running the stage's built-in chain's policy */
	__u8 depth;    /* frames on the stack */
	__u8 stage;    /* where the pipeline goes on */
	/* a forwarded packet's next hop, from the FIB (the pipeline sends it there itself) */
	__u8 smac[6];
	__u8 dmac[6];
	__u8 neigh;    /* 1: the FIB knew the neighbour's address (smac/dmac valid) */
	__u8 pad[3];
};

_Static_assert(sizeof(struct chain_state) <= PKT_STATE_SPARE, "chain_state outgrows spare");

/* --- maps: one generation's rule data (written by the agent, bpf/ruledata.py) --- */

/* The chain programs (index: program number; 0 the pipeline). */
BPF_PROG_ARRAY(progs, PROGS_MAX);
/* RULE blocks' rules: (program, block, member) -> values and action. */
BPF_F_TABLE("hash", struct rblk_key, struct rule_val, rblk, RULE_SLOTS, BPF_F_NO_PREALLOC);
/* The rules LOOKUP, SELECT and AFFINITY blocks reach: slot -> values and action. */
BPF_F_TABLE("hash", __u32, struct rule_val, rdata, RULE_SLOTS, BPF_F_NO_PREALLOC);
/* SELECT and AFFINITY blocks: (program, block, member) -> member count; members by index. */
BPF_F_TABLE("hash", struct rblk_key, struct sel_head, selh, RULE_SLOTS, BPF_F_NO_PREALLOC);
BPF_F_TABLE("hash", struct sel_key, struct sel_member, selm, RULE_SLOTS, BPF_F_NO_PREALLOC);
/* Built-in chains' policies: program -> ACT_ACCEPT or ACT_DROP. */
BPF_TABLE("array", __u32, __u32, policy, PROGS_MAX);
/* Counters per rule slot, then per built-in chain policy (RULE_SLOTS + program). */
BPF_TABLE("percpu_array", __u32, struct rule_ctr, ctr, RULE_SLOTS + PROGS_MAX);
/* The namespace's own addresses (addrtype LOCAL), and each interface's primary address
 * (MASQUERADE, REDIRECT); the agent keeps both up to date. */
BPF_TABLE("hash", __be32, __u32, localad, LOCAL_ADDRS);
BPF_TABLE("hash", __u32, __be32, ifaddr, LOCAL_ADDRS);
/* recent lists survive recompiles, like connections. */
BPFT_TABLE("lru_hash", struct recent_key, __u64, recent, RECENT_MAX_ENTRIES);

static __always_inline struct chain_state *chain_state_of(struct pkt_state *st)
{
	return (struct chain_state *)st->spare;
}

static __always_inline struct pkt_state *pkt_state_get(void)
{
	__u32 zero = 0;

	return pkt_scratch.lookup(&zero);
}

/* Tail-call program `prog`; returning from here means it was not there. */
static __always_inline int prog_call(struct __sk_buff *skb, struct pkt_state *st, __u32 prog)
{
	progs.call(skb, prog);
	return drop_packet(st, DROP_TAILCALL);
}

/* The table said ACCEPT (a verdict, a policy, or a NAT binding): the next hook. */
static __always_inline int stage_done(struct __sk_buff *skb, struct pkt_state *st)
{
	return prog_call(skb, st, PROG_PIPELINE);
}

/* A stage's built-in chain: its first segment's slot, and the one running its policy. */
static __always_inline int chain_enter(struct __sk_buff *skb, struct pkt_state *st, __u16 prog,
				       __u16 policy_prog)
{
	struct chain_state *cs = chain_state_of(st);

	cs->builtin = policy_prog;
	cs->depth = 0;
	cs->cur.prog = prog;
	cs->cur.block = 0;
	cs->cur.cand = 0;
	cs->cur.member = 0;
	return prog_call(skb, st, prog);
}

/* -j CHAIN: remember where to come back (this program, block, candidate, member). */
static __always_inline int chain_jump(struct __sk_buff *skb, struct pkt_state *st, __u16 self,
				      __u16 block, __u16 cand, __u32 member,
				      const struct rule_act *act)
{
	struct chain_state *cs = chain_state_of(st);
	__u32 depth = cs->depth;

	if (depth >= STACK_DEPTH)
		return drop_packet(st, DROP_STACK);
	depth &= STACK_DEPTH - 1; /* for the verifier: the check above already holds */
	cs->stack[depth].prog = self;
	cs->stack[depth].block = block;
	cs->stack[depth].cand = cand;
	cs->stack[depth].member = member;
	cs->depth = depth + 1;
	cs->cur.prog = act->prog;
	cs->cur.block = 0;
	cs->cur.cand = 0;
	cs->cur.member = act->member;
	return prog_call(skb, st, act->prog);
}

/* -g CHAIN: the target replaces the current chain; its end returns to our caller. */
static __always_inline int chain_goto(struct __sk_buff *skb, struct pkt_state *st,
				      const struct rule_act *act)
{
	struct chain_state *cs = chain_state_of(st);

	cs->cur.prog = act->prog;
	cs->cur.block = 0;
	cs->cur.cand = 0;
	cs->cur.member = act->member;
	return prog_call(skb, st, act->prog);
}

/* The end of a user chain, or RETURN in one: back to the caller, or (after a goto from the
 * built-in chain) to the built-in chain's policy. */
static __always_inline int chain_return(struct __sk_buff *skb, struct pkt_state *st)
{
	struct chain_state *cs = chain_state_of(st);
	__u32 depth = cs->depth;

	if (depth == 0 || depth > STACK_DEPTH) {
		cs->cur.prog = cs->builtin;
		cs->cur.block = BLOCK_POLICY;
		cs->cur.cand = 0;
		cs->cur.member = 0;
		return prog_call(skb, st, cs->builtin);
	}
	depth = (depth - 1) & (STACK_DEPTH - 1);
	cs->depth = depth;
	cs->cur = cs->stack[depth];
	return prog_call(skb, st, cs->cur.prog);
}

/* A built-in chain's policy, counted like a rule (slot RULE_SLOTS + program): 1 when it is
 * DROP (the drop counted), 0 for ACCEPT. */
static __always_inline int policy_drops(struct pkt_state *st, __u32 prog)
{
	__u32 slot = RULE_SLOTS + prog;
	struct rule_ctr *count = ctr.lookup(&slot);
	__u32 *verdict = policy.lookup(&prog);

	if (count) {
		count->packets += 1;
		count->bytes += st->pkt.tot_len;
	}
	if (verdict && *verdict == ACT_DROP) {
		drop_packet(st, DROP_POLICY);
		return 1;
	}
	return 0;
}

static __always_inline int chain_policy(struct __sk_buff *skb, struct pkt_state *st, __u32 prog)
{
	return policy_drops(st, prog) ? TC_ACT_SHOT : stage_done(skb, st);
}

static __always_inline void rule_count(struct pkt_state *st, const struct rule_val *rv)
{
	__u32 slot = rv->slot;
	struct rule_ctr *count = ctr.lookup(&slot);

	if (count) {
		count->packets += 1;
		count->bytes += st->pkt.tot_len;
	}
}

/* --- matchers: each returns 0 or 1, so a rule's test is one AND of them --- */

static __always_inline int m_port_range(const struct pkt_info *pkt, __u16 port, __u16 lo,
					__u16 hi)
{
	return (pkt->flags & PKT_F_PORTS) != 0 && port >= lo && port <= hi;
}

/* -m multiport: `which` 1 source, 2 destination, 3 either. */
static __always_inline int m_multiport(const struct pkt_info *pkt, const struct rule_val *rv,
				       int which)
{
	int hit = 0;

	if (!(pkt->flags & PKT_F_PORTS))
		return 0;
#pragma unroll
	for (int i = 0; i < MULTIPORT_MAX; i++) {
		__u16 lo = rv->multiport[i][0], hi = rv->multiport[i][1];
		int in = i < rv->multiport_n;

		if ((which & 1) && in && pkt->sport >= lo && pkt->sport <= hi)
			hit = 1;
		if ((which & 2) && in && pkt->dport >= lo && pkt->dport <= hi)
			hit = 1;
	}
	return hit;
}

static __always_inline int m_tcp_flags(const struct pkt_info *pkt, const struct rule_val *rv)
{
	return (pkt->flags & PKT_F_L4) != 0 && (pkt->tcp_flags & rv->tcp_mask) == rv->tcp_cmp;
}

static __always_inline int m_icmp(const struct pkt_info *pkt, const struct rule_val *rv)
{
	if (!(pkt->flags & PKT_F_L4))
		return 0;
	if (rv->flags & RV_F_ICMP_ANY_TYPE)
		return 1;
	return pkt->icmp_type == rv->icmp_type && pkt->icmp_code >= rv->icmp_code_lo &&
	       pkt->icmp_code <= rv->icmp_code_hi;
}

static __always_inline int m_local(__be32 addr)
{
	return localad.lookup(&addr) != NULL;
}

static __always_inline int m_random(const struct rule_val *rv)
{
	return (bpf_get_prandom_u32() & 0x7fffffff) < rv->probability;
}

static __always_inline __be32 recent_addr(const struct pkt_info *pkt, const struct rule_val *rv)
{
	return ((rv->flags & RV_F_SRC_SIDE) ? pkt->saddr : pkt->daddr) & rv->recent_mask;
}

/* recent --rcheck [--seconds S]: the address is on the list (and was seen within S). */
static __always_inline int m_recent_check(struct pkt_state *st, const struct rule_val *rv)
{
	struct recent_key key = {.list = rv->recent_list, .addr = recent_addr(&st->pkt, rv)};
	__u64 *seen = recent.lookup(&key);

	if (!seen)
		return 0;
	return !rv->recent_seconds ||
	       st->now_ns - *seen <= (__u64)rv->recent_seconds * BPFT_NSEC_PER_SEC;
}

/* recent --set: put the address on the list (always matches). */
static __always_inline int m_recent_set(struct pkt_state *st, const struct rule_val *rv)
{
	struct recent_key key = {.list = rv->recent_list, .addr = recent_addr(&st->pkt, rv)};
	__u64 now = st->now_ns;

	recent.update(&key, &now);
	return 1;
}

/* --- actions --- */

static __always_inline void act_mark(struct __sk_buff *skb, struct pkt_state *st,
				     const struct rule_act *act)
{
	st->pkt.mark = (st->pkt.mark & ~act->mask) ^ act->val;
	skb->mark = st->pkt.mark;
}

static __always_inline void act_connmark(struct pkt_state *st, const struct rule_act *act)
{
	st->ct.mark = (st->ct.mark & ~act->mask) ^ act->val;
}

/* DNAT, SNAT, MASQUERADE, REDIRECT: bind the new connection, rewrite, the table accepts. */
static __always_inline int act_nat(struct __sk_buff *skb, struct pkt_state *st,
				   const struct rule_act *act)
{
	struct nat_range range = act->nat;
	struct flow4 to;

	if (act->kind == ACT_MASQUERADE || act->kind == ACT_REDIRECT) {
		__u32 ifindex = act->kind == ACT_MASQUERADE ? st->pkt.out_ifindex :
							       st->pkt.in_ifindex;
		__be32 *addr = ifaddr.lookup(&ifindex);

		if (act->kind == ACT_REDIRECT && ifindex == 0) {
			range.min_addr = bpf_htonl(0x7f000001); /* from OUTPUT: 127.0.0.1 */
		} else {
			if (!addr)
				return drop_packet(st, DROP_NO_ADDRESS);
			range.min_addr = *addr;
		}
		range.max_addr = range.min_addr;
	}
	if (nat_bind4(st, &range, &to) < 0)
		return drop_packet(st, DROP_NAT_NO_TUPLE);
	if (nat_rewrite4(skb, st, &to) < 0)
		return drop_packet(st, DROP_REWRITE);
	return stage_done(skb, st);
}

#include "reject.h"

#endif /* BPFT_CHAINS_H */
