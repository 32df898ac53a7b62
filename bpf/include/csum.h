/* Rewriting header fields with their checksums kept right (incremental updates through
 * bpf_l3_csum_replace / bpf_l4_csum_replace; no pointer into the packet survives these
 * helpers, so everything here works on offsets). Each returns 0, or <0 when a helper failed. */
#ifndef BPFT_CSUM_H
#define BPFT_CSUM_H

#define IPH_CSUM_OFF 10 /* offsetof(struct iphdr, check) */
#define IPH_SADDR_OFF 12
#define IPH_DADDR_OFF 16
#define TCP_CSUM_OFF 16
#define UDP_CSUM_OFF 6
#define ICMP_CSUM_OFF 2
#define ICMP_ID_OFF 4

/* Where a protocol's checksum sits in its header, or -1 (none we maintain; SCTP's CRC32c is
 * not incremental). */
static __always_inline int l4_csum_off(__u8 proto)
{
	if (proto == IPPROTO_TCP)
		return TCP_CSUM_OFF;
	if (proto == IPPROTO_UDP)
		return UDP_CSUM_OFF;
	if (proto == IPPROTO_ICMP)
		return ICMP_CSUM_OFF;
	return -1;
}

/* bpf_l4_csum_replace flags for a field of `proto`: UDP's zero checksum ("none") stays zero
 * and a computed zero is written as 0xffff (BPF_F_MARK_MANGLED_0). */
static __always_inline __u64 l4_csum_flags(__u8 proto, int pseudo, int size)
{
	__u64 flags = size;

	if (pseudo)
		flags |= BPF_F_PSEUDO_HDR;
	if (proto == IPPROTO_UDP)
		flags |= BPF_F_MARK_MANGLED_0;
	return flags;
}

/* csum_set_addr4: the outer source (is_src) or destination address becomes `to`: the IP
 * checksum, and the TCP/UDP checksum through its pseudo header when the L4 header is in this
 * packet (not for later fragments, nor for ICMP, whose checksum has no pseudo header). */
static __always_inline int csum_set_addr4(struct __sk_buff *skb, struct pkt_info *pkt,
					  int is_src, __be32 to)
{
	__be32 from = is_src ? pkt->saddr : pkt->daddr;
	__u32 field = pkt->l3_off + (is_src ? IPH_SADDR_OFF : IPH_DADDR_OFF);

	if (from == to)
		return 0;
	if ((pkt->flags & PKT_F_L4) &&
	    (pkt->protocol == IPPROTO_TCP || pkt->protocol == IPPROTO_UDP)) {
		if (bpf_l4_csum_replace(skb, pkt->l4_off + l4_csum_off(pkt->protocol), from, to,
					l4_csum_flags(pkt->protocol, 1, sizeof(to))) < 0)
			return -1;
	}
	if (bpf_l3_csum_replace(skb, pkt->l3_off + IPH_CSUM_OFF, from, to, sizeof(to)) < 0)
		return -1;
	if (bpf_skb_store_bytes(skb, field, &to, sizeof(to), 0) < 0)
		return -1;
	if (is_src)
		pkt->saddr = to;
	else
		pkt->daddr = to;
	return 0;
}

/* csum_set_port4: a TCP/UDP source or destination port (host order) becomes `to`. */
static __always_inline int csum_set_port4(struct __sk_buff *skb, struct pkt_info *pkt,
					  int is_src, __u16 to)
{
	__u16 from = is_src ? pkt->sport : pkt->dport;
	__be16 from_be = bpf_htons(from), to_be = bpf_htons(to);
	int csum = l4_csum_off(pkt->protocol);

	if (from == to)
		return 0;
	if (csum < 0 || pkt->protocol == IPPROTO_ICMP)
		return -1; /* SCTP: its CRC32c would have to be recomputed */
	if (bpf_l4_csum_replace(skb, pkt->l4_off + csum, from_be, to_be,
				l4_csum_flags(pkt->protocol, 0, sizeof(to_be))) < 0)
		return -1;
	if (bpf_skb_store_bytes(skb, pkt->l4_off + (is_src ? 0 : 2), &to_be, sizeof(to_be), 0) < 0)
		return -1;
	if (is_src)
		pkt->sport = to;
	else
		pkt->dport = to;
	return 0;
}

/* csum_set_icmp_id4: an ICMP query's id becomes `to` (its checksum has no pseudo header). */
static __always_inline int csum_set_icmp_id4(struct __sk_buff *skb, struct pkt_info *pkt,
					     __u16 to)
{
	__be16 from_be = bpf_htons(pkt->sport), to_be = bpf_htons(to);

	if (pkt->sport == to)
		return 0;
	if (bpf_l4_csum_replace(skb, pkt->l4_off + ICMP_CSUM_OFF, from_be, to_be,
				sizeof(to_be)) < 0)
		return -1;
	if (bpf_skb_store_bytes(skb, pkt->l4_off + ICMP_ID_OFF, &to_be, sizeof(to_be), 0) < 0)
		return -1;
	pkt->sport = to;
	return 0;
}

/* Replace `size` (2 or 4) bytes at `off` inside an ICMP error's payload and mirror the change
 * into the outer ICMP checksum (at `icmp_csum`). */
