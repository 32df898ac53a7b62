"""``-m sctp``: parsing, iptables-save text, -L text (with and without -n), errors, kernel checks.

Every expected value below was read off iptables-legacy 1.8.9 (``iptables-legacy -A``,
``iptables-legacy-save``, ``iptables-legacy -L [-n]``) in a throwaway network namespace.
"""

from __future__ import annotations

import pytest

from iptparse.errors import KernelRejection, ParameterProblem
from iptparse.extensions.sctp import parse_chunk_list
from iptparse.printer import listing_lines
from tests.unit.ext_harness import committed_table, raised_error, saved_rule_spec

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("rule", "saved"), [
    ("-p sctp --sport 80", "-p sctp -m sctp --sport 80"),
    ("-p sctp --dport 80", "-p sctp -m sctp --dport 80"),
    ("-p sctp -m sctp --sport 80:90 --dport 1:", "-p sctp -m sctp --sport 80:90 --dport 1:65535"),
    ("-p sctp --dport :90", "-p sctp -m sctp --dport 0:90"),
    ("-p sctp ! --sport 80 ! --dport 81", "-p sctp -m sctp ! --sport 80 ! --dport 81"),
    ("-p 132 -m sctp --sport 80", "-p sctp -m sctp --sport 80"),
    ("-p sctp -m sctp", "-p sctp -m sctp"),
    ("-p sctp --sport amqp", "-p sctp -m sctp --sport 5672"),
    ("-p sctp --source-port 80 --destination-port 90", "-p sctp -m sctp --sport 80 --dport 90"),
    ("-p sctp --sp 1 --dp 2", "-p sctp -m sctp --sport 1 --dport 2"),
    ("-p sctp --sport 0x10", "-p sctp -m sctp --sport 16"),
    ("-p sctp --sport :", "-p sctp -m sctp --sport 0:65535"),
    ("-p sctp --sport 65535:", "-p sctp -m sctp --sport 65535"),
    ("-p sctp --dport 0", "-p sctp -m sctp --dport 0"),
    ("-p sctp --chunk-types all DATA", "-p sctp -m sctp --chunk-types all DATA"),
    ("-p sctp --chunk-types any DATA,INIT", "-p sctp -m sctp --chunk-types any DATA,INIT"),
    ("-p sctp --chunk-types only DATA,INIT,SACK",
     "-p sctp -m sctp --chunk-types only DATA,INIT,SACK"),
    ("-p sctp ! --chunk-types all DATA", "-p sctp -m sctp ! --chunk-types all DATA"),
    ("-p sctp --chunk-types ALL DATA", "-p sctp -m sctp --chunk-types all DATA"),
    ("-p sctp --chunk-types Only DATA", "-p sctp -m sctp --chunk-types only DATA"),
    ("-p sctp --chunk 'any' DATA:uUiI", "-p sctp -m sctp --chunk-types any DATA:IU"),
    ("-p sctp --chunk-types any DATA --sport 1",
     "-p sctp -m sctp --sport 1 --chunk-types any DATA"),
])
def test_saved(rule: str, saved: str) -> None:
    assert saved_rule_spec(rule) == saved


