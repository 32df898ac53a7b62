"""``-m udp``: parsing, iptables-save text, -L text, messages, kernel refusal.

Every expected value below was read off iptables-legacy 1.8.9 (``iptables -A INPUT ...``, then
``iptables-save``, ``iptables -L INPUT -n`` and ``iptables -L INPUT``) in a scratch netns.
"""

from __future__ import annotations

import pytest

from iptparse.errors import KernelRejection, ParameterProblem
from tests.unit.ext_harness import committed_table, listed_matches, save_lines

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("words", "save"), [
    ("-p udp --dport 53", "-p udp -m udp --dport 53"),
    ("-p udp --sport domain:65535", "-p udp -m udp --sport 53:65535"),
    ("-p udp --dport tftp", "-p udp -m udp --dport 69"),
    ("-p udp --dport http:https", "-p udp -m udp --dport 80:443"),  # any protocol's names
    ("-p udp --dport 08", "-p udp -m udp --dport 8"),  # decimal only
    ("-p udp --dport 010", "-p udp -m udp --dport 10"),
    ("-p udp --dport ' 80'", "-p udp -m udp --dport 80"),
    ("-p udp --dport +80", "-p udp -m udp --dport 80"),
    ("-p udp --dport -0", "-p udp -m udp --dport 0"),
    ("-p udp --dport ''", "-p udp -m udp --dport 0"),
    ("-p udp -m udp --sport 65536", "-p udp -m udp --sport 0"),  # low 16 bits kept
    ("-p udp --dport 70000", "-p udp -m udp --dport 4464"),
    ("-p udp --dport 4294967297", "-p udp -m udp --dport 1"),
    ("-p udp --dport 80:70", "-p udp -m udp --dport 80:70"),  # no order check
    ("-p udp --dport :80", "-p udp -m udp --dport 0:80"),
    ("-p udp --dport 80:", "-p udp -m udp --dport 80:65535"),
    ("-p udp --dport '1: 2'", "-p udp -m udp --dport 1:2"),
    ("-p udp --dport 5:5", "-p udp -m udp --dport 5"),
    ("-p udp --dport :", "-p udp -m udp"),
    ("-p udp ! --sport 0:65535", "-p udp -m udp"),
    ("-p udp ! --dport 3 --sport 1:2", "-p udp -m udp --sport 1:2 ! --dport 3"),
    ("-p udp --dport=53", "-p udp -m udp --dport 53"),
    ("-m udp --dport 1 -p 17", "-p udp -m udp --dport 1"),
    ("-p udp --dport 1 -m udp --dport 2", "-p udp -m udp --dport 1 -m udp --dport 2"),
    ("-p udp -m udp", "-p udp -m udp"),
])
def test_save(words: str, save: str) -> None:
    assert save_lines(words) == f"-A INPUT {save}"


@pytest.mark.parametrize(("words", "message"), [
    ("-p udp --dport 1 --dport 2", 'udp: option "--destination-port" can only be used once.\n'),
    ("-p udp --sport 1 --source-port 2", 'udp: option "--source-port" can only be used once.\n'),
    ("-p udp --dport 1 --dport foo",
     'udp: option "--destination-port" can only be used once.\n'),
    ("-p udp --dport foo --dport 1", 'Port "foo" does not resolve to anything.\n'),
    ("-p udp --dport -1", 'Port "-1" does not resolve to anything.\n'),
    ("-p udp --dport 0x50", 'Port "0x50" does not resolve to anything.\n'),
    ("-p udp --dport 4294967295", 'Port "4294967295" does not resolve to anything.\n'),
    ("-p udp --dport '80 '", 'Port "80 " does not resolve to anything.\n'),
    ("-p udp --dport 1,2", 'Port "1,2" does not resolve to anything.\n'),
    ("-p udp --dport 1:foo", 'Port "foo" does not resolve to anything.\n'),
    ("-p udp --dport foo:1:2", 'Port "foo" does not resolve to anything.\n'),
    ("-p udp --dport 1:2:foo",
     'udp: Too many components for option "--destination-port" (max: 2)\n'),
    ("-p udp --sport ::", 'udp: Too many components for option "--source-port" (max: 2)\n'),
    ("-p udp --syn", 'unknown option "--syn"'),
])
def test_errors(words: str, message: str) -> None:
    with pytest.raises(ParameterProblem) as error:
        committed_table(words)
    assert error.value.message == message


@pytest.mark.parametrize("words", [
    "-m udp --dport 1", "! -p udp -m udp", "-p tcp -m udp --dport 1",
])
def test_kernel_refuses_without_udp_protocol(words: str) -> None:
    with pytest.raises(KernelRejection):
        committed_table(words)


@pytest.mark.parametrize(("words", "numeric", "names"), [
    ("-p udp --dport 53", " udp dpt:53", " udp dpt:domain"),
    ("-p udp --dport 80", " udp dpt:80", " udp dpt:80"),  # http is tcp-only
    ("-p udp --sport domain:65535", " udp spts:53:65535", " udp spts:domain:65535"),
    ("-p udp --sport 1:2 ! --dport 3", " udp spts:1:2 dpt:!3", " udp spts:1:2 dpt:!3"),
    ("-p udp ! --sport 0:65535", " udp spts:!0:65535", " udp spts:!0:65535"),
    ("-p udp --dport 65535:0", " udp dpts:65535:0", " udp dpts:65535:0"),
    ("-p udp -m udp", " udp", " udp"),
])
def test_listing(words: str, numeric: str, names: str) -> None:
    assert listed_matches(words, True) == numeric
    assert listed_matches(words, False) == names
