/* Parsing an Ethernet + IPv4 frame into struct pkt_info (direct packet access). */
#ifndef BPFT_PARSE_H
#define BPFT_PARSE_H

#define PARSE_OK 0
#define PARSE_NOT_IPV4 1  /* not ours: the caller passes it (TC_ACT_OK) */
#define PARSE_MALFORMED 2 /* IPv4 but unreadable: the caller drops it (DROP_MALFORMED) */

/* The ICMP types whose payload quotes the packet they are about. */
static __always_inline int icmp_is_error(__u8 type)
{
	return type == ICMP_T_DEST_UNREACH || type == ICMP_T_SOURCE_QUENCH ||
	       type == ICMP_T_REDIRECT || type == ICMP_T_TIME_EXCEEDED ||
	       type == ICMP_T_PARAMETERPROB;
}

/* ICMP queries and replies carrying an id at bytes 4-5 (echo, timestamp, info, mask). */
static __always_inline int icmp_has_id(__u8 type)
{
	return type == ICMP_T_ECHO || type == ICMP_T_ECHOREPLY || (type >= 13 && type <= 18);
}

static __always_inline int proto_has_ports(__u8 proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP;
}

/* The tuple an ICMP error quotes: inner IP header at `inner`, 8 bytes of L4 after it.
 * Returns 0 and fills pkt->inner* when the quote is complete enough, -1 otherwise (the
 * kernel then finds no related connection: INVALID). */
static __always_inline int parse_icmp_inner4(struct pkt_info *pkt, void *data, void *data_end,
					     struct iphdr *inner)
{
	if ((void *)(inner + 1) > data_end || inner->version != 4 || inner->ihl < 5)
		return -1;
	__u8 *l4 = (__u8 *)inner + inner->ihl * 4;
	if ((void *)(l4 + 8) > data_end)
		return -1;
	pkt->inner.saddr = inner->saddr;
	pkt->inner.daddr = inner->daddr;
	pkt->inner.proto = inner->protocol;
	if (proto_has_ports(inner->protocol)) {
		pkt->inner.sport = ((__u16)l4[0] << 8) | l4[1];
		pkt->inner.dport = ((__u16)l4[2] << 8) | l4[3];
	} else if (inner->protocol == IPPROTO_ICMP) {
		pkt->inner.sport = icmp_has_id(l4[0]) ? (((__u16)l4[4] << 8) | l4[5]) : 0;
		pkt->inner.dport = l4[0];
	}
	pkt->inner_l3_off = (__u16)((void *)inner - data);
	pkt->inner_l4_off = (__u16)((void *)l4 - data);
	long left = data_end - (void *)l4;
	pkt->inner_l4_len = left > 0xffff ? 0xffff : (__u16)left;
	return 0;
}

/* parse_ipv4_frame: fill `pkt` (which the caller zeroed) from the Ethernet frame at `data`
 * (parse_ipv4 for a tc program's skb, parse_ipv4_xdp for XDP).
 *
 * Returns PARSE_OK, PARSE_NOT_IPV4 (ARP, IPv6...: pass) or PARSE_MALFORMED. Sets addresses,
 * protocol, TTL, TOS, length, id, fragment flags, ports (host order; ICMP: type, code, and the
 * query id as sport), TCP flags, skb mark and ingress ifindex, the L3/L4 offsets, and for an
 * ICMP error the quoted packet's tuple and offsets (PKT_F_ICMP_ERROR). A later fragment has
 * no L4 fields (PKT_F_FRAG_LATER). */
static __always_inline int parse_ipv4_frame(void *data, void *data_end, struct pkt_info *pkt)
{
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IPV4))
		return PARSE_NOT_IPV4;
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end || ip->version != 4 || ip->ihl < 5)
		return PARSE_MALFORMED;
	__u32 ihl = ip->ihl * 4;
	if ((void *)ip + ihl > data_end)
		return PARSE_MALFORMED;

	pkt->saddr = ip->saddr;
	pkt->daddr = ip->daddr;
	pkt->protocol = ip->protocol;
	pkt->ttl = ip->ttl;
	pkt->tos = ip->tos;
	pkt->tot_len = bpf_ntohs(ip->tot_len);
	pkt->ip_id = bpf_ntohs(ip->id);
	pkt->l3_off = sizeof(*eth);
	pkt->l4_off = sizeof(*eth) + ihl;

	__u16 frag = bpf_ntohs(ip->frag_off);
	pkt->frag_off = frag & IP_OFFSET_MASK;
	if (pkt->frag_off) {
		pkt->flags |= PKT_F_FRAG_LATER;
		return PARSE_OK;
	}
	if (frag & IP_MF_BIT)
		pkt->flags |= PKT_F_FRAG_FIRST;

	__u8 *l4 = (void *)ip + ihl;
	if (ip->protocol == IPPROTO_TCP) {
		struct tcphdr *tcp = (void *)l4;
		if ((void *)(tcp + 1) > data_end)
			return PARSE_MALFORMED;
		pkt->sport = bpf_ntohs(tcp->source);
		pkt->dport = bpf_ntohs(tcp->dest);
		pkt->tcp_flags = l4[13] & 0x3f;
		pkt->flags |= PKT_F_L4 | PKT_F_PORTS;
	} else if (ip->protocol == IPPROTO_UDP || ip->protocol == IPPROTO_SCTP) {
		if ((void *)(l4 + 8) > data_end)
			return PARSE_MALFORMED;
		pkt->sport = ((__u16)l4[0] << 8) | l4[1];
		pkt->dport = ((__u16)l4[2] << 8) | l4[3];
		pkt->flags |= PKT_F_L4 | PKT_F_PORTS;
	} else if (ip->protocol == IPPROTO_ICMP) {
		if ((void *)(l4 + 8) > data_end)
			return PARSE_MALFORMED;
		pkt->icmp_type = l4[0];
		pkt->icmp_code = l4[1];
		pkt->flags |= PKT_F_L4;
		if (icmp_has_id(l4[0]))
			pkt->sport = ((__u16)l4[4] << 8) | l4[5];
		else if (icmp_is_error(l4[0]) &&
			 parse_icmp_inner4(pkt, data, data_end, (void *)(l4 + 8)) == 0)
			pkt->flags |= PKT_F_ICMP_ERROR;
	}
	return PARSE_OK;
}

static __always_inline int parse_ipv4(struct __sk_buff *skb, struct pkt_info *pkt)
{
	pkt->mark = skb->mark;
	pkt->in_ifindex = skb->ingress_ifindex;
	return parse_ipv4_frame((void *)(long)skb->data, (void *)(long)skb->data_end, pkt);
}

/* The same from XDP, before there is an skb: no mark yet. */
static __always_inline int parse_ipv4_xdp(struct xdp_md *ctx, struct pkt_info *pkt)
{
	pkt->in_ifindex = ctx->ingress_ifindex;
	return parse_ipv4_frame((void *)(long)ctx->data, (void *)(long)ctx->data_end, pkt);
}

#endif /* BPFT_PARSE_H */
