/* The datapath's C library in dependency order: what an entry program (generated or the test
 * harness) includes. Needs the kernel's uapi headers, which bcc provides.
 *
 * Build: bcc rewrites map operations only in its main file, so the text handed to bcc must
 * have these headers pasted in (bpf/csource.py program_source / inline_includes), not
 * #included. Limits are overridable: -D or a #define before the text (CT_MAX_ENTRIES...);
 * BPFT_TABLE(type, key, value, name, entries) may be redefined, e.g. to BPF_TABLE_PINNED with
 * a path built from #name, to pin and share the maps.
 *
 * One packet, in order (bpf/harness.c is a complete example):
 *   st = pkt_scratch[0]; pkt_state_reset(st);
 *   parse_ipv4(skb, &st->pkt)            PARSE_NOT_IPV4: TC_ACT_OK; PARSE_MALFORMED: drop
 *   st->now_ns = bpf_ktime_get_ns();
 *   later fragment: return frag_follow4(skb, st);
 *   raw table (may set CTI_NOTRACK in st->ct.flags)
 *   entry = ct_lookup4(st)               st->ct.state: the ctstate bits rules match on
 *   entry != NULL (known flow, or RELATED ICMP error):
 *       nat_existing4(skb, st, 1) at the end of PREROUTING/OUTPUT,
 *       nat_existing4(skb, st, 0) at the end of POSTROUTING/INPUT
 *   CTI_NEW (entry == NULL): at each nat hook, nat_bind4(st, range, &to) for the rule's range
 *       (source hooks without a matching rule: the null binding, range = the packet's own
 *       source address, no ports) then nat_rewrite4(skb, st, &to); a destination hook
 *       without a rule just sets CTI_DNAT_DONE
 *   accepted at the end of its hooks: ct_confirm4(st, entry)   (entry NULL: looked up again)
 *   first fragment: frag_remember4(&key_taken_before_rewrites, st, verdict)
 *
 * Verifier: keep the new-flow branch apart from the entry != NULL branch (the harness
 * does), so the verifier meets few distinct states at nat_bind4's port search; nat_bind4
 * spills its inputs to st->nat for the same reason. ct_entry pointers do not survive a tail
 * call: after one, pass NULL to ct_confirm4. */
#ifndef BPFT_DATAPATH_H
#define BPFT_DATAPATH_H

#include <uapi/linux/bpf.h>
#include <uapi/linux/if_ether.h>
#include <uapi/linux/in.h>
#include <uapi/linux/ip.h>
#include <uapi/linux/pkt_cls.h>
#include <uapi/linux/tcp.h>

#include "consts.h"
#include "drop.h"
#include "structs.h"
#include "maps.h"
#include "parse.h"
#include "csum.h"
#include "conntrack.h"
#include "nat.h"
#include "frag.h"

/* Zero the per-packet state before parsing (the scratch slot keeps the last packet's). The
 * spare area is left to its owner. */
static __always_inline void pkt_state_reset(struct pkt_state *st)
{
	__builtin_memset(st, 0, offsetof(struct pkt_state, spare));
}

#endif /* BPFT_DATAPATH_H */
