/* Why the datapath dropped a packet: one place for every DROP_* reason. The per-CPU array
 * drop_count (maps.h) counts them; bpf/structs.py mirrors the values. */
#ifndef BPFT_DROP_H
#define BPFT_DROP_H

enum drop_reason {
	DROP_NONE = 0,           /* not dropped */
	DROP_MALFORMED = 1,      /* IPv4 header shorter than it says, bad IHL, truncated L4 */
	DROP_POLICY = 2,         /* a rule or policy said DROP */
	DROP_INVALID = 3,        /* ctstate INVALID and the rules drop INVALID */
	DROP_NAT_NO_TUPLE = 4,   /* nat_bind4 found no free tuple in the range (kernel: NF_DROP) */
	DROP_FRAG_UNKNOWN = 5,   /* a later fragment whose first fragment was not seen */
	DROP_FRAG_FOLLOW = 6,    /* a later fragment of a dropped first fragment */
	DROP_REWRITE = 7,        /* a checksum/store helper failed while rewriting */
	DROP_SCRATCH = 8,        /* the per-CPU scratch map was not there (cannot happen) */
	DROP_REJECT = 9,         /* -j REJECT with no answer (see reject.h) */
	DROP_STACK = 10,         /* jumps deeper than STACK_DEPTH */
	DROP_TAILCALL = 11,      /* a chain program missing from progs (cannot happen) */
	DROP_NO_ADDRESS = 12,    /* MASQUERADE/REDIRECT: the interface has no IPv4 address */
	DROP_MAX = 16,           /* size of drop_count; reasons stay below it */
};

#endif /* BPFT_DROP_H */
