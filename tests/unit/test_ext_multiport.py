"""``-m multiport``: parsing, saving, listing and errors.

Every expected value here was read off iptables-legacy 1.8.9 (``iptables -A``, then
``iptables-save``, ``iptables -L -n`` and ``iptables -L``), on a machine with Debian's
/etc/services.
"""

from __future__ import annotations

import pytest

from iptparse.printer import listing_lines, rule_listing_text, rule_spec_text
from tests.unit.ext_harness import committed_table, first_appended_rule, parameter_problem

pytestmark = pytest.mark.unit

FIFTEEN = ",".join(str(n) for n in range(1, 16))
FOURTEEN = ",".join(str(n) for n in range(1, 15))


@pytest.mark.parametrize(("rule", "saved"), [
    ("-p tcp -m multiport --sports 53,1024:65535", "-p tcp -m multiport --sports 53,1024:65535"),
    ("-p tcp -m multiport --dport 53,80,https", "-p tcp -m multiport --dports 53,80,443"),
    ("-p tcp -m multiport --destination-ports 80", "-p tcp -m multiport --dports 80"),
    ("-p tcp -m multiport --source-ports 80", "-p tcp -m multiport --sports 80"),
    ("-p tcp -m multiport --destination-p 80", "-p tcp -m multiport --dports 80"),
    ("-p udp -m multiport ! --ports 53,1024:65535", "-p udp -m multiport ! --ports 53,1024:65535"),
    ("-p udp -m multiport ! --sports 53", "-p udp -m multiport ! --sports 53"),
    ("-p 6 -m multiport --dports 80", "-p tcp -m multiport --dports 80"),
    ("-p tcp -m multiport --dports 0x50,+81,' 82',0", "-p tcp -m multiport --dports 80,81,82,0"),
    ("-p tcp -m multiport --dports 80,80", "-p tcp -m multiport --dports 80,80"),
    ("-p tcp -m multiport --dports domain,ssh:http", "-p tcp -m multiport --dports 53,22:80"),
    (f"-p tcp -m multiport --ports {FIFTEEN}", f"-p tcp -m multiport --ports {FIFTEEN}"),
    (f"-p tcp -m multiport --dports {FOURTEEN}:16", f"-p tcp -m multiport --dports {FOURTEEN}:16"),
    ("-p tcp -m multiport --dports 1:2,3:4,5:6,7:8,9:10,11:12,13:14,15",
     "-p tcp -m multiport --dports 1:2,3:4,5:6,7:8,9:10,11:12,13:14,15"),
    ("-p sctp -m multiport --dports 53,1024:65535", "-p sctp -m multiport --dports 53,1024:65535"),
    ("-p dccp -m multiport --sports 53", "-p dccp -m multiport --sports 53"),
    ("-p udplite -m multiport --dports 53", "-p udplite -m multiport --dports 53"),
    ("-p tcp -m multiport --dports 80 -m multiport --sports 81",
     "-p tcp -m multiport --dports 80 -m multiport --sports 81"),
])
def test_saved(rule: str, saved: str) -> None:
    assert rule_spec_text(first_appended_rule(rule)).strip() == saved


