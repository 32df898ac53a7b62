"""The C structs and constants agree with their Python mirrors (bpf/structs.py), and the
datapath's conntrack timeouts with the reference model's."""

from __future__ import annotations

import ctypes

import pytest

from bpf import structs
from bpf.csource import INCLUDE_DIR, inline_includes
from bpf.testrun import run_program
from translator.model import conntrack

pytestmark = pytest.mark.bpf

_TIMEOUT_NAMES = {
    "CT_TIMEOUT_TCP_SYN_SENT": conntrack.TCP_TIMEOUTS["SYN_SENT"],
    "CT_TIMEOUT_TCP_SYN_RECV": conntrack.TCP_TIMEOUTS["SYN_RECV"],
    "CT_TIMEOUT_TCP_ESTABLISHED": conntrack.TCP_TIMEOUTS["ESTABLISHED"],
    "CT_TIMEOUT_TCP_FIN_WAIT": conntrack.TCP_TIMEOUTS["FIN_WAIT"],
    "CT_TIMEOUT_TCP_CLOSE_WAIT": conntrack.TCP_TIMEOUTS["CLOSE_WAIT"],
    "CT_TIMEOUT_TCP_LAST_ACK": conntrack.TCP_TIMEOUTS["LAST_ACK"],
    "CT_TIMEOUT_TCP_TIME_WAIT": conntrack.TCP_TIMEOUTS["TIME_WAIT"],
    "CT_TIMEOUT_TCP_CLOSE": conntrack.TCP_TIMEOUTS["CLOSE"],
    "CT_TIMEOUT_UDP": conntrack.UDP_TIMEOUT,
    "CT_TIMEOUT_UDP_STREAM": conntrack.UDP_TIMEOUT_STREAM,
    "CT_TIMEOUT_ICMP": conntrack.ICMP_TIMEOUT,
    "CT_TIMEOUT_GENERIC": conntrack.GENERIC_TIMEOUT,
}


def _facts() -> list[tuple[str, str, int]]:
    """(label, C expression, Python value) for every size, offset and constant mirrored."""
    facts = []
    for name, mirror in structs.STRUCTS.items():
        facts.append((f"sizeof({name})", f"sizeof(struct {name})", ctypes.sizeof(mirror)))
        for field, *_ in mirror._fields_:
            offset = getattr(mirror, field).offset
            facts.append((f"{name}.{field}", f"offsetof(struct {name}, {field})", offset))
    for name, value in sorted(structs.constants().items()):
        facts.append((name, name, value))
    return facts


def _layout_program(facts: list[tuple[str, str, int]]) -> str:
    body = "".join(f"\tkey = {index}; value = (__u64)({expr}); layout.update(&key, &value);\n"
                   for index, (_, expr, _) in enumerate(facts))
    return ('#include "datapath.h"\n#include "chains.h"\n'
            f"BPF_ARRAY(layout, __u64, {len(facts)});\n"
            "int report(struct __sk_buff *skb)\n{\n\t__u32 key;\n\t__u64 value;\n"
            f"{body}\treturn TC_ACT_OK;\n}}\n")


def test_c_layout_and_constants_match_the_python_mirrors() -> None:
    from bcc import BPF

    facts = _facts()
    bpf = BPF(text=inline_includes(_layout_program(facts), INCLUDE_DIR).encode(),
              cflags=["-Wno-unused-function"])
    prog = bpf.load_func(b"report", BPF.SCHED_CLS)
    run_program(prog.fd, bytes(64))
    table = bpf.get_table(b"layout")
    c_side = {label: table[table.Key(index)].value for index, (label, _, _) in enumerate(facts)}
    python_side = {label: value for label, _, value in facts}
    assert c_side == python_side


def test_timeouts_are_the_models() -> None:
    assert {name: structs.CT_TIMEOUTS[name] for name in _TIMEOUT_NAMES} == _TIMEOUT_NAMES


def test_no_holes_in_shared_structs() -> None:
    """Explicit padding everywhere: the fields of every mirror cover its whole size."""
    for name, mirror in structs.STRUCTS.items():
        covered = sum(ctypes.sizeof(kind) for _, kind in mirror._fields_)
        assert covered == ctypes.sizeof(mirror), name
