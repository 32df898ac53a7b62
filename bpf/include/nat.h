/* NAT: choosing a connection's binding on its first packet (nf_nat_setup_info, the model's
 * translate) and rewriting packets to it (nf_nat_manip_pkt, nf_nat_icmp_reply_translation).
 *
 * Destination manip (DNAT, REDIRECT) happens where PREROUTING/OUTPUT end, source manip (SNAT,
 * MASQUERADE, and the null binding of an un-NATed flow) where POSTROUTING/INPUT end. */
#ifndef BPFT_NAT_H
#define BPFT_NAT_H

/* The range the kernel searches when it must move a port and no range was given. */
static __always_inline void nat_port_class(__u16 port, __u32 *low, __u32 *high)
{
	if (port < 512) {
		*low = 1;
		*high = 511;
	} else if (port < 1024) {
		*low = 600;
		*high = 1023;
	} else {
		*low = 1024;
		*high = 65535;
	}
}

/* `cur` with one end replaced (the model's _with_end): DNAT sets the destination address and
 * port, SNAT the source; an ICMP query's id is the "port" of both ends. */
static __always_inline void nat_with_end4(const struct flow4 *cur, int dnat, __be32 addr,
					  __u16 port, struct flow4 *out)
{
	*out = *cur;
	if (cur->proto == IPPROTO_ICMP) {
		out->sport = port;
		if (dnat)
			out->daddr = addr;
		else
			out->saddr = addr;
	} else if (dnat) {
		out->daddr = addr;
		out->dport = port;
	} else {
		out->saddr = addr;
		out->sport = port;
	}
}

/* Whether some live connection already expects `cand`'s reply tuple. */
static __always_inline int nat_reply_taken4(const struct flow4 *cand, __u64 now)
{
	struct flow4 reply, orig;
	int dir;

	flow4_inverse(cand, &reply);
	return ct_find4(&reply, now, &orig, &dir) != NULL;
}

/* Record the binding in st->ct: the new reply tuple, the status bit, the hook's "done". */
static __always_inline void nat_bound4(struct pkt_state *st, const struct flow4 *cur,
				       const struct flow4 *out, int dnat)
{
	flow4_inverse(out, &st->ct.reply);
	st->ct.flags |= dnat ? CTI_DNAT_DONE : CTI_SNAT_DONE;
	if (!flow4_eq(out, cur))
		st->ct.state |= dnat ? CT_STATE_DNAT : CT_STATE_SNAT;
}

/* The port search over st->nat (see nat_bind4): *out = the first candidate whose reply
 * tuple is free. Returns 0, or -1 when none of the tried ones is. */
static __always_inline int nat_search4(struct pkt_state *st, struct flow4 *out)
{
	struct nat_search *search = &st->nat;

#pragma nounroll
	for (__u32 i = 0; i < NAT_PORT_TRIES + 1; i++) {
		__u32 keep = search->keep_first, size = search->size;
		struct flow4 cand = search->cand;
		if (i >= size + keep)
			break;
		if (i >= keep) {
			__u32 offset = search->start + i - keep;
			if (offset >= size)
				offset -= size;
			__u16 port = (__u16)(search->low + offset);
			if (search->dport)
				cand.dport = port;
			else
				cand.sport = port;
		}
		if (!nat_reply_taken4(&cand, st->now_ns)) {
			*out = cand;
			return 0;
		}
	}
	return -1;
}

/* The second half of nat_bind4, reading only st (map memory): the verifier meets the same
 * state here whichever way the first half went, and checks the search once. */
static __always_inline int nat_bind_finish4(struct pkt_state *st, struct flow4 *out)
{
	struct nat_search *search = &st->nat;
	struct flow4 cur;
	int dnat = search->kind == NAT_KIND_DNAT;

	if (!search->search) {
		*out = search->cand;
	} else if (nat_search4(st, out) < 0) {
		if (!dnat)
			return -1;
		*out = search->cand; /* a DNAT keeps a taken tuple: the source side moves then */
		if (search->dport)
			out->dport = (__u16)search->low;
		else
			out->sport = (__u16)search->low;
	}
	pkt_flow4(&st->pkt, &cur);
	nat_bound4(st, &cur, out, dnat);
	return 0;
}

/* nat_bind4: the binding of a new connection's packet for `range` (the model's translate):
 * address min_addr; keep the port when it is in range and the resulting reply tuple is free
 * (never with --random-fully); a DNAT without ports never moves the port; else the first free
 * port of the range (of the port's class when none was given; ICMP: any id), starting at a
 * random offset with --random-fully, at most NAT_PORT_TRIES candidates; a DNAT with no free
 * port keeps the range's first one (the source side moves then). Sets *out to the translated
 * tuple and st->ct (reply tuple, DNAT/SNAT status, done flag); the caller rewrites the packet
 * with nat_rewrite4. Returns 0, or -1 when no tuple is free (drop: DROP_NAT_NO_TUPLE). */
static __always_inline int nat_bind4(struct pkt_state *st, const struct nat_range *range,
				     struct flow4 *out)
{
	struct nat_search *search = &st->nat;
	struct flow4 cur;
	int dnat = range->kind == NAT_KIND_DNAT;
	int has_range = (range->flags & NAT_F_PORTS) != 0;
	__u32 low, high;
	__u16 port;

