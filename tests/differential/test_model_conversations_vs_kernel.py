"""Differential: conversations through a NATing, stateful node, model against the kernel.

Hypothesis builds nat, mangle and filter rule sets in the shape kube-proxy and CNI plugins use
(DNAT of a service address to the server, MASQUERADE/SNAT, marks and connmarks, conntrack states,
REJECT) and conversations: the client sends, the server answers what it received, the client
sends again. The node runs the rules in iptables-legacy; the reference model runs them too.
For every packet: delivered or not, the addresses and ports it arrived with, the REJECT answer
the client got; after every example: each rule's and policy's packet counter.

Only forwarded traffic is generated (the service address 198.18.5.5 is routed to the server
when nothing translates it), so the node's own kernel never answers; its OUTPUT chains see only
REJECT's answers, so their counters are not compared. ``BPFTABLES_MODEL_EXAMPLES`` raises the
number of examples.
"""

from __future__ import annotations

import os
import subprocess
from collections import Counter
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from iptparse.grammar.restore import RestoreOptions, Restorer
from iptparse.model import Ruleset
from tests.netns.conversation import Step, converse
from tests.netns.topology import (
    NODE_SERVER_SIDE,
    SERVER_ADDR,
    Topology,
    node_host,
)
from tests.oracle import LegacyIptables
from translator.model.node import Node
from translator.model.packet import (
    IPPROTO_ICMP,
    IPPROTO_TCP,
    IPPROTO_UDP,
)

pytestmark = pytest.mark.netns

EXAMPLES = int(os.environ.get("BPFTABLES_MODEL_EXAMPLES", "25"))
DROP_WAIT = 0.08
SERVICE = "198.18.5.5"

NAT_PREROUTING = [
    f"-A PREROUTING -d {SERVICE} -p tcp --dport 80 -j DNAT --to-destination {SERVER_ADDR}:8080",
    f"-A PREROUTING -d {SERVICE} -p udp -j DNAT --to-destination {SERVER_ADDR}",
    f"-A PREROUTING -d {SERVICE} -p icmp -j DNAT --to-destination {SERVER_ADDR}",
    f"-A PREROUTING -d {SERVICE} -j SVC",
    "-A PREROUTING -p tcp --dport 81 -j MARK --set-xmark 0x4000/0x4000",
    "-A PREROUTING -s 198.18.0.0/24 -j RETURN",
]
NAT_SVC = [
    "-A SVC -j MARK --or-mark 0x4000",
    f"-A SVC -p tcp -m multiport --dports 80,81 -j DNAT --to-destination {SERVER_ADDR}:8081",
    f"-A SVC -p udp -j DNAT --to-destination {SERVER_ADDR}:5353",
    "-A SVC -j RETURN",
]
NAT_POSTROUTING = [
    "-A POSTROUTING -m mark --mark 0x4000/0x4000 -j MASQUERADE",
    f"-A POSTROUTING -o n1 -j SNAT --to-source {NODE_SERVER_SIDE}",
    "-A POSTROUTING -p udp -o n1 -j MASQUERADE --to-ports 20000-20010",
    "-A POSTROUTING -m conntrack --ctstate DNAT -j RETURN",
    "-A POSTROUTING -s 198.18.0.0/24 ! -o n0 -j MASQUERADE",
]
EVERY_TABLE_EMPTY = "".join(f"*{table}\nCOMMIT\n"
                            for table in ("raw", "mangle", "nat", "filter", "security"))
RAW_PREROUTING = [
    "-A PREROUTING -p udp --dport 53 -j NOTRACK",
    "-A PREROUTING -p icmp -j CT --notrack",
    "-A PREROUTING -m mark --mark 0x1 -j NOTRACK",
]
MANGLE_PREROUTING = [
    "-A PREROUTING -j CONNMARK --restore-mark",
    "-A PREROUTING -p udp -j MARK --set-xmark 0x1/0xff",
    "-A PREROUTING -m mark --mark 0x1/0xff -j CONNMARK --save-mark",
    "-A PREROUTING -m connmark --mark 0x1 -j ACCEPT",
]
FILTER_FORWARD = [
    "-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
    "-A FORWARD -m state --state NEW -p tcp --syn -j ACCEPT",
    "-A FORWARD -m conntrack --ctstate INVALID -j DROP",
    "-A FORWARD -m conntrack --ctstate UNTRACKED -p udp -j ACCEPT",
    "-A FORWARD -m state --state UNTRACKED -j DROP",
    "-A FORWARD -p udp --dport 53 -j REJECT",
    "-A FORWARD -p tcp --dport 8081 -j REJECT --reject-with tcp-reset",
    "-A FORWARD -p icmp -j REJECT --reject-with icmp-host-prohibited",
    "-A FORWARD -m mark --mark 0x4000/0x4000 -j ACCEPT",
    "-A FORWARD -m conntrack --ctstate DNAT -j ACCEPT",
    "-A FORWARD -p udp -m multiport --dports 5353,53 -j DROP",
    "-A FORWARD -i n1 -j ACCEPT",
    "-A FORWARD -j CHECK",
]
FILTER_CHECK = [
    "-A CHECK -m connmark --mark 0x1 -j ACCEPT",
    "-A CHECK -p tcp -m tcp --tcp-flags SYN,ACK ACK -j DROP",
    "-A CHECK -j RETURN",
]


