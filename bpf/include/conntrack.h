/* Connection tracking (nf_conntrack as translator/model/conntrack.py states it).
 *
 * Call order for one packet: ct_lookup4 after the raw table (it reads only st->pkt and the
 * CTI_NOTRACK flag), the nat hooks (nat.h), then ct_confirm4 once the packet passed every hook.
 * Nothing is written to the table before ct_confirm4: a dropped first packet leaves nothing. */
#ifndef BPFT_CONNTRACK_H
#define BPFT_CONNTRACK_H

/* Tuples equal: one conditional jump (OR of XORs), which keeps the verifier's path count
 * down where this runs in a loop (nat_bind4's port search). */
static __always_inline int flow4_eq(const struct flow4 *a, const struct flow4 *b)
{
	return ((a->saddr ^ b->saddr) | (a->daddr ^ b->daddr) | (a->sport ^ b->sport) |
		(a->dport ^ b->dport) | (a->proto ^ b->proto)) == 0;
}

/* The reply type of an ICMP query and back (nf_conntrack_proto_icmp's invmap): 8 <-> 0,
 * 13 <-> 14, 15 <-> 16, 17 <-> 18. Arithmetic, not a switch: clang turns switches of constants
 * into lookup tables in .rodata, which bcc cannot load. */
static __always_inline __u16 icmp_reply_type(__u16 type)
{
	if (type == 8 || type == 0)
		return 8 - type;
	if (type >= 13 && type <= 18)
		return (type & 1) ? type + 1 : type - 1;
	return type;
}

/* The tuple of the other direction (FlowTuple.inverse). */
static __always_inline void flow4_inverse(const struct flow4 *f, struct flow4 *inv)
{
	inv->saddr = f->daddr;
	inv->daddr = f->saddr;
	inv->proto = f->proto;
	inv->pad[0] = inv->pad[1] = inv->pad[2] = 0;
	if (f->proto == IPPROTO_ICMP) {
		inv->sport = f->sport;
		inv->dport = icmp_reply_type(f->dport);
	} else {
		inv->sport = f->dport;
		inv->dport = f->sport;
	}
}

/* The packet's own tuple (packet_tuple): ICMP (id, type), ports when it has them, else 0. */
static __always_inline void pkt_flow4(const struct pkt_info *pkt, struct flow4 *f)
{
	f->saddr = pkt->saddr;
	f->daddr = pkt->daddr;
	f->proto = pkt->protocol;
	f->pad[0] = f->pad[1] = f->pad[2] = 0;
	if (pkt->protocol == IPPROTO_ICMP) {
		f->sport = pkt->sport;
		f->dport = pkt->icmp_type;
	} else if (pkt->flags & PKT_F_PORTS) {
		f->sport = pkt->sport;
		f->dport = pkt->dport;
	} else {
		f->sport = 0;
		f->dport = 0;
	}
}

/* How long a connection lives after its last packet, in seconds (timeout_for). */
static __always_inline __u64 ct_timeout_s(__u8 proto, __u8 tcp_state, int seen_reply)
{
	if (proto == IPPROTO_TCP) {
		/* an if-chain: a switch of constants would become a .rodata table */
		__u64 timeout = CT_TIMEOUT_GENERIC;
		if (tcp_state == CT_TCP_SYN_SENT)
			timeout = CT_TIMEOUT_TCP_SYN_SENT;
		if (tcp_state == CT_TCP_SYN_RECV)
			timeout = CT_TIMEOUT_TCP_SYN_RECV;
		if (tcp_state == CT_TCP_ESTABLISHED)
			timeout = CT_TIMEOUT_TCP_ESTABLISHED;
		if (tcp_state == CT_TCP_FIN_WAIT)
			timeout = CT_TIMEOUT_TCP_FIN_WAIT;
		if (tcp_state == CT_TCP_CLOSE_WAIT)
			timeout = CT_TIMEOUT_TCP_CLOSE_WAIT;
		if (tcp_state == CT_TCP_LAST_ACK)
			timeout = CT_TIMEOUT_TCP_LAST_ACK;
		if (tcp_state == CT_TCP_TIME_WAIT)
			timeout = CT_TIMEOUT_TCP_TIME_WAIT;
		if (tcp_state == CT_TCP_CLOSE)
			timeout = CT_TIMEOUT_TCP_CLOSE;
		return timeout;
	}
	if (proto == IPPROTO_UDP)
		return seen_reply ? CT_TIMEOUT_UDP_STREAM : CT_TIMEOUT_UDP;
	if (proto == IPPROTO_ICMP)
		return CT_TIMEOUT_ICMP;
	return CT_TIMEOUT_GENERIC;
}

