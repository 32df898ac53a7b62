"""DNAT, SNAT, MASQUERADE, REDIRECT: parse, save, -L, errors, kernel refusals.

Every expected value was read off iptables-legacy 1.8.9 (``iptables -t nat -A ...``,
``iptables-save``, ``iptables -L [-n]``) in a throwaway network namespace.
"""

from __future__ import annotations

import pytest

from iptparse.errors import KernelRejection, ParameterProblem
from iptparse.grammar.tokens import c_strtoul, c_uint
from tests.unit.ext_harness import committed_table, listing_line, raised_error, saved_rule_spec

pytestmark = pytest.mark.unit

NEED = "Need TCP, UDP, SCTP or DCCP with port specification"


@pytest.mark.parametrize(("chain", "rule", "save"), [
    ("PREROUTING", "-j DNAT --to-destination 1.1.1.1", "="),
    ("PREROUTING", "-j DNAT --to-destination 1.1.1.1-1.1.1.10", "="),
    ("PREROUTING", "-j DNAT --to-destination 1.1.1.10-1.1.1.1", "="),
    ("PREROUTING", "-j DNAT --to-destination 1.1.1.1-1.1.1.1", "-j DNAT --to-destination 1.1.1.1"),
    ("PREROUTING", "-j DNAT --to 1.1.1.1", "-j DNAT --to-destination 1.1.1.1"),
    ("PREROUTING", "-j DNAT --to-destination 0.0.0.0", "="),
    ("PREROUTING", "-p tcp -j DNAT --to-destination 1.1.1.1:80", "="),
    ("PREROUTING", "-p tcp -j DNAT --to-destination :80-90", "="),
    ("PREROUTING", "-p tcp -j DNAT --to-destination 1.1.1.1-1.1.1.10:1025-65535", "="),
    ("PREROUTING", "-p tcp -j DNAT --to-destination 1.1.1.1:1000-2000/1000 --random --persistent",
     "="),
    ("PREROUTING", "-p tcp -j DNAT --persistent --random --to-destination 1.1.1.1:10-20/30",
     "-p tcp -j DNAT --to-destination 1.1.1.1:10-20/30 --random --persistent"),
    ("PREROUTING", "-p tcp -j DNAT --to-destination 1.1.1.1:80-80/80",
     "-p tcp -j DNAT --to-destination 1.1.1.1:80/80"),
    ("PREROUTING", "-p tcp -j DNAT --to-destination 1.1.1.1:0-0",
     "-p tcp -j DNAT --to-destination 1.1.1.1:0"),
    ("PREROUTING", "-p tcp -j DNAT --to-destination 1.1.1.1:0x50",
     "-p tcp -j DNAT --to-destination 1.1.1.1:80"),
    ("PREROUTING", "-p tcp -j DNAT --to-destination '1.1.1.1: +80'",
     "-p tcp -j DNAT --to-destination 1.1.1.1:80"),
    ("PREROUTING", "-p tcp -j DNAT --to-destination 1.1.1.1:ftp-data",
     "-p tcp -j DNAT --to-destination 1.1.1.1:20"),
    ("PREROUTING", "-p tcp -j DNAT --to-destination 1.1.1.1:10-20/ftp",
     "-p tcp -j DNAT --to-destination 1.1.1.1:10-20/21"),
    ("PREROUTING", "-p tcp -j DNAT --to-destination 1.1.1.1:1-2/3/4",
     "-p tcp -j DNAT --to-destination 1.1.1.1:1-2/3"),
    ("PREROUTING", "-p icmp -j DNAT --to-destination 1.1.1.1:80", "="),
    ("PREROUTING", "! -p tcp -j DNAT --to-destination 1.1.1.1:80", "="),
    ("OUTPUT", "-p dccp -j DNAT --to-destination 1.1.1.1:80", "="),
    ("POSTROUTING", "-j SNAT --to-source 1.1.1.1 --random --random-fully --persistent", "="),
    ("POSTROUTING", "-j SNAT --persistent --random-f --to 1.1.1.1",
     "-j SNAT --to-source 1.1.1.1 --random-fully --persistent"),
    ("INPUT", "-p sctp -j SNAT --to-source 1.1.1.1-1.1.1.10:1025-65535", "="),
    # SNAT keeps the shift flag but not its value.
    ("POSTROUTING", "-p tcp -j SNAT --to-source 1.1.1.1:1000-2000/1000",
     "-p tcp -j SNAT --to-source 1.1.1.1:1000-2000/0"),
    ("POSTROUTING", "-j MASQUERADE", "="),
    ("POSTROUTING", "-j MASQUERADE --random-fully --random",
     "-j MASQUERADE --random --random-fully"),
    ("POSTROUTING", "-p udp -j MASQUERADE --to-ports 1024-65535", "="),
    ("POSTROUTING", "-p udp -j MASQUERADE --to-ports 0x10-020",
     "-p udp -j MASQUERADE --to-ports 16"),
    ("POSTROUTING", "-p udp -j MASQUERADE --to-ports 10-20/30",
     "-p udp -j MASQUERADE --to-ports 10-20/0"),
    ("POSTROUTING", "-p udp -j MASQUERADE --to-ports ssh", "-p udp -j MASQUERADE --to-ports 22"),
    ("PREROUTING", "-j REDIRECT", "="),
    ("OUTPUT", "-j REDIRECT --random", "="),
    ("PREROUTING", "-p tcp -j REDIRECT --to-ports 42-1234 --random", "="),
    ("PREROUTING", "-p udp -j REDIRECT --to-ports 512-512", "-p udp -j REDIRECT --to-ports 512"),
])
def test_saved(chain: str, rule: str, save: str) -> None:
    assert saved_rule_spec(rule, "nat", chain) == (rule if save == "=" else save)


