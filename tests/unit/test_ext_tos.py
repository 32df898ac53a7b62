"""``-m tos``: parsing, saving, listing and errors.

Every expected value here was read off iptables-legacy 1.8.9 (``iptables -A``, then
``iptables-save``, ``iptables -L -n`` and ``iptables -L``).
"""

from __future__ import annotations

import pytest

from iptparse.printer import listing_lines, rule_listing_text, rule_spec_text
from tests.unit.ext_harness import committed_table, first_appended_rule, parameter_problem

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("options", "saved", "numeric", "names"), [
    ("--tos Minimize-Delay", "--tos 0x10/0x3f", " tos match0x10/0x3f", " tos match Minimize-Delay"),
    ("--tos minimize-delay", "--tos 0x10/0x3f", " tos match0x10/0x3f", " tos match Minimize-Delay"),
    ("--tos Maximize-Throughput", "--tos 0x08/0x3f", " tos match0x08/0x3f",
     " tos match Maximize-Throughput"),
    ("--tos Maximize-Reliability", "--tos 0x04/0x3f", " tos match0x04/0x3f",
     " tos match Maximize-Reliability"),
    ("--tos Minimize-Cost", "--tos 0x02/0x3f", " tos match0x02/0x3f", " tos match Minimize-Cost"),
    ("--tos Normal-Service", "--tos 0x00/0x3f", " tos match0x00/0x3f",
     " tos match Normal-Service"),
    ("--tos 0x10/0x3F", "--tos 0x10/0x3f", " tos match0x10/0x3f", " tos match Minimize-Delay"),
    ("! --tos Minimize-Delay", "! --tos 0x10/0x3f", " tos match!0x10/0x3f",
     " tos match! Minimize-Delay"),
    ("--tos 0xff", "--tos 0xff/0xff", " tos match0xff/0xff", " tos match0xff/0xff"),
    ("! --tos 0xff", "! --tos 0xff/0xff", " tos match!0xff/0xff", " tos match!0xff/0xff"),
    ("--tos 0x10", "--tos 0x10/0xff", " tos match0x10/0xff", " tos match0x10/0xff"),
    ("--tos 16", "--tos 0x10/0xff", " tos match0x10/0xff", " tos match0x10/0xff"),
    ("--tos 010", "--tos 0x08/0xff", " tos match0x08/0xff", " tos match0x08/0xff"),
    ("--tos ' 5'", "--tos 0x05/0xff", " tos match0x05/0xff", " tos match0x05/0xff"),
    ("--tos +5", "--tos 0x05/0xff", " tos match0x05/0xff", " tos match0x05/0xff"),
    ("--tos 0x0f/0x0f", "--tos 0x0f/0x0f", " tos match0x0f/0x0f", " tos match0x0f/0x0f"),
    ("--tos 0x12/0x3f", "--tos 0x12/0x3f", " tos match0x12/0x3f", " tos match0x12/0x3f"),
    ("--tos 0x02/0x3e", "--tos 0x02/0x3e", " tos match0x02/0x3e", " tos match0x02/0x3e"),
    ("--tos '5/ 3'", "--tos 0x05/0x03", " tos match0x05/0x03", " tos match0x05/0x03"),
    ("--tos 0xff/+3", "--tos 0xff/0x03", " tos match0xff/0x03", " tos match0xff/0x03"),
])
def test_saved_and_listed(options: str, saved: str, numeric: str, names: str) -> None:
    parsed = first_appended_rule(f"-m tos {options}")
    assert rule_spec_text(parsed) == f" -m tos {saved}"
    assert rule_listing_text(parsed, numeric=True) == numeric
    assert rule_listing_text(parsed, numeric=False) == names


def test_listing_line() -> None:
    table = committed_table("-m tos --tos Minimize-Delay")
    assert listing_lines(table, "INPUT", numeric=True)[2] == (
        "           0    --  0.0.0.0/0            0.0.0.0/0            tos match0x10/0x3f")
    assert listing_lines(table, "INPUT", numeric=False)[2] == (
        "           all  --  anywhere             anywhere             tos match Minimize-Delay")


@pytest.mark.parametrize(("value", "message"), [
    ("Lowdelay", 'Symbolic name "Lowdelay" is unknown'),
    ("wrong", 'Symbolic name "wrong" is unknown'),
    ("''", 'Symbolic name "" is unknown'),
    ("256", 'Symbolic name "256" is unknown'),
    ("0x100", 'Symbolic name "0x100" is unknown'),
    ("256/0xff", 'Symbolic name "256/0xff" is unknown'),
    ("/0x10", 'Symbolic name "/0x10" is unknown'),
    ("-1", 'Symbolic name "-1" is unknown'),
    ("0xff/0x100", 'Illegal value: "0xff/0x100"'),
    ("5/0x100", 'Illegal value: "5/0x100"'),
    ("0x10/", 'Illegal value: "0x10/"'),
    ("5x", 'Illegal value: "5x"'),
    ("0x", 'Illegal value: "0x"'),
    ("'5 /3'", 'Illegal value: "5 /3"'),
])
def test_bad_values(value: str, message: str) -> None:
    assert parameter_problem(f"-m tos --tos {value}") == message


def test_option_errors() -> None:
    assert parameter_problem("-m tos") == 'tos: option "--tos" must be specified\n'
    assert parameter_problem("-m tos --tos 0x10 --tos 0x20") == (
        'tos: option "--tos" can only be used once.\n')
