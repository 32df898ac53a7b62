/* The datapath's maps. BPFT_TABLE is overridable so a loader can declare them pinned/shared
 * (bcc's BPF_TABLE_PINNED / "extern") without touching this file. Names stay <= 15 chars. */
#ifndef BPFT_MAPS_H
#define BPFT_MAPS_H

#ifndef BPFT_TABLE
#define BPFT_TABLE(type, key, value, name, entries) BPF_TABLE(type, key, value, name, entries)
#endif

/* Connections: original tuple -> state, and for NATed flows reply tuple -> reference
 * (struct ct_entry). LRU: a full table evicts, it never refuses a new flow. */
BPFT_TABLE("lru_hash", struct flow4, struct ct_entry, ct_map, CT_MAX_ENTRIES);

/* The one struct pkt_state of the packet being processed on this CPU (index 0). */
BPFT_TABLE("percpu_array", __u32, struct pkt_state, pkt_scratch, 1);

/* Packets dropped per enum drop_reason, per CPU. */
BPFT_TABLE("percpu_array", __u32, __u64, drop_count, DROP_MAX);

/* First fragments' verdicts and translations for the later fragments (LRU). */
BPFT_TABLE("lru_hash", struct frag_key, struct frag_entry, frag_map, FRAG_MAX_ENTRIES);

/* Count a drop reason and return TC_ACT_SHOT. */
static __always_inline int drop_packet(struct pkt_state *st, __u32 reason)
{
	__u64 *count = drop_count.lookup(&reason);

	if (count)
		*count += 1; /* per-CPU slot: no atomics needed */
	if (st)
		st->drop_reason = reason;
	return TC_ACT_SHOT;
}

#endif /* BPFT_MAPS_H */