@pytest.mark.parametrize(("chunks", "saved"), [
    ("DATA:Ube", "DATA:Ube"),
    ("ABORT:T,SHUTDOWN_COMPLETE:T", "ABORT:T,SHUTDOWN_COMPLETE:T"),
    ("ALL", "ALL"), ("all", "ALL"), ("NONE", "NONE"), ("none", "NONE"), ("''", "NONE"),
    ("data", "DATA"), ("abort:T", "ABORT:T"),
    ("INIT,DATA", "DATA,INIT"),
    ("ASCONF_ACK,ASCONF,I_DATA,DATA", "DATA,I_DATA,ASCONF_ACK,ASCONF"),
    ("DATA,DATA", "DATA"), ("DATA:I,DATA:U", "DATA:IU"), ("DATA:iube", "DATA:iube"),
    ("DATA:IUBE", "DATA:IUBE"), ("DATA:UI", "DATA:IU"), ("DATA:Iu", "DATA:Iu"),
    ("DATA:IUBEI", "DATA:IUBE"), ("DATA:I,DATA:i", "DATA:I"), ("DATA:i,DATA:I", "DATA:I"),
    ("ABORT:t", "ABORT:t"), ("SHUTDOWN_COMPLETE:tT", "SHUTDOWN_COMPLETE:T"),
    ("SHUTDOWN_COMPLETE:Tt", "SHUTDOWN_COMPLETE:T"),
    ("I_DATA:IUBE", "I_DATA"), ("I_DATA:I,DATA:U", "DATA:U,I_DATA"),
    ("DATA:", "DATA"), ("INIT:", "INIT"), ("DATA,", "DATA"), (",DATA", "DATA"),
    ("DATA,,INIT", "DATA,INIT"),
    ("DATA:I,ABORT:T,DATA:U", "DATA:IU,ABORT:T"),
    ("DATA:IUBE,ABORT:T,SHUTDOWN_COMPLETE:t", "DATA:IUBE,ABORT:T,SHUTDOWN_COMPLETE:t"),
    ("DATA:I,ABORT:T,SHUTDOWN_COMPLETE:T,I_DATA:I,INIT:",
     "DATA:I,INIT,ABORT:T,SHUTDOWN_COMPLETE:T,I_DATA"),
    ("RE_CONFIG,PAD,FORWARD_TSN,I_FORWARD_TSN", "RE_CONFIG,PAD,FORWARD_TSN,I_FORWARD_TSN"),
])
def test_chunk_lists(chunks: str, saved: str) -> None:
    assert saved_rule_spec(f"-p sctp --chunk-types any {chunks}") == (
        f"-p sctp -m sctp --chunk-types any {saved}")


@pytest.mark.parametrize(("rule", "message"), [
    ("-p sctp --sport http", "invalid port/service `http' specified"),
    ("-p sctp --sport 90:80", "invalid portrange (min > max)"),
    ("-p sctp --sport 80 --sport 81", "Only one `--source-port' allowed"),
    ("-p sctp --source-port 1 --sport 2", "Only one `--source-port' allowed"),
    ("-p sctp --dport 1 --dport 2", "Only one `--destination-port' allowed"),
    ("-p sctp --sport ! 80", "invalid port/service `!' specified"),
    ("-p sctp --sport 65536", "invalid port/service `65536' specified"),
    ("-p sctp --sport -1", "invalid port/service `-1' specified"),
    ("-p sctp --sport 1:2:3", "invalid port/service `2:3' specified"),
    ("-p sctp --sport ''", "invalid port/service `' specified"),
    ("-p sctp --chunk-types bla DATA", 'Match type has to be one of "ALL", "ANY" or "ONLY"'),
    ("-p sctp --chunk-types all", "--chunk-types requires two args"),
    ("-p sctp --chunk-types bla", "--chunk-types requires two args"),
    ("-p sctp --chunk-types any -j ACCEPT", "--chunk-types requires two args"),
    ("-p sctp --chunk-types any !", "--chunk-types requires two args"),
    ("-p sctp --chunk-types any DATA --chunk-types any INIT", "Only one `--chunk-types' allowed"),
    ("-p sctp --chunk-types all FOO", "Unknown sctp chunk `FOO'"),
    ("-p sctp --chunk-types any Foo:I", "Unknown sctp chunk `Foo'"),
    ("-p sctp --chunk-types any ALL,DATA", "Unknown sctp chunk `ALL'"),
    ("-p sctp --chunk-types any NONE,DATA", "Unknown sctp chunk `NONE'"),
    ("-p sctp --chunk-types any ALL,", "Unknown sctp chunk `ALL'"),
    ("-p sctp --chunk-types any :I", "Unknown sctp chunk `'"),
    ("-p sctp --chunk-types any DATA:X", "Invalid flags for chunk type 0"),
    ("-p sctp --chunk-types any DATA:IUBEX", "Invalid flags for chunk type 0"),
    ("-p sctp --chunk-types any DATA:I:U", "Invalid flags for chunk type 0"),
    ("-p sctp --chunk-types any DATA::I", "Invalid flags for chunk type 0"),
    ("-p sctp --chunk-types any INIT:T", "Invalid flags for chunk type 1"),
    ("-p sctp --chunk-types any ABORT:TX", "Invalid flags for chunk type 6"),
    ("-p sctp --chunk-types any I_DATA:T", "Invalid flags for chunk type 15"),
    ("-p sctp --chunk-types any RE_CONFIG:X", "Invalid flags for chunk type 16"),
    ("-p sctp --chunk-types any I_FORWARD_TSN:x", "Invalid flags for chunk type 21"),
])
def test_errors(rule: str, message: str) -> None:
    error = raised_error(rule)
    assert isinstance(error, ParameterProblem)
    assert error.message == message