/* What a TCP packet's flags are to the tracker (the model's _tcp_kind). */
#define TCP_KIND_NONE 0
#define TCP_KIND_SYN 1
#define TCP_KIND_SYNACK 2
#define TCP_KIND_FIN 3
#define TCP_KIND_ACK 4
#define TCP_KIND_RST 5

static __always_inline int tcp_kind(__u8 flags)
{
	if (flags & TCPFL_RST)
		return TCP_KIND_RST;
	if (flags & TCPFL_SYN)
		return (flags & TCPFL_ACK) ? TCP_KIND_SYNACK : TCP_KIND_SYN;
	if (flags & TCPFL_FIN)
		return TCP_KIND_FIN;
	return (flags & TCPFL_ACK) ? TCP_KIND_ACK : TCP_KIND_NONE;
}

/* The tracker's state for a connection's first packet, or CT_TCP_NONE: it cannot start one
 * (new_tcp_state: SYN starts, a bare ACK is picked up mid-stream, the rest is INVALID). */
static __always_inline __u8 tcp_new_state(__u8 flags)
{
	int kind = tcp_kind(flags);

	if (kind == TCP_KIND_SYN)
		return CT_TCP_SYN_SENT;
	if (kind == TCP_KIND_ACK)
		return CT_TCP_ESTABLISHED;
	return CT_TCP_NONE;
}

/* Whether the tracker refuses this packet on a connection in `state` (TCP_INVALID). */
static __always_inline int tcp_invalid(__u8 state, __u8 flags, int reply)
{
	int kind = tcp_kind(flags);

	switch (state) {
	case CT_TCP_SYN_SENT:
		if (!reply)
			return kind == TCP_KIND_SYNACK || kind == TCP_KIND_ACK ||
			       kind == TCP_KIND_FIN;
		return kind == TCP_KIND_FIN;
	case CT_TCP_SYN_RECV:
		return reply && kind == TCP_KIND_SYN;
	case CT_TCP_ESTABLISHED:
		return reply ? kind == TCP_KIND_SYN : kind == TCP_KIND_SYNACK;
	}
	return 0;
}

/* The state after an accepted packet (next_tcp_state). */
static __always_inline __u8 tcp_next_state(__u8 state, __u8 flags, int reply)
{
	if (flags & TCPFL_RST)
		return CT_TCP_CLOSE;
	if ((flags & TCPFL_SYN) && (flags & TCPFL_ACK) && reply && state == CT_TCP_SYN_SENT)
		return CT_TCP_SYN_RECV;
	if (flags & TCPFL_FIN) {
		if (state == CT_TCP_ESTABLISHED || state == CT_TCP_SYN_RECV)
			return CT_TCP_FIN_WAIT;
		if (state == CT_TCP_FIN_WAIT || state == CT_TCP_CLOSE_WAIT)
			return CT_TCP_LAST_ACK;
		return state;
	}
	if (flags & TCPFL_ACK) {
		if (state == CT_TCP_SYN_RECV && !reply)
			return CT_TCP_ESTABLISHED;
		if (state == CT_TCP_FIN_WAIT)
			return CT_TCP_CLOSE_WAIT;
		if (state == CT_TCP_LAST_ACK)
			return CT_TCP_TIME_WAIT;
	}
	return state;
}