@pytest.mark.parametrize(("rule", "message"), [
    ("-j DNAT", 'DNAT: option "--to-destination" must be specified\n'),
    ("-j DNAT --to-destination 1.1.1.1 --to-destination 2.2.2.2",
     'DNAT: option "--to-destination" can only be used once.\n'),
    ("-j DNAT --to-destination 1.1.1.1 ! --random",
     'DNAT: option "--random" cannot be inverted.\n'),
    ("-j DNAT --to-destination 1.1.1.1 --random-fully", 'unknown option "--random-fully"'),
    ("-j DNAT --to-destination 1.1.1.1:80", NEED),
    ("-p gre -j DNAT --to-destination 1.1.1.1:80", NEED),
    ("-p udplite -j DNAT --to-destination 1.1.1.1:80", NEED),
    ("-j DNAT --to-destination 1.1.1.1:80 -p tcp", NEED),
    ("-j DNAT --to-destination foo:80", NEED),
    ("-j DNAT --to-destination 1.1.1.1:80:90", 'Bad IP address "1.1.1.1:80:90"'),
    ("-p tcp -j DNAT --to-destination 1.1.1.1-1.1.1.2:80:90", 'Bad IP address "1.1.1.2:80:90"'),
    ("-j DNAT --to-destination foo", 'Bad IP address "foo"'),
    ("-j DNAT --to-destination localhost", 'Bad IP address "localhost"'),
    ("-j DNAT --to-destination 1.1.1", 'Bad IP address "1.1.1"'),
    ("-j DNAT --to-destination 1.1.1.01", 'Bad IP address "1.1.1.01"'),
    ("-j DNAT --to-destination 1.1.1.1/24", 'Bad IP address "1.1.1.1/24"'),
    ("-j DNAT --to-destination ''", 'Bad IP address ""'),
    ("-j DNAT --to-destination 1.1.1.1-", 'Bad IP address ""'),
    ("-j DNAT --to-destination 1.1.1.1-2.2.2.2-3.3.3.3", 'Bad IP address "2.2.2.2-3.3.3.3"'),
    ("-p tcp -j DNAT --to-destination 1.1.1.1:", "Port `' not valid"),
    ("-p tcp -j DNAT --to-destination 1.1.1.1:65536", "Port `65536' not valid"),
    ("-p tcp -j DNAT --to-destination 1.1.1.1:70000-80", "Port `70000-80' not valid"),
    ("-p tcp -j DNAT --to-destination 1.1.1.1:80-70000", "Port `70000' not valid"),
    ("-p tcp -j DNAT --to-destination 1.1.1.1:-90", "Port `-90' not valid"),
    ("-p tcp -j DNAT --to-destination 1.1.1.1:-0", "Port `-0' not valid"),
    ("-p tcp -j DNAT --to-destination 1.1.1.1:echo-ssh", "Port `echo-ssh' not valid"),
    ("-p tcp -j DNAT --to-destination 1.1.1.1:80-ssh", "Port `ssh' not valid"),
    ("-p tcp -j DNAT --to-destination 1.1.1.1:2000-1000/5", "Port range `1000/5' funky"),
    ("-p tcp -j DNAT --to-destination 1.1.1.1:080", "Garbage after port value: `80'"),
    ("-p tcp -j DNAT --to-destination 1.1.1.1:80/100", "Garbage after port value: `/100'"),
    ("-p tcp -j DNAT --to-destination 1.1.1.1:80-90-100", "Garbage after port range: `-100'"),
    ("-p tcp -j DNAT --to-destination foo:80x", "Garbage after port value: `x'"),
    ("-p tcp -j DNAT --to-destination 1.1.1.1:80-90/0x", "Port `0x' not valid"),
    ("-p tcp -j DNAT --to-destination 1.1.1.1:1000-2000/65536", "Port `65536' not valid"),
    ("-p tcp -j DNAT --to-destination 1.1.1.1:80-90/", "Port `' not valid"),
])
def test_dnat_errors(rule: str, message: str) -> None:
    err = raised_error(rule, "nat", "PREROUTING")
    assert isinstance(err, ParameterProblem)
    assert err.message == message