@pytest.mark.parametrize("rule", [
    "-m sctp --sport 80", "-p tcp -m sctp --sport 80", "! -p sctp -m sctp --sport 80",
])
def test_kernel_wants_protocol_sctp(rule: str) -> None:
    assert isinstance(raised_error(rule), KernelRejection)


@pytest.mark.parametrize(("rule", "numeric", "named"), [
    ("-p sctp -m sctp", "sctp", "sctp"),
    ("-p sctp --sport 80", "sctp spt:80", "sctp spt:80"),
    ("-p sctp -m sctp --sport 80:90 --dport 1:", "sctp spts:80:90 dpts:1:65535",
     "sctp spts:80:90 dpts:1:65535"),
    ("-p sctp ! --sport 80 ! --dport 81", "sctp spt:!80 dpt:!81", "sctp spt:!80 dpt:!81"),
    ("-p sctp --sport :", "sctp", "sctp"),
    ("-p sctp ! --sport : ! --dport :", "sctp spts:!0:65535 dpts:!0:65535",
     "sctp spts:!0:65535 dpts:!0:65535"),
    ("-p sctp --sport amqp --dport 5672:5673", "sctp spt:5672 dpts:5672:5673",
     "sctp spt:amqp dpts:amqp:5673"),
    ("-p sctp ! --sport 5672:5673 ! --dport 80", "sctp spts:!5672:5673 dpt:!80",
     "sctp spts:!amqp:5673 dpt:!80"),
    ("-p sctp --chunk-types only DATA:Iu,ABORT:t,SHUTDOWN_COMPLETE:T,INIT",
     "sctp only 0x0000:Iu,0x0001,0x0006:t,0x000E:T",
     "sctp only DATA:Iu,INIT,ABORT:t,SHUTDOWN_COMPLETE:T"),
    ("-p sctp --chunk-types any ASCONF_ACK,ASCONF,I_DATA:I,DATA",
     "sctp any 0x0000,0x0040,0x0080,0x00C1", "sctp any DATA,I_DATA,ASCONF_ACK,ASCONF"),
    ("-p sctp ! --chunk-types any ALL", "sctp ! any ALL", "sctp ! any ALL"),
    ("-p sctp --chunk-types all NONE", "sctp all NONE", "sctp all NONE"),
    ("-p sctp --chunk-types any DATA --sport 1", "sctp spt:1 any 0x0000", "sctp spt:1 any DATA"),
])
def test_listing(rule: str, numeric: str, named: str) -> None:
    table = committed_table(rule)
    assert listing_lines(table, "INPUT", numeric=True)[2] == (
        f"           132  --  0.0.0.0/0            0.0.0.0/0            {numeric}")
    assert listing_lines(table, "INPUT", numeric=False)[2] == (
        f"           sctp --  anywhere             anywhere             {named}")


def test_chunk_list_keeps_i_data_flags_it_does_not_print() -> None:
    types, all_types, flags = parse_chunk_list("I_DATA:Iu")
    assert types == (64,) and not all_types
    assert [(item.chunk_type, item.mask, item.value) for item in flags] == [(64, 0b11, 0b01)]