@st.composite
def ruleset_text(draw: st.DrawFn) -> str:
    def some(lines: list[str]) -> list[str]:
        return draw(st.lists(st.sampled_from(lines), max_size=4))

    text = ["*raw", *some(RAW_PREROUTING), "COMMIT",
            "*mangle", *some(MANGLE_PREROUTING), "COMMIT", "*nat", ":SVC - [0:0]",
            *some(NAT_PREROUTING), *some(NAT_SVC), *some(NAT_POSTROUTING), "COMMIT",
            "*filter", f":FORWARD {draw(st.sampled_from(['ACCEPT', 'DROP']))} [0:0]",
            ":CHECK - [0:0]", *some(FILTER_FORWARD), *some(FILTER_CHECK), "COMMIT"]
    return "\n".join(text) + "\n"


STEPS = st.one_of(
    st.builds(Step, st.just("client"), st.sampled_from([IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP]),
              st.sampled_from([40000, 40001]), st.booleans(), st.sampled_from([80, 81, 53]),
              st.booleans()),
    st.builds(Step, st.just("server")),
    st.builds(Step, st.just("error")),
)


@pytest.fixture(scope="module")
def topology() -> Iterator[Topology]:
    topo = Topology.create()
    try:
        topo.silence_ends()
        subprocess.run(["ip", "-n", topo.node, "route", "add", "198.18.5.0/24", "via",
                        SERVER_ADDR], check=True)
        # every REJECT answer is sent, however fast the test goes (the model has the same knob)
        subprocess.run(["ip", "netns", "exec", topo.node, "sysctl", "-qw",
                        "net.ipv4.icmp_ratelimit=0"], check=True)
        yield topo
    finally:
        topo.close()


def not_output(counts: Counter) -> Counter:
    """Counters but the OUTPUT chains' (REJECT's answers cross them)."""
    return Counter({key: count for key, count in counts.items() if key[1] != "OUTPUT" and count})


# Every disagreement hypothesis found between the model and the kernel, kept as an example.
_EMPTY = ("*mangle\nCOMMIT\n*nat\n:SVC - [0:0]\nCOMMIT\n*filter\n:FORWARD ACCEPT [0:0]\n"
          ":CHECK - [0:0]\n")
