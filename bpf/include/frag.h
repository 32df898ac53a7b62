/* Fragments: a later fragment has no L4 header, so it follows its first fragment's verdict
 * and address translation, remembered by (source, destination, protocol, IP id) as the first
 * fragment arrived. A later fragment arriving before its first one is dropped (the kernel
 * would hold it for reassembly). */
#ifndef BPFT_FRAG_H
#define BPFT_FRAG_H

static __always_inline void frag_key4(const struct pkt_info *pkt, struct frag_key *key)
{
	key->saddr = pkt->saddr;
	key->daddr = pkt->daddr;
	key->ip_id = pkt->ip_id;
	key->proto = pkt->protocol;
	key->pad = 0;
}

/* frag_remember4: the first fragment's outcome, `key` taken before any rewrite; the
 * addresses it leaves with are st->pkt's. */
static __always_inline void frag_remember4(const struct frag_key *key,
					   const struct pkt_state *st, __u32 verdict)
{
	struct frag_entry entry = {};

	entry.expires_ns = st->now_ns + FRAG_TIMEOUT_S * BPFT_NSEC_PER_SEC;
	entry.new_saddr = st->pkt.saddr;
	entry.new_daddr = st->pkt.daddr;
	entry.verdict = verdict;
	entry.drop_reason = st->drop_reason;
	frag_map.update((void *)key, &entry);
}

/* frag_follow4: a later fragment gets its first fragment's verdict and addresses. Returns
 * TC_ACT_OK or TC_ACT_SHOT (drop counted). */
static __always_inline int frag_follow4(struct __sk_buff *skb, struct pkt_state *st)
{
	struct frag_key key;
	struct frag_entry *entry;

	frag_key4(&st->pkt, &key);
	entry = frag_map.lookup(&key);
	if (!entry || entry->expires_ns <= st->now_ns)
		return drop_packet(st, DROP_FRAG_UNKNOWN);
	if (entry->verdict != TC_ACT_OK)
		return drop_packet(st, DROP_FRAG_FOLLOW);
	__be32 new_saddr = entry->new_saddr, new_daddr = entry->new_daddr;
	if (csum_set_addr4(skb, &st->pkt, 1, new_saddr) < 0 ||
	    csum_set_addr4(skb, &st->pkt, 0, new_daddr) < 0)
		return drop_packet(st, DROP_REWRITE);
	return TC_ACT_OK;
}

#endif /* BPFT_FRAG_H */
