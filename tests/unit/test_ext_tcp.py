"""``-m tcp``: parsing, iptables-save text, -L text, messages, kernel refusal.

Every expected value below was read off iptables-legacy 1.8.9 (``iptables -A INPUT ...``, then
``iptables-save``, ``iptables -L INPUT -n`` and ``iptables -L INPUT``) in a scratch netns.
"""

from __future__ import annotations

import pytest

from iptparse.errors import IptablesError, KernelRejection, ParameterProblem
from tests.unit.ext_harness import committed_table, listed_matches, save_lines

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("words", "save"), [
    ("-p tcp --syn", "-p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN"),
    ("-p tcp ! --syn", "-p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN"),
    ("-p tcp --sy", "-p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN"),
    ("-p tcp --dport http", "-p tcp -m tcp --dport 80"),
    ("-p tcp --dport :80 ! --sport 80:", "-p tcp -m tcp ! --sport 80:65535 --dport 0:80"),
    ("-p tcp --dport http:https", "-p tcp -m tcp --dport 80:443"),
    ("-p tcp --dport 80:80", "-p tcp -m tcp --dport 80"),
    ("-p tcp --sport 0:0", "-p tcp -m tcp --sport 0"),
    ("-p tcp --dport :", "-p tcp -m tcp"),
    ("-p tcp ! --dport 0:65535", "-p tcp -m tcp"),
    ("-p tcp --dport ' 80'", "-p tcp -m tcp --dport 80"),
    ("-p tcp --dport +80", "-p tcp -m tcp --dport 80"),
    ("-p tcp --dport 0x50", "-p tcp -m tcp --dport 80"),
    ("-p tcp --dport 010", "-p tcp -m tcp --dport 8"),
    ("-p tcp --sport=1", "-p tcp -m tcp --sport 1"),
    ("-p tcp --tcp-flags ALL NONE", "-p tcp -m tcp --tcp-flags FIN,SYN,RST,PSH,ACK,URG NONE"),
    ("-p tcp --tcp-flags NONE NONE", "-p tcp -m tcp"),
    ("-p tcp --tcp-flags NONE SYN", "-p tcp -m tcp"),
    ("-p tcp ! --tcp-flags NONE NONE", "-p tcp -m tcp ! --tcp-flags NONE NONE"),
    ("-p tcp --tcp-flags SYN,,ACK,FIN,FIN SYN", "-p tcp -m tcp --tcp-flags FIN,SYN,ACK SYN"),
    ("-p tcp --tcp-flags syn,ack SYN", "-p tcp -m tcp --tcp-flags SYN,ACK SYN"),
    ("-p tcp --tcp-flags SYN ACK", "-p tcp -m tcp --tcp-flags SYN ACK"),
    ("-p tcp --tcp-flags SYN ''", "-p tcp -m tcp --tcp-flags SYN NONE"),
    ("-p tcp --tcp-flags=SYN SYN", "-p tcp -m tcp --tcp-flags SYN SYN"),
    ("-p tcp --tcp-option 5", "-p tcp -m tcp --tcp-option 5"),
    ("-p tcp ! --tcp-option 255", "-p tcp -m tcp ! --tcp-option 255"),
    ("-p tcp --tcp-option 0x10", "-p tcp -m tcp --tcp-option 16"),
    ("-p tcp --tcp-option ' +5'", "-p tcp -m tcp --tcp-option 5"),
    ("-p tcp --tcp-flags SYN SYN --tcp-option 3 ! --dport 5:6 --sport 7",
     "-p tcp -m tcp --sport 7 ! --dport 5:6 --tcp-option 3 --tcp-flags SYN SYN"),
    ("-p tcp --sport 1 -m tcp --sport 2", "-p tcp -m tcp --sport 1 -m tcp --sport 2"),
    ("-m tcp --dport 1 -p 6", "-p tcp -m tcp --dport 1"),
    ("-p tcp -m tcp", "-p tcp -m tcp"),
])
def test_save(words: str, save: str) -> None:
    assert save_lines(words) == f"-A INPUT {save}"