@pytest.mark.parametrize(("chain", "rule", "message"), [
    ("POSTROUTING", "-j SNAT", 'SNAT: option "--to-source" must be specified\n'),
    ("POSTROUTING", "-j SNAT --random", 'SNAT: option "--to-source" must be specified\n'),
    ("POSTROUTING", "-j SNAT --to-source 1.1.1.1 --rand", 'unknown option "--rand"'),
    ("POSTROUTING", "-j SNAT --to-source 1.1.1.1:1025-65535", NEED),
    ("POSTROUTING", "-p tcp -j SNAT --to-source 1.1.1.1:80-90/0", "Port `0' not valid"),
    ("POSTROUTING", "-j MASQUERADE --to-ports 1024", NEED),
    ("POSTROUTING", "-p udp -j MASQUERADE --to-ports 1024-65536", "Port `65536' not valid"),
    ("POSTROUTING", "-p udp -j MASQUERADE --to-ports -1", "Port `-1' not valid"),
    ("POSTROUTING", "-p udp -j MASQUERADE --to-ports 10:20", "Invalid port:port syntax - use dash"),
    ("POSTROUTING", "-p udp -j MASQUERADE --to-ports x:y", "Port `x:y' not valid"),
    ("POSTROUTING", "-p udp -j MASQUERADE --to-ports 10-20:30", "Garbage after port range: `:30'"),
    ("POSTROUTING", "-p udp -j MASQUERADE --persistent", 'unknown option "--persistent"'),
    ("POSTROUTING", "-p udp -j MASQUERADE --to-ports 1 --to-ports 2",
     'MASQUERADE: option "--to-ports" can only be used once.\n'),
    ("PREROUTING", "-j REDIRECT --to-ports 42", NEED),
    ("PREROUTING", "-p tcp -j REDIRECT --to-ports 42-1234/567",
     "Shifted portmap ranges not supported with this kernel"),
    ("PREROUTING", "-p tcp -j REDIRECT --to-ports 42-1234/0", "Port `0' not valid"),
    ("PREROUTING", "-p tcp -j REDIRECT --to-ports 10-ssh", "Port `ssh' not valid"),
    ("PREROUTING", "-p tcp -j REDIRECT --to-ports 20-10", "Port range `10' funky"),
    ("PREROUTING", "-p tcp -j REDIRECT --random-fully", 'unknown option "--random-fully"'),
])
def test_other_errors(chain: str, rule: str, message: str) -> None:
    err = raised_error(rule, "nat", chain)
    assert isinstance(err, ParameterProblem)
    assert err.message == message


