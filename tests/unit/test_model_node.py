"""The reference model's node: NAT bindings applied and undone, RELATED ICMP errors, REJECT.

Behaviour read off the kernel by tests/differential/test_model_*_vs_kernel.py; these are the
same facts as fixed, root-free examples.
"""

from __future__ import annotations

import pytest

from iptparse.grammar.restore import RestoreOptions, Restorer
from iptparse.model import Ruleset
from tests.netns.packets import unreachable
from translator.model.node import Node
from translator.model.packet import IPPROTO_ICMP, IPPROTO_UDP, Host, Packet, address

pytestmark = pytest.mark.unit

RULES = """*nat
-A PREROUTING -d 198.18.5.5 -p udp -j DNAT --to-destination 198.18.1.2:5353
-A POSTROUTING -o n1 -j MASQUERADE
COMMIT
*filter
-A FORWARD -p udp --dport 9 -j REJECT
COMMIT
"""


def _node() -> Node:
    host = Host({"n0": (address("198.18.0.1"), 24), "n1": (address("198.18.1.1"), 24)})
    return Node(Restorer().restore(RULES, Ruleset(), RestoreOptions()), host,
                icmp_ratelimit_ms=0)


def test_icmp_error_from_the_endpoint_reaches_the_client_as_from_the_service() -> None:
    node = _node()
    query = Packet(address("198.18.0.2"), address("198.18.5.5"), IPPROTO_UDP, 40000, 53)
    out = node.receive(query, "n0").packet
    assert (out.src, out.dst, out.dport) == (address("198.18.1.1"), address("198.18.1.2"), 5353)
    error = node.receive(unreachable(out), "n1")
    assert error.state == "RELATED" and error.verdict == "ACCEPT"
    assert (error.packet.src, error.packet.dst) == (address("198.18.5.5"), address("198.18.0.2"))
    quoted = error.packet.embedded
    assert quoted is not None
    assert (quoted.src, quoted.sport, quoted.dst, quoted.dport) == (
        address("198.18.0.2"), 40000, address("198.18.5.5"), 53)


def test_reject_answers_with_port_unreachable_quoting_the_packet() -> None:
    node = _node()
    probe = Packet(address("198.18.0.2"), address("198.18.1.2"), IPPROTO_UDP, 40001, 9)
    outcome = node.receive(probe, "n0")
    assert outcome.verdict == "DROP" and outcome.reply is not None
    reply = outcome.reply
    assert (reply.protocol, reply.icmp_type, reply.icmp_code) == (IPPROTO_ICMP, 3, 3)
    assert reply.src == address("198.18.0.1")  # the interface it came in on
    assert reply.embedded is not None and reply.embedded.dport == 9


def test_icmp_errors_are_rate_limited_per_peer_by_default() -> None:
    host = Host({"n0": (address("198.18.0.1"), 24), "n1": (address("198.18.1.1"), 24)})
    node = Node(Restorer().restore(RULES, Ruleset(), RestoreOptions()), host)
    answered = [node.receive(Packet(address("198.18.0.2"), address("198.18.1.2"), IPPROTO_UDP,
                                    41000 + n, 9), "n0").reply is not None for n in range(8)]
    assert answered == [True] * 6 + [False] * 2  # a burst of six, then one a second
