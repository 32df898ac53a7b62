/* The fixed part of the pipeline (bpf/codegen.py writes the rest): the null SNAT binding,
 * routing, forwarding, and the tc entry programs. Needs enum stage (generated) first. */
#ifndef BPFT_PIPELINE_H
#define BPFT_PIPELINE_H

/* bcc 0.26 declares bpf_redirect_neigh without its `plen` argument; the kernel's has it. */
static long (*redirect_neigh4)(__u32 ifindex, void *params, int plen, __u64 flags) =
	(void *)BPF_FUNC_redirect_neigh;

/* The null binding of a new connection no nat rule bound (nf_nat's alloc_null_binding):
 * keeps its reply tuple unique against connections already translated onto it. */
static __always_inline int snat_null4(struct __sk_buff *skb, struct pkt_state *st)
{
	struct nat_range range = {};
	struct flow4 to;

	range.kind = NAT_KIND_SNAT;
	range.min_addr = st->pkt.saddr;
	range.max_addr = st->pkt.saddr;
	if (nat_bind4(st, &range, &to) < 0)
		return -1;
	return nat_rewrite4(skb, st, &to);
}

/* The FIB's answer for the packet as if it came in by `ifindex` (an ingress lookup). */
static __always_inline int fib_lookup4(struct __sk_buff *skb, struct pkt_state *st,
				       struct bpf_fib_lookup *fib, __u32 ifindex)
{
	fib->family = 2; /* AF_INET */
	fib->ipv4_src = st->pkt.saddr;
	fib->ipv4_dst = st->pkt.daddr;
	fib->tos = st->pkt.tos;
	fib->l4_protocol = st->pkt.protocol;
	/* tot_len stays 0: the kernel then checks the skb against the egress MTU itself, which
	 * knows a GSO packet (a 64 KB TCP burst from a veth) leaves as MTU-sized segments; with
	 * the IP header's length it would answer FRAG_NEEDED and the burst would skip FORWARD
	 * and POSTROUTING (its MASQUERADE, its DROPs) on the kernel's own path */
	fib->ifindex = ifindex;
	return bpf_fib_lookup(skb, fib, sizeof(*fib), 0);
}

/* Routing after PREROUTING: 1 for a packet to this host (INPUT), 0 to forward (FORWARD and
 * POSTROUTING; out_ifindex is the FIB's egress interface, the next hop's MACs are kept for
 * forward_packet), -1 to leave to the kernel (TTL running out, no route, MTU): it answers or
 * drops such packets before its FORWARD hook too. */
static __always_inline int route_local(struct __sk_buff *skb, struct pkt_state *st)
{
	struct chain_state *cs = chain_state_of(st);
	struct bpf_fib_lookup fib = {};
	int rc;

	if (m_local(st->pkt.daddr))
		return 1;
	rc = fib_lookup4(skb, st, &fib, st->pkt.in_ifindex);
	if (rc == BPF_FIB_LKUP_RET_NOT_FWDED)
		return 1;
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH)
		return -1;
	if (st->pkt.ttl <= 1)
		return -1;
	st->pkt.out_ifindex = fib.ifindex;
	cs->neigh = rc == BPF_FIB_LKUP_RET_SUCCESS;
	__builtin_memcpy(cs->smac, fib.smac, 6);
	__builtin_memcpy(cs->dmac, fib.dmac, 6);
	return 0;
}

/* A forwarded packet that passed every hook leaves by its FIB interface from here: the
 * kernel's own forwarding would see a source NATed to one of this host's addresses as a
 * martian. As the kernel does: TTL minus one (and the IP checksum), the next hop's MACs. */
static __always_inline int forward_packet(struct __sk_buff *skb, struct pkt_state *st)
{
	struct chain_state *cs = chain_state_of(st);
	__u32 ttl_off = st->pkt.l3_off + offsetof(struct iphdr, ttl);
	__u8 ttl = st->pkt.ttl - 1;
	__be16 old_word, new_word;

	if (bpf_skb_load_bytes(skb, ttl_off, &old_word, 2) < 0)
		return drop_packet(st, DROP_REWRITE);
	new_word = old_word;
	*(__u8 *)&new_word = ttl;
	if (bpf_l3_csum_replace(skb, st->pkt.l3_off + offsetof(struct iphdr, check), old_word,
				new_word, 2) < 0 ||
	    bpf_skb_store_bytes(skb, ttl_off, &new_word, 2, 0) < 0)
		return drop_packet(st, DROP_REWRITE);
	if (!cs->neigh)
		return redirect_neigh4(st->pkt.out_ifindex, NULL, 0, 0);
	if (bpf_skb_store_bytes(skb, 0, cs->dmac, 6, 0) < 0 ||
	    bpf_skb_store_bytes(skb, 6, cs->smac, 6, 0) < 0)
		return drop_packet(st, DROP_REWRITE);
	return bpf_redirect(st->pkt.out_ifindex, 0);
}

/* A packet this host sends whose destination nat OUTPUT changed (the original direction of a
 * DNATed connection) is routed again, as ip_route_me_harder does: out of the interface the FIB
 * now names, to its next hop. (To a local address it stays as the kernel routed it.) */
/* skb->tc_index of a packet reroute_output sent to another interface: that interface's tc
 * egress lets it go (its hooks ran). tc_index serves the dsmark qdisc only. */