/* ct_find4: the live connection that has `t` as its original or reply tuple (the model's
 * ConntrackTable.find), in O(1): `t` as a key (an original entry, or the reply reference of
 * a NATed flow), else the inverse of `t` as the key of an un-NATed flow whose reply is `t`.
 * Returns the entry holding the state (never a reply reference), its original tuple in
 * *orig and whether `t` is the reply direction in *reply; NULL when none is alive. Expired
 * and stale entries count as absent (the LRU recycles them). */
static __always_inline struct ct_entry *ct_find4(const struct flow4 *t, __u64 now,
						 struct flow4 *orig, int *reply)
{
	struct ct_entry *entry = ct_map.lookup((void *)t);

	if (entry) {
		if (!(entry->flags & CT_F_REPLY_REF)) {
			if (entry->expires_ns > now) {
				*orig = *t;
				*reply = 0;
				return entry;
			}
		} else {
			struct flow4 key = entry->other;
			struct ct_entry *owner = ct_map.lookup(&key);
			/* the reference is live only while its owner still points back at it */
			if (owner && !(owner->flags & CT_F_REPLY_REF) && owner->expires_ns > now &&
			    flow4_eq(&owner->other, t)) {
				*orig = key;
				*reply = 1;
				return owner;
			}
		}
	}
	struct flow4 inv;
	flow4_inverse(t, &inv);
	entry = ct_map.lookup(&inv);
	if (entry && !(entry->flags & (CT_F_REPLY_REF | CT_F_SNAT | CT_F_DNAT)) &&
	    entry->expires_ns > now && flow4_eq(&entry->other, t)) {
		*orig = inv;
		*reply = 1;
		return entry;
	}
	return NULL;
}

/* Fill st->ct from a found connection. */
static __always_inline void ct_info_from4(struct ct_info *ct, const struct ct_entry *entry,
					  const struct flow4 *orig, int reply)
{
	ct->orig = *orig;
	ct->reply = entry->other;
	ct->mark = entry->mark;
	ct->tcp_state = entry->tcp_state;
	ct->flags = CTI_TRACKED | CTI_DNAT_DONE | CTI_SNAT_DONE | (reply ? CTI_REPLY : 0);
	ct->state = ((entry->flags & CT_F_SNAT) ? CT_STATE_SNAT : 0) |
		    ((entry->flags & CT_F_DNAT) ? CT_STATE_DNAT : 0);
}

/* ct_lookup4: the packet's connection and ctstate (nf_conntrack_in; the model's _track).
 *
 * Sets st->ct: state INVALID (nothing tracked: no NAT, nothing confirmed), UNTRACKED (when
 * CTI_NOTRACK was set), RELATED (an ICMP error quoting a packet of a live connection),
 * ESTABLISHED (a reply, or a later packet of a connection that saw one), or NEW (a later
 * packet of a connection without reply yet, or a first packet: CTI_NEW, the tuples of a new
 * connection, a TCP first packet only when its flags can start one). A TCP packet the tracker
 * refuses on its connection is INVALID. Returns the connection's entry (for ct_confirm4 in the
 * same program), or NULL. Reads st->now_ns; st->ct must be zero but for CTI_NOTRACK. */