@pytest.mark.parametrize(("words", "message"), [
    ("-p tcp --dport 22 --destination-port 23", "Only one `--destination-port' allowed"),
    ("-p tcp --sport 1 --sport bad", "Only one `--source-port' allowed"),
    ("-p tcp --sport bad --sport 1", "invalid port/service `bad' specified"),
    ("-p tcp -m tcp --dport 1 --dport 2", "Only one `--destination-port' allowed"),
    ("-p tcp --syn --tcp-flags SYN SYN", "Only one of `--syn' or `--tcp-flags'  allowed"),
    ("-p tcp --tcp-flags SYN SYN --tcp-flags ACK ACK",
     "Only one of `--syn' or `--tcp-flags'  allowed"),
    ("-p tcp --tcp-flags SYN", "--tcp-flags requires two args."),
    ("-p tcp --tcp-flags SYN -j ACCEPT", "--tcp-flags requires two args."),
    ("-p tcp --tcp-flags SYN ! ACK", "--tcp-flags requires two args."),
    ("-p tcp --tcp-flags FOO SYN", "Unknown TCP flag `FOO'"),
    ("-p tcp --tcp-flags ECE SYN", "Unknown TCP flag `ECE'"),
    ("-p tcp --tcp-flags 'SYN ACK' SYN", "Unknown TCP flag `SYN ACK'"),
    ("-p tcp --tcp-option 0", 'Bad TCP option "0"'),
    ("-p tcp --tcp-option 256", 'Bad TCP option "256"'),
    ("-p tcp --tcp-option '5 '", 'Bad TCP option "5 "'),
    ("-p tcp --tcp-option -0", 'Bad TCP option "-0"'),
    ("-p tcp --tcp-option 5 --tcp-option 6", "Only one `--tcp-option' allowed"),
    ("-p tcp --dport -0", "invalid port/service `-0' specified"),
    ("-p tcp --dport 08", "invalid port/service `08' specified"),
    ("-p tcp --dport 65536", "invalid port/service `65536' specified"),
    ("-p tcp --dport ''", "invalid port/service `' specified"),
    ("-p tcp --dport 1:2:3", "invalid port/service `2:3' specified"),
    ("-p tcp --dport HTTP", "invalid port/service `HTTP' specified"),
    ("-p tcp --dport tftp", "invalid port/service `tftp' specified"),  # udp-only service
    ("-p tcp --sport ! 1", "invalid port/service `!' specified"),
    ("-p tcp --dport 80:70", "invalid portrange (min > max)"),
    ("-p tcp --syn=x", 'unknown option "--syn=x"'),
])
def test_errors(words: str, message: str) -> None:
    with pytest.raises(ParameterProblem) as error:
        committed_table(words)
    assert error.value.message == message


@pytest.mark.parametrize("words", [
    "-m tcp --dport 1", "! -p tcp -m tcp --dport 1", "-p udp -m tcp --dport 1",
])
def test_kernel_refuses_without_tcp_protocol(words: str) -> None:
    with pytest.raises(KernelRejection):
        committed_table(words)


@pytest.mark.parametrize(("words", "numeric", "names"), [
    ("-p tcp --syn", " tcp flags:0x17/0x02", " tcp flags:FIN,SYN,RST,ACK/SYN"),
    ("-p tcp ! --syn", " tcp flags:!0x17/0x02", " tcp flags:!FIN,SYN,RST,ACK/SYN"),
    ("-p tcp --dport http", " tcp dpt:80", " tcp dpt:http"),
    ("-p tcp --dport :80 ! --sport 80:", " tcp spts:!80:65535 dpts:0:80",
     " tcp spts:!http:65535 dpts:0:http"),
    ("-p tcp ! --sport 1 ! --dport 2", " tcp spt:!1 dpt:!2", " tcp spt:!tcpmux dpt:!2"),
    ("-p tcp ! --dport :", " tcp dpts:!0:65535", " tcp dpts:!0:65535"),
    ("-p tcp --tcp-flags ALL NONE", " tcp flags:0x3F/0x00",
     " tcp flags:FIN,SYN,RST,PSH,ACK,URG/NONE"),
    ("-p tcp ! --tcp-flags NONE NONE", " tcp flags:!0x00/0x00", " tcp flags:!NONE/NONE"),
    ("-p tcp ! --tcp-option 255", " tcp option=!255", " tcp option=!255"),
    ("-p tcp --tcp-flags SYN SYN --tcp-option 3 ! --dport 5:6 --sport 7",
     " tcp spt:7 dpts:!5:6 option=3 flags:0x02/0x02",
     " tcp spt:echo dpts:!5:6 option=3 flags:SYN/SYN"),
    ("-p tcp --sport 1 -m tcp --sport 2", " tcp spt:1 tcp spt:2", " tcp spt:tcpmux tcp spt:2"),
    ("-p tcp -m tcp", " tcp", " tcp"),
])
def test_listing(words: str, numeric: str, names: str) -> None:
    assert listed_matches(words, True) == numeric
    assert listed_matches(words, False) == names


def test_error_is_parameter_problem_exit_2() -> None:
    with pytest.raises(IptablesError) as error:
        committed_table("-p tcp --tcp-flags SYN")
    assert error.value.exit_code == 2
