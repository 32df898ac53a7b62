"""ctypes mirrors of bpf/include/structs.h and drop.h: one source of truth for what Python
reads from and writes to the datapath's maps.

Every struct here has the C struct's name, fields and order; every constant its #define's name
and value. tests/datapath/test_structs.py compiles a BPF program that reports the C side's
sizes, offsets and constants, and compares them with these.
Addresses in the structs are in network order: use :func:`be32` / :func:`from_be32`; ports are
in host order.
"""

from __future__ import annotations

import ctypes
import enum
from collections.abc import Mapping
from types import MappingProxyType

u8, u16, u32, u64 = ctypes.c_uint8, ctypes.c_uint16, ctypes.c_uint32, ctypes.c_uint64


def be32(address: int) -> int:
    """The value a ``__be32`` field holds (read as a native integer) for an address that is a
    host-order integer (the model's representation)."""
    return int.from_bytes(address.to_bytes(4, "big"), "little")


def from_be32(value: int) -> int:
    """The model's integer for a ``__be32`` field's native value."""
    return int.from_bytes(value.to_bytes(4, "little"), "big")


class DropReason(enum.IntEnum):
    """enum drop_reason (drop.h)."""

    DROP_NONE = 0
    DROP_MALFORMED = 1
    DROP_POLICY = 2
    DROP_INVALID = 3
    DROP_NAT_NO_TUPLE = 4
    DROP_FRAG_UNKNOWN = 5
    DROP_FRAG_FOLLOW = 6
    DROP_REWRITE = 7
    DROP_SCRATCH = 8
    DROP_REJECT = 9
    DROP_STACK = 10
    DROP_TAILCALL = 11
    DROP_NO_ADDRESS = 12
    DROP_MAX = 16


class CtTcpState(enum.IntEnum):
    """enum ct_tcp_state: the TCP tracker's states, named as in translator/model/conntrack."""

    CT_TCP_NONE = 0
    CT_TCP_SYN_SENT = 1
    CT_TCP_SYN_RECV = 2
    CT_TCP_ESTABLISHED = 3
    CT_TCP_FIN_WAIT = 4
    CT_TCP_CLOSE_WAIT = 5
    CT_TCP_LAST_ACK = 6
    CT_TCP_TIME_WAIT = 7
    CT_TCP_CLOSE = 8


# ct_entry.flags
CT_F_REPLY_REF = 0x01
CT_F_SEEN_REPLY = 0x02
CT_F_SNAT = 0x04
CT_F_DNAT = 0x08
# pkt_info.flags
PKT_F_FRAG_FIRST = 0x01
PKT_F_FRAG_LATER = 0x02
PKT_F_L4 = 0x04
PKT_F_PORTS = 0x08
PKT_F_ICMP_ERROR = 0x10
# ct_info.state (xt_conntrack's bits)
CT_STATE_INVALID = 0x0001
CT_STATE_ESTABLISHED = 0x0002
CT_STATE_RELATED = 0x0004
CT_STATE_NEW = 0x0008
CT_STATE_UNTRACKED = 0x0100
CT_STATE_SNAT = 0x0200
CT_STATE_DNAT = 0x0400
# ct_info.flags
CTI_TRACKED = 0x01
CTI_REPLY = 0x02
CTI_NEW = 0x04
CTI_RELATED = 0x08
CTI_DNAT_DONE = 0x10
CTI_SNAT_DONE = 0x20
CTI_NOTRACK = 0x40
# nat_range
NAT_KIND_SNAT = 1
NAT_KIND_DNAT = 2
NAT_F_PORTS = 0x01
NAT_F_RANDOM = 0x02
NAT_F_RANDOM_FULLY = 0x04
NAT_F_PERSISTENT = 0x08
# harness
HARNESS_RULES = 4
HARNESS_LOCALS = 2
HCFG_DROP_INVALID = 0x01
HCFG_NO_CONFIRM = 0x02
HCFG_FORGET = 0x04
HCFG_UNDO = 0x08
PKT_STATE_SPARE = 128