#define BPFT_REROUTED 0xbf7
#define LOOPBACK_IFINDEX 1 /* lo is the first device of every network namespace */

static __always_inline int reroute_output(struct __sk_buff *skb, struct pkt_state *st)
{
	struct bpf_fib_lookup fib = {};
	int rc;

	if ((st->ct.flags & CTI_REPLY) || !(st->ct.state & CT_STATE_DNAT))
		return TC_ACT_OK;
	/* an output lookup would be bound to this interface (flowi4_oif): ask as if the packet
	 * came in by the loopback device, whatever interface it would leave by */
	rc = fib_lookup4(skb, st, &fib, LOOPBACK_IFINDEX);
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH) {
		if (fib.ifindex != skb->ifindex)
			skb->tc_index = BPFT_REROUTED;
		return redirect_neigh4(fib.ifindex, NULL, 0, 0);
	}
	if (rc != BPF_FIB_LKUP_RET_SUCCESS)
		return TC_ACT_OK;
	if (bpf_skb_store_bytes(skb, 0, fib.dmac, 6, 0) < 0 ||
	    bpf_skb_store_bytes(skb, 6, fib.smac, 6, 0) < 0)
		return drop_packet(st, DROP_REWRITE);
	if (fib.ifindex == skb->ifindex)
		return TC_ACT_OK;
	skb->tc_index = BPFT_REROUTED;
	return bpf_redirect(fib.ifindex, 0);
}

/* raw PREROUTING ran at XDP (BPFT_XDP_RAW): what it let through carries this in front of the
 * packet (XDP metadata), so tc goes on after that table. */
#define BPFT_META_SEEN 0x62707466 /* "bptf" */
#define BPFT_META_NOTRACK 0x1
struct xdp_note {
	__u32 seen;
	__u32 flags;
};

static __always_inline int xdp_done(struct xdp_md *ctx, struct pkt_state *st)
{
	if (bpf_xdp_adjust_meta(ctx, -(int)sizeof(struct xdp_note)) < 0)
		return XDP_PASS; /* no note: tc runs the table again */
	void *data = (void *)(long)ctx->data;
	struct xdp_note *note = (void *)(long)ctx->data_meta;

	if ((void *)(note + 1) > data)
		return XDP_PASS;
	note->seen = BPFT_META_SEEN;
	note->flags = (st->ct.flags & CTI_NOTRACK) ? BPFT_META_NOTRACK : 0;
	return XDP_PASS;
}

/* tc's first stage: after raw PREROUTING when XDP ran it (and kept its NOTRACK). */
static __always_inline __u8 ingress_stage(struct __sk_buff *skb, struct pkt_state *st)
{
#if BPFT_XDP_RAW
	void *data = (void *)(long)skb->data;
	struct xdp_note *note = (void *)(long)skb->data_meta;

	if ((void *)(note + 1) <= data && note->seen == BPFT_META_SEEN) {
		if (note->flags & BPFT_META_NOTRACK)
			st->ct.flags |= CTI_NOTRACK;
		return ST_CT;
	}
#endif
	return ST_RAW_PRE;
}

/* The start of both entry programs: parse, the clock, and the stage to begin with; 1 when
 * the packet is not ours (not IPv4) or follows its first fragment, -1 to drop it. */
static __always_inline int entry_start(struct __sk_buff *skb, struct pkt_state *st)
{
	pkt_state_reset(st);
	int parsed = parse_ipv4(skb, &st->pkt);
	if (parsed == PARSE_NOT_IPV4)
		return 1;
	if (parsed != PARSE_OK) {
		drop_packet(st, DROP_MALFORMED);
		return -1;
	}
	st->now_ns = bpf_ktime_get_ns();
	return 0;
}

static __always_inline int entry_run(struct __sk_buff *skb, struct pkt_state *st, __u8 stage)
{
	if (st->pkt.flags & PKT_F_FRAG_LATER)
		return frag_follow4(skb, st);
	chain_state_of(st)->stage = stage;
	return stage_done(skb, st);
}

/* tc ingress of every interface: PREROUTING, then INPUT or FORWARD and POSTROUTING. */
int tc_ingress(struct __sk_buff *skb)
{
	struct pkt_state *st = pkt_state_get();
	if (!st)
		return TC_ACT_SHOT;
	int started = entry_start(skb, st);
	if (started)
		return started > 0 ? TC_ACT_OK : TC_ACT_SHOT;
	st->pkt.in_ifindex = skb->ingress_ifindex ? skb->ingress_ifindex : skb->ifindex;
	return entry_run(skb, st, ingress_stage(skb, st));
}

/* tc egress: packets this host sends (OUTPUT, POSTROUTING); forwarded ones were judged at
 * their ingress. */
int tc_egress(struct __sk_buff *skb)
{
	if (skb->ingress_ifindex)
		return TC_ACT_OK;
	if (skb->tc_index == BPFT_REROUTED) {
		skb->tc_index = 0;
		return TC_ACT_OK;
	}
	struct pkt_state *st = pkt_state_get();
	if (!st)
		return TC_ACT_SHOT;
	int started = entry_start(skb, st);
	if (started)
		return started > 0 ? TC_ACT_OK : TC_ACT_SHOT;
	st->pkt.out_ifindex = skb->ifindex;
	return entry_run(skb, st, ST_RAW_OUT);
}

#endif /* BPFT_PIPELINE_H */