static __always_inline int csum_icmp_payload_store(struct __sk_buff *skb, __u32 icmp_csum,
						   __u32 off, __u32 from, __u32 to, int size)
{
	if (from == to)
		return 0;
	if (bpf_l4_csum_replace(skb, icmp_csum, from, to, size) < 0)
		return -1;
	return bpf_skb_store_bytes(skb, off, &to, size, 0) < 0 ? -1 : 0;
}

/* Update a 16-bit checksum field at `off` inside an ICMP error's payload by (from -> to) and
 * mirror its own change into the outer ICMP checksum. `zero_stays` keeps a UDP "no checksum"
 * zero. */
static __always_inline int csum_icmp_payload_fix(struct __sk_buff *skb, __u32 icmp_csum,
						 __u32 off, __u32 from, __u32 to, int size,
						 int zero_stays)
{
	__u16 before = 0, after = 0;

	if (from == to)
		return 0;
	if (bpf_skb_load_bytes(skb, off, &before, sizeof(before)) < 0)
		return -1;
	if (zero_stays && before == 0)
		return 0;
	if (bpf_l4_csum_replace(skb, off, from, to, size | (zero_stays ? BPF_F_MARK_MANGLED_0 : 0)))
		return -1;
	if (bpf_skb_load_bytes(skb, off, &after, sizeof(after)) < 0)
		return -1;
	if (before != after && bpf_l4_csum_replace(skb, icmp_csum, before, after, 2) < 0)
		return -1;
	return 0;
}

/* csum_set_inner4: an ICMP error's quoted header becomes tuple `to` (addresses; ports, or the
 * query id of a quoted ICMP packet), keeping the quoted IP checksum, the quoted L4 checksum
 * when it is inside the quote (TCP needs 18 bytes, UDP's zero stays zero), and the outer ICMP
 * checksum right: the kernel recomputes that one whole, which an exact incremental update
 * equals. */
static __always_inline int csum_set_inner4(struct __sk_buff *skb, struct pkt_info *pkt,
					   const struct flow4 *to)
{
	__u32 icmp_csum = pkt->l4_off + ICMP_CSUM_OFF;
	__u32 l3 = pkt->inner_l3_off, l4 = pkt->inner_l4_off;
	__u8 proto = pkt->inner.proto;
	int l4csum = -1;

	if (proto == IPPROTO_TCP && pkt->inner_l4_len >= TCP_CSUM_OFF + 2)
		l4csum = TCP_CSUM_OFF;
	else if (proto == IPPROTO_UDP)
		l4csum = UDP_CSUM_OFF;
	else if (proto == IPPROTO_ICMP)
		l4csum = ICMP_CSUM_OFF;

	/* addresses: the quoted IP checksum, the quoted TCP/UDP pseudo header */
#pragma unroll
	for (int is_src = 1; is_src >= 0; is_src--) {
		__be32 from = is_src ? pkt->inner.saddr : pkt->inner.daddr;
		__be32 new_addr = is_src ? to->saddr : to->daddr;
		if (from == new_addr)
			continue;
		if (l4csum >= 0 && proto != IPPROTO_ICMP &&
		    csum_icmp_payload_fix(skb, icmp_csum, l4 + l4csum, from, new_addr, 4,
					  proto == IPPROTO_UDP) < 0)
			return -1;
		if (csum_icmp_payload_fix(skb, icmp_csum, l3 + IPH_CSUM_OFF, from, new_addr, 4,
					  0) < 0)
			return -1;
		if (csum_icmp_payload_store(skb, icmp_csum,
					    l3 + (is_src ? IPH_SADDR_OFF : IPH_DADDR_OFF), from,
					    new_addr, 4) < 0)
			return -1;
	}
	/* ports, or a quoted ICMP query's id */
	if (proto_has_ports(proto) && proto != IPPROTO_SCTP) {
#pragma unroll
		for (int is_src = 1; is_src >= 0; is_src--) {
			__u16 from = is_src ? pkt->inner.sport : pkt->inner.dport;
			__u16 new_port = is_src ? to->sport : to->dport;
			if (from == new_port)
				continue;
			if (l4csum >= 0 &&
			    csum_icmp_payload_fix(skb, icmp_csum, l4 + l4csum, bpf_htons(from),
						  bpf_htons(new_port), 2, proto == IPPROTO_UDP) < 0)
				return -1;
			if (csum_icmp_payload_store(skb, icmp_csum, l4 + (is_src ? 0 : 2),
						    bpf_htons(from), bpf_htons(new_port), 2) < 0)
				return -1;
		}
	} else if (proto == IPPROTO_ICMP && pkt->inner.sport != to->sport) {
		if (csum_icmp_payload_fix(skb, icmp_csum, l4 + ICMP_CSUM_OFF,
					  bpf_htons(pkt->inner.sport), bpf_htons(to->sport), 2, 0) < 0)
			return -1;
		if (csum_icmp_payload_store(skb, icmp_csum, l4 + ICMP_ID_OFF,
					    bpf_htons(pkt->inner.sport), bpf_htons(to->sport),
					    2) < 0)
			return -1;
	} else if (proto_has_ports(proto)) {
		if (pkt->inner.sport != to->sport || pkt->inner.dport != to->dport)
			return -1; /* a quoted SCTP header: CRC32c not maintained */
	}
	pkt->inner.saddr = to->saddr;
	pkt->inner.daddr = to->daddr;
	pkt->inner.sport = to->sport;
	if (proto != IPPROTO_ICMP)
		pkt->inner.dport = to->dport;
	return 0;
}

#endif /* BPFT_CSUM_H */
