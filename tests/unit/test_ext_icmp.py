"""``-m icmp``: parsing, iptables-save text, -L text, messages, kernel refusal.

Every expected value below was read off iptables-legacy 1.8.9 (``iptables -A INPUT ...``, then
``iptables-save``, ``iptables -L INPUT -n`` and ``iptables -L INPUT``, and the name list of
``iptables -p icmp -h``) in a scratch netns.
"""

from __future__ import annotations

import pytest

from iptparse.errors import KernelRejection, ParameterProblem
from iptparse.extensions.icmp import ICMP_NAMES
from tests.unit.ext_harness import committed_table, listed_matches, save_lines

pytestmark = pytest.mark.unit

# iptables-save's text for each name of ICMP_NAMES, in order.
NAME_SAVES = ("any 0 0 3 3/0 3/1 3/2 3/3 3/4 3/5 3/6 3/7 3/9 3/10 3/11 3/12 3/13 3/14 3/15 4 5 5/0 "
              "5/1 5/2 5/3 8 8 9 10 11 11 11/0 11/1 12 12/0 12/1 13 14 17 18").split()


@pytest.mark.parametrize(("name", "save"),
                         list(zip([entry[0] for entry in ICMP_NAMES], NAME_SAVES, strict=True)))
def test_every_name(name: str, save: str) -> None:
    assert save_lines(f"-p icmp --icmp-type {name}") == (
        f"-A INPUT -p icmp -m icmp --icmp-type {save}")


@pytest.mark.parametrize(("value", "save"), [
    ("8", "8"), ("ECHO-REQUEST", "8"), ("ttl-e", "11"), ("an", "any"), ("255", "any"),
    ("255/3", "any"), ("0x3", "3"), ("' 8'", "8"), ("+8", "8"), ("3/0", "3/0"), ("7/7", "7/7"),
    ("3/1:2", "3/1"), ("3/0:255", "3"), ("3/0:254", "3/0"), ("3/5:1", "3/5"), ("3:3", "3"),
    ("3:3/1", "3/1"), ("3:03", "3"), ("'3: 3'", "3"), ("'3/ 1'", "3/1"), ("3/+1", "3/1"),
    ("3/0x1", "3/1"), ("255:255/3:3", "any"),
])
def test_save(value: str, save: str) -> None:
    assert save_lines(f"-p icmp --icmp-type {value}") == (
        f"-A INPUT -p icmp -m icmp --icmp-type {save}")


def test_save_inverted() -> None:
    assert save_lines("-p icmp ! --icmp-type echo-reply") == (
        "-A INPUT -p icmp -m icmp ! --icmp-type 0")
    assert save_lines("-p icmp ! --icmp-type any") == "-A INPUT -p icmp -m icmp ! --icmp-type any"


@pytest.mark.parametrize(("value", "message"), [
    ("256", "Unknown ICMP type `256'"), ("foo", "Unknown ICMP type `foo'"),
    ("/3", "Unknown ICMP type `/3'"), ("-0", "Unknown ICMP type `-0'"),
    ("3:", "Unknown ICMP type `3:'"), ("256:1", "Unknown ICMP type `256:1'"),
    ("' '", "Unknown ICMP type ` '"), ("3/256", "Unknown ICMP code `3/256'"),
    ("3/", "Unknown ICMP code `3/'"), ("3/-1", "Unknown ICMP code `3/-1'"),
    ("3/1:", "Unknown ICMP code `3/1:'"), ("3:4/x", "Unknown ICMP code `3:4/x'"),
    ("08", "unknown character 8"), ("3/1/2", "unknown character /"),
    ("'3 '", "unknown character  "), ("0x", "unknown character x"),
    ("3:1x", "unknown character x"), ("3/1:2:3", "unknown character :"),
    ("3:1", "ICMP type range not supported"), ("3:4/1", "ICMP type range not supported"),
    ("''", "Ambiguous ICMP type `': `any' or `echo-reply'?"),
    ("echo", "Ambiguous ICMP type `echo': `echo-reply' or `echo-request'?"),
    ("p", "Ambiguous ICMP type `p': `pong' or `protocol-unreachable'?"),
    ("t", "Ambiguous ICMP type `t': `TOS-network-unreachable' or `TOS-host-unreachable'?"),
    ("ttl", "Ambiguous ICMP type `ttl': `ttl-exceeded' or `ttl-zero-during-transit'?"),
])
def test_errors(value: str, message: str) -> None:
    with pytest.raises(ParameterProblem) as error:
        committed_table(f"-p icmp --icmp-type {value}")
    assert error.value.message == message


def test_option_errors() -> None:
    with pytest.raises(ParameterProblem) as error:
        committed_table("-p icmp -m icmp")
    assert error.value.message == 'icmp: option "--icmp-type" must be specified\n'
    with pytest.raises(ParameterProblem) as error:
        committed_table("-p icmp --icmp-type 8 --icmp-type 0")
    assert error.value.message == 'icmp: option "--icmp-type" can only be used once.\n'


@pytest.mark.parametrize("words", [
    "-m icmp --icmp-type 8", "! -p icmp -m icmp --icmp-type 8", "-p tcp -m icmp --icmp-type 8",
])
def test_kernel_refuses_without_icmp_protocol(words: str) -> None:
    with pytest.raises(KernelRejection):
        committed_table(words)


@pytest.mark.parametrize(("value", "numeric", "names"), [
    ("any", " icmptype 255", " icmp any"),
    ("8", " icmptype 8", " icmp echo-request"),
    ("! echo-reply", " icmp !type 0", " icmp !echo-reply"),
    ("3/1", " icmptype 3 code 1", " icmp host-unreachable"),
    ("3/8", " icmptype 3 code 8", " icmptype 3 code 8"),
    ("! 3/8", " icmp !type 3 code 8", " icmp !type 3 code 8"),
    ("255/3", " icmptype 255 code 3", " icmptype 255 code 3"),
    ("7", " icmptype 7", " icmptype 7"),
    ("0/0", " icmptype 0 code 0", " icmptype 0 code 0"),
    ("3/1:2", " icmptype 3 codes 1-2", " icmptype 3 codes 1-2"),
    ("3/5:1", " icmptype 3 codes 5-1", " icmptype 3 codes 5-1"),
    ("3/0:255", " icmptype 3", " icmp destination-unreachable"),
])
def test_listing(value: str, numeric: str, names: str) -> None:
    invert, _, value = value.rpartition(" ")
    words = f"-p icmp {invert} --icmp-type {value}"
    assert listed_matches(words, True) == numeric
    assert listed_matches(words, False) == names