# consts.h defaults (seconds), compared with the model's in tests/datapath/test_structs.py.
CT_TIMEOUTS: Mapping[str, int] = MappingProxyType({
    "CT_TIMEOUT_TCP_SYN_SENT": 120, "CT_TIMEOUT_TCP_SYN_RECV": 60,
    "CT_TIMEOUT_TCP_ESTABLISHED": 432000, "CT_TIMEOUT_TCP_FIN_WAIT": 120,
    "CT_TIMEOUT_TCP_CLOSE_WAIT": 60, "CT_TIMEOUT_TCP_LAST_ACK": 30,
    "CT_TIMEOUT_TCP_TIME_WAIT": 120, "CT_TIMEOUT_TCP_CLOSE": 10, "CT_TIMEOUT_UDP": 30,
    "CT_TIMEOUT_UDP_STREAM": 120, "CT_TIMEOUT_ICMP": 30, "CT_TIMEOUT_GENERIC": 600,
})
CT_MAX_ENTRIES = 65536
NAT_PORT_TRIES = 128


class flow4(ctypes.Structure):  # noqa: N801 - the C name
    _fields_ = [("saddr", u32), ("daddr", u32), ("sport", u16), ("dport", u16),
                ("proto", u8), ("pad", u8 * 3)]


class ct_entry(ctypes.Structure):  # noqa: N801
    _fields_ = [("expires_ns", u64), ("other", flow4), ("mark", u32), ("flags", u8),
                ("tcp_state", u8), ("pad", u8 * 2)]


class pkt_info(ctypes.Structure):  # noqa: N801
    _fields_ = [("saddr", u32), ("daddr", u32), ("sport", u16), ("dport", u16),
                ("protocol", u8), ("tcp_flags", u8), ("icmp_type", u8), ("icmp_code", u8),
                ("tot_len", u16), ("ip_id", u16), ("frag_off", u16), ("ttl", u8), ("tos", u8),
                ("flags", u8), ("pad0", u8 * 3), ("mark", u32), ("in_ifindex", u32),
                ("out_ifindex", u32), ("l3_off", u16), ("l4_off", u16), ("inner_l3_off", u16),
                ("inner_l4_off", u16), ("inner_l4_len", u16), ("pad1", u16), ("inner", flow4)]


class ct_info(ctypes.Structure):  # noqa: N801
    _fields_ = [("state", u16), ("flags", u8), ("tcp_state", u8), ("mark", u32),
                ("orig", flow4), ("reply", flow4)]


class nat_range(ctypes.Structure):  # noqa: N801
    _fields_ = [("min_addr", u32), ("max_addr", u32), ("min_port", u16), ("max_port", u16),
                ("kind", u8), ("flags", u8), ("pad", u8 * 2)]


class nat_search(ctypes.Structure):  # noqa: N801
    _fields_ = [("cand", flow4), ("low", u32), ("size", u32), ("start", u32),
                ("keep_first", u8), ("dport", u8), ("kind", u8), ("search", u8)]


class pkt_state(ctypes.Structure):  # noqa: N801
    _fields_ = [("pkt", pkt_info), ("ct", ct_info), ("nat", nat_search), ("drop_reason", u32),
                ("now_ns", u64), ("spare", u8 * PKT_STATE_SPARE)]


class frag_key(ctypes.Structure):  # noqa: N801
    _fields_ = [("saddr", u32), ("daddr", u32), ("ip_id", u16), ("proto", u8), ("pad", u8)]


class frag_entry(ctypes.Structure):  # noqa: N801
    _fields_ = [("expires_ns", u64), ("new_saddr", u32), ("new_daddr", u32),
                ("verdict", u32), ("drop_reason", u32)]


class harness_rule(ctypes.Structure):  # noqa: N801
    _fields_ = [("match_addr", u32), ("match_mask", u32), ("match_dport", u16),
                ("match_proto", u8), ("enabled", u8), ("to", nat_range)]


class harness_cfg(ctypes.Structure):  # noqa: N801
    _fields_ = [("dnat", harness_rule * HARNESS_RULES), ("snat", harness_rule * HARNESS_RULES),
                ("clock_offset_ns", u64), ("flags", u32), ("local", u32 * HARNESS_LOCALS),
                ("notrack_udp_dport", u16), ("pad", u16)]


