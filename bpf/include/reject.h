/* REJECT's answer (ipt_REJECT: nf_send_unreach, nf_send_reset), built in place of the
 * rejected packet and sent back out of the interface it came in by.
 *
 * An ICMP error quotes the whole rejected packet (the kernel quotes up to 576 bytes in all):
 * its checksum is derived from the quoted packet's own valid checksums, so a packet whose
 * quote or checksum cannot be known that way (longer than 548 bytes, IP options, UDP without
 * checksum) is dropped without an answer. A TCP reset answers a TCP packet that is not one.
 * What the kernel does besides is not done: the answer does not cross the OUTPUT and
 * POSTROUTING chains nor the rejected connection's NAT, and there is no ICMP rate limit. */
#ifndef BPFT_REJECT_H
#define BPFT_REJECT_H

#define REJECT_TCP_RESET 0xff /* rule_act.val of REJECT: an ICMP code, or this */
#define REJECT_QUOTE_MAX 548  /* 576 - IP header - ICMP header */
#define REJECT_TTL 64         /* net.ipv4.ip_default_ttl */

static __always_inline __u32 csum_fold32(__u64 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

/* The ones' complement sum of an L4 pseudo header (addresses as in the packet). */
static __always_inline __u64 pseudo_sum4(__be32 saddr, __be32 daddr, __u8 proto, __u16 len)
{
	return (__u64)(saddr & 0xffff) + (saddr >> 16) + (daddr & 0xffff) + (daddr >> 16) +
	       bpf_htons(proto) + bpf_htons(len);
}

/* Back out of the interface the packet came in by, MAC addresses swapped. */
static __always_inline int reject_send(struct __sk_buff *skb, struct pkt_state *st)
{
	__u8 macs[12], swapped[12];

	if (bpf_skb_load_bytes(skb, 0, macs, 12) < 0)
		return drop_packet(st, DROP_REJECT);
	__builtin_memcpy(swapped, macs + 6, 6);
	__builtin_memcpy(swapped + 6, macs, 6);
	if (bpf_skb_store_bytes(skb, 0, swapped, 12, 0) < 0)
		return drop_packet(st, DROP_REJECT);
	return bpf_redirect(st->pkt.in_ifindex, 0);
}

struct reject_icmp {
	struct iphdr ip;
	__u8 type;
	__u8 code;
	__u16 check;
	__u32 unused;
};

static __always_inline int reject_icmp4(struct __sk_buff *skb, struct pkt_state *st, __u8 code,
					__be32 source)
{
	struct pkt_info *pkt = &st->pkt;
	struct reject_icmp head = {};
	__u64 quote;
	__u16 len = pkt->tot_len;

	if (pkt->l4_off - pkt->l3_off != sizeof(struct iphdr) || len > REJECT_QUOTE_MAX ||
	    skb->len < pkt->l3_off + (__u32)len)
		return drop_packet(st, DROP_REJECT);
	if (pkt->protocol == IPPROTO_ICMP) {
		quote = 0; /* a valid IP header and ICMP message each sum to 0 */
	} else if (pkt->protocol == IPPROTO_TCP || pkt->protocol == IPPROTO_UDP) {
		__u16 check = 0;

		if (pkt->protocol == IPPROTO_UDP &&
		    (bpf_skb_load_bytes(skb, pkt->l4_off + 6, &check, 2) < 0 || !check))
			return drop_packet(st, DROP_REJECT);
		/* the segment sums to minus its pseudo header */
		quote = 0xffff - csum_fold32(pseudo_sum4(pkt->saddr, pkt->daddr, pkt->protocol,
							 len - sizeof(struct iphdr)));
	} else {
		return drop_packet(st, DROP_REJECT);
	}
	head.ip.version = 4;
	head.ip.ihl = 5;
	head.ip.tos = (pkt->tos & 0x1e) | 0xc0; /* IPTOS_PREC_INTERNETCONTROL */
	head.ip.tot_len = bpf_htons(sizeof(head) + len);
	head.ip.ttl = REJECT_TTL;
	head.ip.protocol = IPPROTO_ICMP;
	head.ip.saddr = source;
	head.ip.daddr = pkt->saddr;
	head.ip.check = ~csum_fold32(bpf_csum_diff(NULL, 0, (__be32 *)&head.ip,
						   sizeof(head.ip), 0)) & 0xffff;
	head.type = ICMP_T_DEST_UNREACH;
	head.code = code;
	head.check = ~csum_fold32(bpf_htons((__u16)ICMP_T_DEST_UNREACH << 8 | code) + quote) &
		     0xffff;
	if (bpf_skb_adjust_room(skb, sizeof(head), BPF_ADJ_ROOM_MAC, 0) < 0 ||
	    bpf_skb_change_tail(skb, pkt->l3_off + sizeof(head) + len, 0) < 0 ||
	    bpf_skb_store_bytes(skb, pkt->l3_off, &head, sizeof(head), 0) < 0)
		return drop_packet(st, DROP_REJECT);
	return reject_send(skb, st);
}

struct reject_tcp {
	struct iphdr ip;
	struct tcphdr tcp;
};

static __always_inline int reject_reset4(struct __sk_buff *skb, struct pkt_state *st)
{
	struct pkt_info *pkt = &st->pkt;
	struct reject_tcp head = {};
	struct tcphdr old;

	if (pkt->protocol != IPPROTO_TCP || (pkt->tcp_flags & TCPFL_RST) ||
	    bpf_skb_load_bytes(skb, pkt->l4_off, &old, sizeof(old)) < 0)
		return drop_packet(st, DROP_REJECT);
	head.ip.version = 4;
	head.ip.ihl = 5;
	head.ip.tot_len = bpf_htons(sizeof(head));
	head.ip.frag_off = bpf_htons(0x4000); /* DF */
	head.ip.ttl = REJECT_TTL;
	head.ip.protocol = IPPROTO_TCP;
	head.ip.saddr = pkt->daddr;
	head.ip.daddr = pkt->saddr;
	head.ip.check = ~csum_fold32(bpf_csum_diff(NULL, 0, (__be32 *)&head.ip,
						   sizeof(head.ip), 0)) & 0xffff;
	head.tcp.source = old.dest;
	head.tcp.dest = old.source;
	head.tcp.doff = 5;
	head.tcp.rst = 1;
	if (old.ack) {
		head.tcp.seq = old.ack_seq;
	} else {
		__u32 payload = pkt->tot_len - (pkt->l4_off - pkt->l3_off) - old.doff * 4;

		head.tcp.ack = 1;
		head.tcp.ack_seq = bpf_htonl(bpf_ntohl(old.seq) + old.syn + old.fin + payload);
	}
	head.tcp.check = ~csum_fold32(
		bpf_csum_diff(NULL, 0, (__be32 *)&head.tcp, sizeof(head.tcp), 0) +
		pseudo_sum4(head.ip.saddr, head.ip.daddr, IPPROTO_TCP, sizeof(head.tcp))) & 0xffff;
	if (bpf_skb_change_tail(skb, pkt->l3_off + sizeof(head), 0) < 0 ||
	    bpf_skb_store_bytes(skb, pkt->l3_off, &head, sizeof(head), 0) < 0)
		return drop_packet(st, DROP_REJECT);
	return reject_send(skb, st);
}

/* -j REJECT: never an answer to an ICMP error or to a later fragment, and none (yet) for what
 * this host sends itself; from the address the rejected packet came in to (INPUT) or of the
 * interface it came in by (FORWARD), as icmp_send chooses. */
static __always_inline int act_reject(struct __sk_buff *skb, struct pkt_state *st,
				      const struct rule_act *act)
{
	struct pkt_info *pkt = &st->pkt;
	__be32 source = pkt->daddr;

	if (!pkt->in_ifindex || (pkt->flags & PKT_F_FRAG_LATER) ||
	    (pkt->protocol == IPPROTO_ICMP && icmp_is_error(pkt->icmp_type)))
		return drop_packet(st, DROP_REJECT);
	if (act->val == REJECT_TCP_RESET)
		return reject_reset4(skb, st);
	if (pkt->out_ifindex) {
		__u32 ifindex = pkt->in_ifindex;
		__be32 *address = ifaddr.lookup(&ifindex);

		if (!address)
			return drop_packet(st, DROP_REJECT);
		source = *address;
	}
	return reject_icmp4(skb, st, act->val, source);
}

#endif /* BPFT_REJECT_H */
