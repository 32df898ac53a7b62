/* The datapath's C library in dependency order: what an entry program (generated or the test
 * harness) includes. Needs the kernel's uapi headers, which bcc provides. */
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