# --- rules.h: the rule data the generated chain programs read ---

LOOKUP_CANDIDATES = 8
MULTIPORT_MAX = 15
LK_LPM_EXACT_BITS = 96
RV_F_ICMP_ANY_TYPE = 0x01
RV_F_SRC_SIDE = 0x02
REJECT_TCP_RESET = 0xFF


class rule_act(ctypes.Structure):  # noqa: N801
    _fields_ = [("kind", u8), ("pad", u8), ("prog", u16), ("member", u32), ("val", u32),
                ("mask", u32), ("nat", nat_range)]


class rule_val(ctypes.Structure):  # noqa: N801
    _fields_ = [("src", u32), ("smask", u32), ("dst", u32), ("dmask", u32),
                ("in_ifindex", u32), ("out_ifindex", u32), ("sport_lo", u16), ("sport_hi", u16),
                ("dport_lo", u16), ("dport_hi", u16), ("mark", u32), ("mark_mask", u32),
                ("ctstate", u32), ("probability", u32), ("proto", u8), ("tcp_mask", u8),
                ("tcp_cmp", u8), ("icmp_type", u8), ("icmp_code_lo", u8), ("icmp_code_hi", u8),
                ("multiport_n", u8), ("flags", u8), ("multiport", u16 * 2 * MULTIPORT_MAX),
                ("recent_list", u32), ("recent_mask", u32),
                ("recent_seconds", u32), ("slot", u32), ("act", rule_act)]


class rblk_key(ctypes.Structure):  # noqa: N801
    _fields_ = [("prog", u16), ("block", u16), ("member", u32)]


class lk_key(ctypes.Structure):  # noqa: N801
    _fields_ = [("member", u32), ("proto", u8), ("pad", u8), ("dport", u16), ("src", u32),
                ("dst", u32)]


class lk_lpm_key(ctypes.Structure):  # noqa: N801
    _fields_ = [("prefixlen", u32), ("member", u32), ("proto", u8), ("pad", u8),
                ("dport", u16), ("fixed", u32), ("addr", u32)]


class lk_cand(ctypes.Structure):  # noqa: N801
    _fields_ = [("slot", u32), ("variant", u8), ("pad", u8 * 3)]


class lk_val(ctypes.Structure):  # noqa: N801
    _fields_ = [("count", u32), ("cand", lk_cand * LOOKUP_CANDIDATES)]


class sel_head(ctypes.Structure):  # noqa: N801
    _fields_ = [("count", u32), ("table", u32)]


class sel_key(ctypes.Structure):  # noqa: N801
    _fields_ = [("prog", u16), ("block", u16), ("member", u32), ("index", u32)]


class sel_member(ctypes.Structure):  # noqa: N801
    _fields_ = [("cut", u32), ("alias", u32), ("probability", u32), ("slot", u32)]


class rule_ctr(ctypes.Structure):  # noqa: N801
    _fields_ = [("packets", u64), ("bytes", u64)]


# Everything the layout test compares: struct name -> ctypes mirror.
STRUCTS: Mapping[str, type[ctypes.Structure]] = MappingProxyType({
    cls.__name__: cls for cls in (flow4, ct_entry, pkt_info, ct_info, nat_range, nat_search,
                                  pkt_state, frag_key, frag_entry, harness_rule, harness_cfg,
                                  rule_act, rule_val, rblk_key, lk_key, lk_lpm_key, lk_cand,
                                  lk_val, sel_head, sel_key, sel_member, rule_ctr)
})


def constants() -> dict[str, int]:
    """Every #define / enum value mirrored here, by its C name."""
    values: dict[str, int] = {}
    for name, value in globals().items():
        if name.isupper() and isinstance(value, int) and not isinstance(value, bool):
            values[name] = value
    for enum_cls in (DropReason, CtTcpState):
        values.update({member.name: int(member) for member in enum_cls})
    values.update(CT_TIMEOUTS)
    return values