	pkt_flow4(&st->pkt, &cur);
	int icmp = cur.proto == IPPROTO_ICMP;
	port = (dnat && !icmp) ? cur.dport : cur.sport;
	if (icmp) {
		low = 0;
		high = 65535;
	} else if (has_range) {
		low = range->min_port;
		high = range->max_port;
	} else {
		nat_port_class(port, &low, &high);
	}
	nat_with_end4(&cur, dnat, range->min_addr, port, &search->cand);
	search->low = low;
	search->size = high >= low ? high - low + 1 : 1;
	search->start = (range->flags & NAT_F_RANDOM_FULLY) ?
				bpf_get_prandom_u32() % search->size : 0;
	search->keep_first = (!has_range || (port >= low && port <= high)) &&
			     !(range->flags & NAT_F_RANDOM_FULLY);
	search->dport = dnat && !icmp;
	search->kind = range->kind;
	/* nothing to move without ports; a DNAT without ports keeps even a taken tuple */
	search->search = !((!icmp && !(st->pkt.flags & PKT_F_PORTS)) ||
			   (dnat && !has_range && !icmp));
	asm volatile("" ::: "memory"); /* the second half reads st->nat back from the map */
	return nat_bind_finish4(st, out);
}

/* nat_rewrite4: rewrite the packet (not an ICMP error) so its tuple becomes `to`: addresses
 * with the IP checksum and the TCP/UDP pseudo header, ports (TCP/UDP) or an ICMP query's id
 * with the L4 checksum. A later fragment gets its addresses only. Updates st->pkt. Returns 0,
 * or -1 when a helper failed or a port would need an SCTP CRC (drop: DROP_REWRITE). */
static __always_inline int nat_rewrite4(struct __sk_buff *skb, struct pkt_state *st,
					const struct flow4 *to)
{
	struct pkt_info *pkt = &st->pkt;

	if (csum_set_addr4(skb, pkt, 1, to->saddr) < 0 ||
	    csum_set_addr4(skb, pkt, 0, to->daddr) < 0)
		return -1;
	if (pkt->flags & PKT_F_FRAG_LATER)
		return 0;
	if (pkt->protocol == IPPROTO_ICMP) {
		if ((pkt->flags & PKT_F_L4) && icmp_has_id(pkt->icmp_type))
			return csum_set_icmp_id4(skb, pkt, to->sport);
		return 0;
	}
	if (!(pkt->flags & PKT_F_PORTS))
		return 0;
	if (csum_set_port4(skb, pkt, 1, to->sport) < 0 || csum_set_port4(skb, pkt, 0, to->dport) < 0)
		return -1;
	return 0;
}

/* The connection's NAT changes this end of packets going this way (the model's _translated):
 * the destination of original packets is DNATed, of replies un-SNATed; the source likewise. */
static __always_inline int nat_translated4(const struct ct_info *ct, int destination)
{
	int reply = (ct->flags & CTI_REPLY) != 0;
	__u16 wanted = (destination == reply) ? CT_STATE_SNAT : CT_STATE_DNAT;

	return (ct->state & wanted) != 0;
}

/* nat_existing4: apply a known connection's binding to a later packet, or undo it on a reply
 * (the model's _nat_existing): `destination` for the manip at the end of PREROUTING/OUTPUT,
 * else the source manip at POSTROUTING/INPUT. An ICMP error about the connection gets its
 * quoted header put back to what that side sent, and its outer address translated where the
 * connection is. New, INVALID and UNTRACKED packets are left alone. Returns 0 or -1 (drop:
 * DROP_REWRITE). */
static __always_inline int nat_existing4(struct __sk_buff *skb, struct pkt_state *st,
					 int destination)
{
	struct ct_info *ct = &st->ct;
	struct pkt_info *pkt = &st->pkt;
	int reply = (ct->flags & CTI_REPLY) != 0;
	const struct flow4 *peer = reply ? &ct->orig : &ct->reply;
	struct flow4 to;
	__be32 addr;
	__u16 port;

	if (!(ct->flags & CTI_TRACKED) || (ct->flags & CTI_NEW))
		return 0;
	if (ct->flags & CTI_RELATED) {
		/* the quote: as the other side sent it (original tuple for errors travelling as
		 * replies, the reply tuple for errors travelling as originals) */
		if (csum_set_inner4(skb, pkt, peer) < 0)
			return -1;
		if (!nat_translated4(ct, destination))
			return 0;
		if (destination)
			return csum_set_addr4(skb, pkt, 0, peer->saddr);
		return csum_set_addr4(skb, pkt, 1, peer->daddr);
	}
	/* destination: the peer tuple's source end; source: its destination end (an ICMP query's
	 * "port" is its id on both ends) */
	pkt_flow4(pkt, &to);
	addr = destination ? peer->saddr : peer->daddr;
	port = (destination || pkt->protocol == IPPROTO_ICMP) ? peer->sport : peer->dport;
	if (destination) {
		to.daddr = addr;
		if (pkt->protocol == IPPROTO_ICMP)
			to.sport = port;
		else
			to.dport = port;
	} else {
		to.saddr = addr;
		to.sport = port;
	}
	if (!(pkt->flags & PKT_F_PORTS) && pkt->protocol != IPPROTO_ICMP) {
		to.sport = 0; /* addresses only */
		to.dport = 0;
	}
	return nat_rewrite4(skb, st, &to);
}

#endif /* BPFT_NAT_H */