@pytest.mark.parametrize(("table", "chain", "rule"), [
    ("nat", "INPUT", "-j DNAT --to-destination 1.1.1.1"),
    ("nat", "POSTROUTING", "-j DNAT --to-destination 1.1.1.1"),
    ("filter", "INPUT", "-j DNAT --to-destination 1.1.1.1"),
    ("mangle", "PREROUTING", "-j DNAT --to-destination 1.1.1.1"),
    ("nat", "OUTPUT", "-j SNAT --to-source 1.1.1.1"),
    ("nat", "PREROUTING", "-j SNAT --to-source 1.1.1.1"),
    ("filter", "INPUT", "-j SNAT --to-source 1.1.1.1"),
    ("nat", "INPUT", "-j MASQUERADE"),
    ("nat", "OUTPUT", "-j MASQUERADE"),
    ("nat", "PREROUTING", "-j MASQUERADE"),
    ("nat", "INPUT", "-j REDIRECT"),
    ("nat", "POSTROUTING", "-j REDIRECT"),
    ("filter", "INPUT", "-j REDIRECT"),
])
def test_kernel_refusals(table: str, chain: str, rule: str) -> None:
    assert isinstance(raised_error(rule, table, chain), KernelRejection)


@pytest.mark.parametrize(("chain", "rule", "numeric", "names"), [
    ("PREROUTING", "-p tcp -j DNAT --to-destination 1.1.1.1:1000-2000/1000 --random --persistent",
     "DNAT       6    --  0.0.0.0/0            0.0.0.0/0            "
     "to:1.1.1.1:1000-2000/1000 random persistent",
     "DNAT       tcp  --  anywhere             anywhere             "
     "to:1.1.1.1:1000-2000/1000 random persistent"),
    ("PREROUTING", "-p tcp -j DNAT --to-destination :80",
     "DNAT       6    --  0.0.0.0/0            0.0.0.0/0            to::80",
     "DNAT       tcp  --  anywhere             anywhere             to::80"),
    ("POSTROUTING", "-j SNAT --to-source 1.1.1.1 --random --random-fully --persistent",
     "SNAT       0    --  0.0.0.0/0            0.0.0.0/0            "
     "to:1.1.1.1 random random-fully persistent",
     "SNAT       all  --  anywhere             anywhere             "
     "to:1.1.1.1 random random-fully persistent"),
    ("POSTROUTING", "-j MASQUERADE",
     "MASQUERADE  0    --  0.0.0.0/0            0.0.0.0/0           ",
     "MASQUERADE  all  --  anywhere             anywhere            "),
    ("POSTROUTING", "-p tcp -j MASQUERADE --to-ports 1024-2048 --random-fully --random",
     "MASQUERADE  6    --  0.0.0.0/0            0.0.0.0/0            "
     "masq ports: 1024-2048 random random-fully",
     "MASQUERADE  tcp  --  anywhere             anywhere             "
     "masq ports: 1024-2048 random random-fully"),
    ("PREROUTING", "-p tcp -j REDIRECT --to-ports 42-1234 --random",
     "REDIRECT   6    --  0.0.0.0/0            0.0.0.0/0            redir ports 42-1234 random",
     "REDIRECT   tcp  --  anywhere             anywhere             redir ports 42-1234 random"),
    ("PREROUTING", "-j REDIRECT --random",
     "REDIRECT   0    --  0.0.0.0/0            0.0.0.0/0            random",
     "REDIRECT   all  --  anywhere             anywhere             random"),
])
def test_listing(chain: str, rule: str, numeric: str, names: str) -> None:
    assert listing_line(rule, True, "nat", chain) == numeric
    assert listing_line(rule, False, "nat", chain) == names


def test_same_kernel_rule_compares_equal() -> None:
    # 1.1.1.1-1.1.1.1 and 1.1.1.1 are one kernel range: -D of one finds the other.
    one = committed_table("-j DNAT --to-destination 1.1.1.1-1.1.1.1", "nat", "PREROUTING")
    other = committed_table("-j DNAT --to-destination 1.1.1.1", "nat", "PREROUTING")
    assert one.chains["PREROUTING"].rules == other.chains["PREROUTING"].rules


@pytest.mark.parametrize(("text", "result"), [
    ("80", (80, 2)), (" +0x10z", (16, 6)), ("020", (16, 3)), ("0x", (0, 1)), ("-5", None),
    ("ssh", None), ("", None),
])
def test_c_strtoul(text: str, result: tuple[int, int] | None) -> None:
    assert c_strtoul(text) == result


def test_c_uint() -> None:
    assert c_uint(" +3") == 3
    assert c_uint("3 ") is None
    assert c_uint("-0") is None