REGRESSIONS = [
    # MASQUERADE --to-ports outside the original port: the kernel picks the port
    ("*mangle\nCOMMIT\n*nat\n:SVC - [0:0]\n-A POSTROUTING -p udp -o n1 -j MASQUERADE "
     "--to-ports 20000-20010\nCOMMIT\n*filter\n:FORWARD ACCEPT [0:0]\n:CHECK - [0:0]\nCOMMIT\n",
     [Step("client", IPPROTO_UDP, 40000, False, 80, True)]),
    # no rule needs conntrack: packets carry no connection and the nat chains never run
    (_EMPTY + "COMMIT\n", [Step("client", IPPROTO_TCP, 40000, False, 80, False)]),
    # an echo reply keeps its query id through NAT (the id is both ends' "port")
    ("*mangle\nCOMMIT\n*nat\n:SVC - [0:0]\n-A PREROUTING -d 198.18.5.5 -p icmp -j DNAT "
     "--to-destination 198.18.1.2\nCOMMIT\n*filter\n:FORWARD ACCEPT [0:0]\n:CHECK - [0:0]\n"
     "COMMIT\n", [Step("client", IPPROTO_ICMP, 40000, True, 80, True), Step("server")]),
    # the same client port to the service and to its endpoint: the null SNAT binding moves
    # the second connection's source port (both orders)
    ("*mangle\nCOMMIT\n*nat\n:SVC - [0:0]\n-A PREROUTING -d 198.18.5.5 -p udp -j DNAT "
     "--to-destination 198.18.1.2\nCOMMIT\n*filter\n:FORWARD ACCEPT [0:0]\n:CHECK - [0:0]\n"
     "COMMIT\n", [Step("client", IPPROTO_UDP, 40000, True, 80, False),
                  Step("client", IPPROTO_UDP, 40000, False, 80, False)]),
    ("*mangle\nCOMMIT\n*nat\n:SVC - [0:0]\n-A PREROUTING -d 198.18.5.5 -p udp -j DNAT "
     "--to-destination 198.18.1.2\nCOMMIT\n*filter\n:FORWARD ACCEPT [0:0]\n:CHECK - [0:0]\n"
     "COMMIT\n", [Step("client", IPPROTO_UDP, 40000, False, 80, False),
                  Step("client", IPPROTO_UDP, 40000, True, 80, False)]),
    # REJECT's ICMP error is RELATED: it leaves through POSTROUTING, seemingly from the service
    ("*mangle\nCOMMIT\n*nat\n:SVC - [0:0]\n-A PREROUTING -d 198.18.5.5 -p icmp -j DNAT "
     "--to-destination 198.18.1.2\nCOMMIT\n*filter\n:FORWARD ACCEPT [0:0]\n:CHECK - [0:0]\n"
     "-A FORWARD -p icmp -j REJECT --reject-with icmp-host-prohibited\nCOMMIT\n",
     [Step("client", IPPROTO_ICMP, 40000, True, 80, False)]),
    # ... and without NAT it stays the node's own
    (_EMPTY + "-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
     "-A FORWARD -p icmp -j REJECT --reject-with icmp-host-prohibited\nCOMMIT\n",
     [Step("client", IPPROTO_TCP, 40000, False, 80, False),
      Step("client", IPPROTO_ICMP, 40000, False, 80, False)]),
    # REJECT's reset is not ICMP: it runs the nat chains of the binding its connection lacks
    ("*mangle\nCOMMIT\n*nat\n:SVC - [0:0]\n-A PREROUTING -d 198.18.5.5 -j SVC\n-A SVC -p tcp "
     "-m multiport --dports 80,81 -j DNAT --to-destination 198.18.1.2:8081\nCOMMIT\n*filter\n"
     ":FORWARD ACCEPT [0:0]\n:CHECK - [0:0]\n-A FORWARD -p tcp --dport 8081 -j REJECT "
     "--reject-with tcp-reset\nCOMMIT\n", [Step("client", IPPROTO_TCP, 40000, True, 80, False)]),
    # NOTRACK (like CT --notrack) does not turn connection tracking on
    ("*raw\n-A PREROUTING -p udp --dport 53 -j NOTRACK\nCOMMIT\n" + _EMPTY + "COMMIT\n",
     [Step("client", IPPROTO_TCP, 40000, False, 80, False)]),
    # an untracked ICMP error is not RELATED: sent to the SNAT address, it stays in the node
    ("*raw\n-A PREROUTING -p icmp -j CT --notrack\nCOMMIT\n*mangle\nCOMMIT\n*nat\n"
     ":SVC - [0:0]\n-A POSTROUTING -o n1 -j SNAT --to-source 198.18.1.1\nCOMMIT\n*filter\n"
     ":FORWARD ACCEPT [0:0]\n:CHECK - [0:0]\nCOMMIT\n",
     [Step("client", IPPROTO_TCP, 40000, False, 80, False), Step("error")]),
    # REJECT never answers an ICMP error
    (_EMPTY + "-A FORWARD -p icmp -j REJECT --reject-with icmp-host-prohibited\nCOMMIT\n",
     [Step("client", IPPROTO_TCP, 40000, False, 80, False), Step("error")]),
    # CONNMARK on an untracked packet has no entry: its mark is left as it is
    ("*raw\n-A PREROUTING -p udp --dport 53 -j NOTRACK\nCOMMIT\n*mangle\n"
     "-A PREROUTING -p udp -j MARK --set-xmark 0x1/0xff\n"
     "-A PREROUTING -j CONNMARK --restore-mark\n"
     "-A PREROUTING -m mark --mark 0x1/0xff -j CONNMARK --save-mark\nCOMMIT\n*nat\n"
     ":SVC - [0:0]\nCOMMIT\n*filter\n:FORWARD ACCEPT [0:0]\n:CHECK - [0:0]\nCOMMIT\n",
     [Step("client", IPPROTO_UDP, 40000, False, 53, False)]),
]


def _regressions(test):  # type: ignore[no-untyped-def]
    for text, steps in REGRESSIONS:
        test = example(text=text, steps=steps)(test)
    return test


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=ruleset_text(), steps=st.lists(STEPS, min_size=1, max_size=5))
@_regressions
def test_conversations_match_the_kernel(topology: Topology, text: str,
                                        steps: list[Step]) -> None:
    node = LegacyIptables(topology.node)
    node.run(["conntrack", "-F"])
    # every table exists and starts empty on both sides, whatever the example names
    text = EVERY_TABLE_EMPTY + text
    loaded = node.restore(text)
    assert loaded.code == 0, loaded.err
    for table in ("raw", "mangle", "nat", "filter", "security"):
        node.run(["iptables-legacy", "-t", table, "-Z"])
    model = Node(Restorer().restore(text, Ruleset(), RestoreOptions()), node_host("198.18.5.0/24"),
                 icmp_ratelimit_ms=0)
    converse(topology, model, steps, SERVICE, DROP_WAIT, text)
    assert not_output(node.packet_counters()) == not_output(model.counters), text
