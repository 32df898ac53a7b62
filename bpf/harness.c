/* The test harness: a tc program standing in for the generated rule code, to prove the C
 * library (bpf/include) against the reference model packet by packet (tests/datapath).
 *
 * parse -> "raw" (NOTRACK of one UDP port) -> conntrack -> "PREROUTING": a known flow gets
 * its destination manip, a new one the first matching DNAT rule of harness_cfg (or the
 * identity) -> "POSTROUTING": a known flow gets its source manip, a new one the first
 * matching SNAT rule (or the null binding) -> confirm -> TC_ACT_OK (TC_ACT_SHOT and a
 * drop_count reason for INVALID with HCFG_DROP_INVALID, no free NAT tuple, failed rewrites).
 * It does the source manip at ingress without redirecting: on a real node the kernel would
 * route the packet afterwards (see tests/datapath/test_veth.py). No FIB: a packet to one of harness_cfg.local takes the INPUT path (no
 * SNAT rules, the null binding), every other one counts as forwarded. */
#include "datapath.h"

/* The harness's rules and switches (struct harness_cfg, index 0). */
BPF_ARRAY(harness_cfg, struct harness_cfg, 1);

/* The first enabled rule that matches: protocol, address under mask (DNAT: destination,
 * SNAT: source), destination port. */
static __always_inline const struct harness_rule *
harness_match(const struct harness_rule *rules, const struct pkt_info *pkt, int dnat)
{
#pragma unroll
	for (int i = 0; i < HARNESS_RULES; i++) {
		const struct harness_rule *rule = &rules[i];
		__be32 addr = dnat ? pkt->daddr : pkt->saddr;

		if (!rule->enabled || (addr & rule->match_mask) != rule->match_addr)
			continue;
		if (rule->match_proto && rule->match_proto != pkt->protocol)
			continue;
		if (rule->match_dport &&
		    (!(pkt->flags & PKT_F_PORTS) || rule->match_dport != pkt->dport))
			continue;
		return rule;
	}
	return NULL;
}

/* A new flow's binding at one nat hook: the matching rule's range, else the identity
 * (destination) or the null binding (source: keeps the tuple unique). */
static __always_inline int harness_bind(struct __sk_buff *skb, struct pkt_state *st,
					const struct harness_cfg *cfg, int dnat)
{
	const struct harness_rule *rule = NULL;
	struct nat_range null_range = {};
	const struct nat_range *range;
	struct flow4 to;

	if (dnat || (st->pkt.daddr != cfg->local[0] && st->pkt.daddr != cfg->local[1]))
		rule = harness_match(dnat ? cfg->dnat : cfg->snat, &st->pkt, dnat);
	if (rule) {
		range = &rule->to;
	} else if (dnat) {
		st->ct.flags |= CTI_DNAT_DONE;
		return 0;
	} else {
		null_range.kind = NAT_KIND_SNAT;
		null_range.min_addr = st->pkt.saddr;
		null_range.max_addr = st->pkt.saddr;
		range = &null_range;
	}
	if (nat_bind4(st, range, &to) < 0)
		return DROP_NAT_NO_TUPLE;
	if (nat_rewrite4(skb, st, &to) < 0)
		return DROP_REWRITE;
	return 0;
}

static __always_inline int harness_verdict(struct pkt_state *st, const struct frag_key *fkey,
					   __u32 reason)
{
	int verdict = reason ? drop_packet(st, reason) : TC_ACT_OK;

	if (st->pkt.flags & PKT_F_FRAG_FIRST)
		frag_remember4(fkey, st, verdict);
	return verdict;
}

static __always_inline int harness_process(struct __sk_buff *skb, struct pkt_state *st,
					   const struct harness_cfg *cfg)
{
	struct frag_key fkey = {};
	struct ct_entry *entry;
	int reason;

	if (st->pkt.flags & PKT_F_FRAG_LATER)
		return frag_follow4(skb, st);
	frag_key4(&st->pkt, &fkey); /* used for first fragments only */

	/* "raw PREROUTING" */
	if (cfg->notrack_udp_dport && st->pkt.protocol == IPPROTO_UDP &&
	    (st->pkt.flags & PKT_F_PORTS) && st->pkt.dport == cfg->notrack_udp_dport)
		st->ct.flags |= CTI_NOTRACK;
	entry = ct_lookup4(st);
	if (entry) {
		/* a known connection (or an ICMP error about one): its stored translation at the
		 * end of "PREROUTING", then of "POSTROUTING" */
		if (nat_existing4(skb, st, 1) < 0 || nat_existing4(skb, st, 0) < 0)
			return harness_verdict(st, &fkey, DROP_REWRITE);
		if (!(cfg->flags & HCFG_NO_CONFIRM))
			ct_confirm4(st, entry);
		return harness_verdict(st, &fkey, 0);
	}
	if (!(st->ct.flags & CTI_NEW)) {
		/* INVALID or UNTRACKED: no NAT, nothing to confirm */
		if ((st->ct.state & CT_STATE_INVALID) && (cfg->flags & HCFG_DROP_INVALID))
			return harness_verdict(st, &fkey, DROP_INVALID);
		return harness_verdict(st, &fkey, 0);
	}
	/* a new connection: the nat rules bind it, the destination first */
	reason = harness_bind(skb, st, cfg, 1);
	if (!reason)
		reason = harness_bind(skb, st, cfg, 0);
	if (reason)
		return harness_verdict(st, &fkey, reason);
	if (!(cfg->flags & HCFG_NO_CONFIRM)) {
		if (ct_confirm4(st, NULL) < 0)
			return harness_verdict(st, &fkey, DROP_NAT_NO_TUPLE);
		if (cfg->flags & HCFG_FORGET) {
			ct_map.delete(&st->ct.orig);
			if (st->ct.state & (CT_STATE_SNAT | CT_STATE_DNAT))
				ct_map.delete(&st->ct.reply);
		}
	}
	return harness_verdict(st, &fkey, 0);
}

int harness(struct __sk_buff *skb)
{
	__u32 zero = 0;
	struct pkt_state *st = pkt_scratch.lookup(&zero);
	struct harness_cfg *cfg = harness_cfg.lookup(&zero);
	struct flow4 own;

	if (!st || !cfg)
		return drop_packet(NULL, DROP_SCRATCH);
	pkt_state_reset(st);
	int parsed = parse_ipv4(skb, &st->pkt);
	if (parsed == PARSE_NOT_IPV4)
		return TC_ACT_OK;
	if (parsed != PARSE_OK)
		return drop_packet(st, DROP_MALFORMED);
	st->now_ns = bpf_ktime_get_ns() + cfg->clock_offset_ns;
	pkt_flow4(&st->pkt, &own);
	int verdict = harness_process(skb, st, cfg);
	if ((cfg->flags & HCFG_UNDO) && !(st->pkt.flags & PKT_F_ICMP_ERROR))
		nat_rewrite4(skb, st, &own);
	return verdict;
}

/* The smallest tc program: the floor of BPF_PROG_TEST_RUN's own cost. */
int empty(struct __sk_buff *skb)
{
	return TC_ACT_OK;
}