static __always_inline struct ct_entry *ct_lookup4(struct pkt_state *st)
{
	struct pkt_info *pkt = &st->pkt;
	struct ct_info *ct = &st->ct;
	struct ct_entry *entry;
	struct flow4 tuple, orig;
	int reply = 0;

	if (ct->flags & CTI_NOTRACK) {
		ct->state = CT_STATE_UNTRACKED;
		return NULL;
	}
	ct->state = CT_STATE_INVALID;
	int error = pkt->protocol == IPPROTO_ICMP && !(pkt->flags & PKT_F_FRAG_LATER) &&
		    icmp_is_error(pkt->icmp_type);
	if (error) {
		/* the quoted packet went the other way: its inverse is the error's own tuple */
		if (!(pkt->flags & PKT_F_ICMP_ERROR))
			return NULL;
		flow4_inverse(&pkt->inner, &tuple);
	} else {
		pkt_flow4(pkt, &tuple);
	}
	entry = ct_find4(&tuple, st->now_ns, &orig, &reply);
	if (error) {
		if (!entry)
			return NULL;
		ct_info_from4(ct, entry, &orig, reply);
		ct->flags |= CTI_RELATED;
		ct->state |= CT_STATE_RELATED;
		return entry;
	}
	if (entry) {
		if (pkt->protocol == IPPROTO_TCP && entry->tcp_state &&
		    !(pkt->flags & PKT_F_FRAG_LATER) &&
		    tcp_invalid(entry->tcp_state, pkt->tcp_flags, reply))
			return NULL;
		ct_info_from4(ct, entry, &orig, reply);
		ct->state |= (reply || (entry->flags & CT_F_SEEN_REPLY)) ? CT_STATE_ESTABLISHED :
									  CT_STATE_NEW;
		return entry;
	}
	__u8 tcp_state = CT_TCP_NONE;
	if (pkt->protocol == IPPROTO_TCP && !(pkt->flags & PKT_F_FRAG_LATER)) {
		tcp_state = tcp_new_state(pkt->tcp_flags);
		if (tcp_state == CT_TCP_NONE)
			return NULL;
	}
	ct->orig = tuple;
	flow4_inverse(&tuple, &ct->reply);
	ct->tcp_state = tcp_state;
	ct->flags = CTI_TRACKED | CTI_NEW;
	ct->state = CT_STATE_NEW;
	return NULL;
}

/* ct_confirm4: the packet passed every hook (the model's _confirm). A new connection is
 * inserted: one entry, plus a reply reference when NAT changed its reply tuple. A known one
 * gets its TCP state, reply-seen bit, ctmark and timeout refreshed in place (`entry` from
 * ct_lookup4 in the same program, or NULL to look it up again). RELATED, INVALID and
 * UNTRACKED packets change nothing. Returns 0, or -1 when an insert failed. */
static __always_inline int ct_confirm4(struct pkt_state *st, struct ct_entry *entry)
{
	struct ct_info *ct = &st->ct;
	int reply = ct->flags & CTI_REPLY;

	if (!(ct->flags & CTI_TRACKED) || (ct->flags & CTI_RELATED))
		return 0;
	if (ct->flags & CTI_NEW) {
		struct ct_entry fresh = {};
		fresh.other = ct->reply;
		fresh.mark = ct->mark;
		fresh.tcp_state = ct->tcp_state;
		fresh.flags = ((ct->state & CT_STATE_SNAT) ? CT_F_SNAT : 0) |
			      ((ct->state & CT_STATE_DNAT) ? CT_F_DNAT : 0);
		fresh.expires_ns = st->now_ns +
				   ct_timeout_s(ct->orig.proto, ct->tcp_state, 0) * BPFT_NSEC_PER_SEC;
		if (ct_map.update(&ct->orig, &fresh) < 0)
			return -1;
		if (fresh.flags) {
			struct ct_entry ref = {};
			ref.other = ct->orig;
			ref.flags = CT_F_REPLY_REF;
			if (ct_map.update(&ct->reply, &ref) < 0)
				return -1;
		}
		return 0;
	}
	if (!entry)
		entry = ct_map.lookup(&ct->orig);
	if (!entry)
		return 0; /* evicted meanwhile */
	__u8 tcp_state = entry->tcp_state;
	if (tcp_state)
		tcp_state = tcp_next_state(tcp_state, st->pkt.tcp_flags, reply);
	__u8 flags = entry->flags | (reply ? CT_F_SEEN_REPLY : 0);
	entry->tcp_state = tcp_state;
	entry->flags = flags;
	entry->mark = ct->mark;
	entry->expires_ns = st->now_ns +
			    ct_timeout_s(ct->orig.proto, tcp_state, flags & CT_F_SEEN_REPLY) *
				    BPFT_NSEC_PER_SEC;
	return 0;
}

#endif /* BPFT_CONNTRACK_H */
