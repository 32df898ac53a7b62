"""Conntrack tuples, states, timeouts and NAT port choice in the reference model."""

from __future__ import annotations

import pytest

from translator.model.conntrack import (
    Connection,
    ConntrackTable,
    FlowTuple,
    new_tcp_state,
    next_tcp_state,
    packet_tuple,
)
from translator.model.nat import NatRange, translate
from translator.model.packet import TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, Packet

pytestmark = pytest.mark.unit


def test_icmp_echo_reply_tuple_is_the_inverse() -> None:
    echo = packet_tuple(Packet(1, 2, protocol=1, icmp_type=8, sport=77))
    assert echo.inverse() == FlowTuple(1, 2, 77, 1, 0)


@pytest.mark.parametrize(("flags", "state"), [
    (TCP_SYN, "SYN_SENT"), (TCP_ACK, "ESTABLISHED"), (TCP_SYN | TCP_ACK, None),
    (TCP_RST, None), (TCP_FIN, None), (0, None)])
def test_what_can_start_a_tcp_connection(flags: int, state: str | None) -> None:
    assert new_tcp_state(flags) == state


def test_tcp_handshake_and_close() -> None:
    state = new_tcp_state(TCP_SYN)
    state = next_tcp_state(state, TCP_SYN | TCP_ACK, reply=True)
    assert state == "SYN_RECV"
    state = next_tcp_state(state, TCP_ACK, reply=False)
    assert state == "ESTABLISHED"
    assert next_tcp_state(state, TCP_RST, reply=True) == "CLOSE"


def test_table_finds_both_directions_and_expires() -> None:
    table = ConntrackTable()
    flow = FlowTuple(17, 1, 1000, 2, 53)
    table.store(Connection(flow, flow.inverse()), now=0.0)
    assert table.find(flow, 1.0) is not None
    assert table.find(flow.inverse(), 1.0)[1] is True
    assert table.find(flow, 31.0) is None  # unreplied UDP lives 30 s
    assert len(table) == 0


def test_snat_keeps_the_port_unless_the_reply_tuple_is_taken() -> None:
    flow = FlowTuple(6, 10, 40000, 20, 80)
    masq = NatRange("SNAT", 99, 99)
    assert translate(flow, masq, lambda reply: False).flow == FlowTuple(6, 99, 40000, 20, 80)
    taken = {FlowTuple(6, 20, 80, 99, 40000)}
    moved = translate(flow, masq, taken.__contains__)
    assert moved.flow is not None and moved.flow.sport != 40000
    assert moved.chosen_from == (1024, 65535)


def test_dnat_to_a_port_and_exhaustion() -> None:
    flow = FlowTuple(17, 10, 5000, 20, 53)
    dnat = NatRange("DNAT", 30, 30, 8053, 8053)
    assert translate(flow, dnat, lambda reply: False).flow == FlowTuple(17, 10, 5000, 30, 8053)
    # the kernel keeps a taken DNAT tuple (the null SNAT binding then moves the source port,
    # as test_model_local_vs_kernel found); only a source range with no free port drops
    assert translate(flow, dnat, lambda reply: True).flow == FlowTuple(17, 10, 5000, 30, 8053)
    snat = NatRange("SNAT", 40, 40, 6000, 6000)
    assert translate(flow, snat, lambda reply: True).flow is None