@pytest.mark.parametrize(("rule", "message"), [
    ("-m multiport --dports 80",
     "multiport needs `-p tcp', `-p udp', `-p udplite', `-p sctp' or `-p dccp'"),
    ("-p all -m multiport --dports 80",
     "multiport needs `-p tcp', `-p udp', `-p udplite', `-p sctp' or `-p dccp'"),
    ("-m multiport --dports 80 -p tcp",
     "multiport needs `-p tcp', `-p udp', `-p udplite', `-p sctp' or `-p dccp'"),
    ("-p icmp -m multiport --dports foo",
     "multiport only works with TCP, UDP, UDPLITE, SCTP and DCCP"),
    ("! -p tcp -m multiport --dports 80",
     "multiport only works with TCP, UDP, UDPLITE, SCTP and DCCP"),
    ("-p tcp -m multiport", "multiport expection an option"),
    (f"-p tcp -m multiport --dports {FIFTEEN},16", "too many ports specified"),
    (f"-p tcp -m multiport --dports {FIFTEEN},foo", "too many ports specified"),
    (f"-p tcp -m multiport --dports {FIFTEEN},", "too many ports specified"),
    (f"-p tcp -m multiport --dports {FOURTEEN},15:16", "too many ports specified"),
    (f"-p tcp -m multiport --dports {FOURTEEN},foo:17", "too many ports specified"),
    (f"-p tcp -m multiport --dports foo,{FIFTEEN},16", "invalid port/service `foo' specified"),
    ("-p tcp -m multiport --dports 1:2,3:4,5:6,7:8,9:10,11:12,13:14,15:16",
     "too many ports specified"),
    ("-p tcp -m multiport --sports 1024:65536", "invalid port/service `65536' specified"),
    ("-p tcp -m multiport --sports 1024:1000", "invalid portrange specified"),
    ("-p tcp -m multiport --sports 53:53", "invalid portrange specified"),
    ("-p tcp -m multiport --sports 53,", "invalid port/service `' specified"),
    ("-p tcp -m multiport --sports ,53", "invalid port/service `' specified"),
    ("-p tcp -m multiport --sports :53", "invalid port/service `' specified"),
    ("-p tcp -m multiport --sports 53:", "invalid port/service `' specified"),
    ("-p tcp -m multiport --dports ''", "invalid port/service `' specified"),
    ("-p tcp -m multiport --dports 1:2:3", "invalid port/service `2:3' specified"),
    ("-p tcp -m multiport --dports foo:bar", "invalid port/service `foo' specified"),
    ("-p tcp -m multiport --dports 080", "invalid port/service `080' specified"),
    ("-p tcp -m multiport --dports '80 '", "invalid port/service `80 ' specified"),
    ("-p udp -m multiport --dports http", "invalid port/service `http' specified"),
    ("-p udp -m multiport --dports domain,22:ssh", "invalid port/service `ssh' specified"),
    ("-p tcp -m multiport --dports domain,22:ssh", "invalid portrange specified"),
    # "--d" and "--dest" also prefix the core's --destination: ambiguous
    ("-p tcp -m multiport --d 80", 'unknown option "--d"'),
    ("-p tcp -m multiport --dest 80", 'unknown option "--dest"'),
    ("-p sctp -m multiport --dports http", "invalid port/service `http' specified"),
    ("-p udplite -m multiport --dports domain", "invalid port/service `domain' specified"),
    ("-p tcp -m multiport --dports 80 --dports 81",
     'multiport: option "--destination-ports" can only be used once.\n'),
    ("-p tcp -m multiport --sports 80 ! --sports 81",
     'multiport: option "--source-ports" can only be used once.\n'),
    ("-p tcp -m multiport --ports 80 --ports 81",
     'multiport: option "--ports" can only be used once.\n'),
    ("-p tcp -m multiport --dports 80 --dports foo",
     'multiport: option "--destination-ports" can only be used once.\n'),
    ("-p tcp -m multiport --dport 80 --sport 81",
     'multiport: option "--source-ports" cannot be used together with "--destination-ports".\n'),
    ("-p tcp -m multiport --dports 80 --ports 81",
     'multiport: option "--destination-ports" cannot be used together with "--ports".\n'),
    ("-p tcp -m multiport --ports 80 --sports 81",
     'multiport: option "--source-ports" cannot be used together with "--ports".\n'),
    ("-p tcp -m multiport --ports 80 --dports 81 --sports 3",
     'multiport: option "--source-ports" cannot be used together with "--destination-ports".\n'),
    # values are read before the exclusion check, which comes once all options are in
    ("-p tcp -m multiport --dports 80 --sports foo", "invalid port/service `foo' specified"),
    ("-p tcp -m multiport --dports 80 --sports 81 --foo", 'unknown option "--foo"'),
    ("-p tcp --multiport", 'unknown option "--multiport"'),
])
def test_errors(rule: str, message: str) -> None:
    assert parameter_problem(rule) == message


@pytest.mark.parametrize(("rule", "numeric", "names"), [
    ("-p tcp -m multiport --sports 53,1024:65535",
     " multiport sports 53,1024:65535", " multiport sports domain,1024:65535"),
    ("-p tcp -m multiport --dport 53,80,https",
     " multiport dports 53,80,443", " multiport dports domain,http,https"),
    ("-p udp -m multiport ! --ports 53,1024:65535",
     " multiport ports  !53,1024:65535", " multiport ports  !domain,1024:65535"),
    ("-p tcp -m multiport ! --dports 53", " multiport dports  !53", " multiport dports  !domain"),
    (f"-p tcp -m multiport --dports {FOURTEEN}:16",
     f" multiport dports {FOURTEEN}:16",
     " multiport dports tcpmux,2,3,4,5,6,echo,8,discard,10,systat,12,daytime,14:16"),
    ("-p tcp -m multiport --dports 1:2,7:8",
     " multiport dports 1:2,7:8", " multiport dports tcpmux:2,echo:8"),
    ("-p tcp -m multiport --dports ssh:http", " multiport dports 22:80",
     " multiport dports ssh:http"),
    ("-p sctp -m multiport --dports 53,80", " multiport dports 53,80", " multiport dports 53,80"),
    ("-p udplite -m multiport --dports 53", " multiport dports 53", " multiport dports 53"),
    ("-p tcp -m multiport --dports 80 -m multiport --sports 81",
     " multiport dports 80 multiport sports 81", " multiport dports http multiport sports 81"),
])
def test_listing(rule: str, numeric: str, names: str) -> None:
    parsed = first_appended_rule(rule)
    assert rule_listing_text(parsed, numeric=True) == numeric
    assert rule_listing_text(parsed, numeric=False) == names


def test_listing_line() -> None:
    table = committed_table("-p tcp -m multiport --dports 53,80,443")
    assert listing_lines(table, "INPUT", numeric=True)[2] == (
        "           6    --  0.0.0.0/0            0.0.0.0/0            "
        "multiport dports 53,80,443")
    assert listing_lines(table, "INPUT", numeric=False)[2] == (
        "           tcp  --  anywhere             anywhere             "
        "multiport dports domain,http,https")


@pytest.mark.parametrize(("table", "chain"), [("nat", "PREROUTING"), ("mangle", "POSTROUTING"),
                                              ("raw", "OUTPUT")])
def test_any_table(table: str, chain: str) -> None:
    parsed = committed_table("-p tcp -m multiport --dports 80,443", table, chain)
    assert rule_spec_text(parsed.chains[chain].rules[0]) == " -p tcp -m multiport --dports 80,443"
