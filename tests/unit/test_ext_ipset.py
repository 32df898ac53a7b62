"""``-m set``: parsing, iptables-save text, -L text and errors.

Every expected value below was read off iptables-legacy 1.8.9 (``iptables-legacy -A``,
``iptables-legacy-save``, ``iptables-legacy -L [-n]``) in a throwaway network namespace where
the sets used here existed (``ipset create foo hash:ip``). Where iptables reports a missing set
(``Set NAME doesn't exist.``), bpftables accepts the name: it cannot see the kernel's sets.
"""

from __future__ import annotations

import pytest

from iptparse.errors import ParameterProblem
from iptparse.extensions.base import OptionCall, RuleInProgress
from iptparse.extensions.ipset import EXTENSIONS, parse_counter
from iptparse.model import Table
from iptparse.printer import listing_lines
from tests.unit.ext_harness import committed_table, parameter_problem, saved_rule_spec

pytestmark = pytest.mark.unit


def _set_table(rule: str) -> Table:
    """The filter table after ``iptables -A INPUT -m set RULE``, committed."""
    return committed_table(f"-m set {rule}")


def _saved(rule: str) -> str:
    """The saved rule after its ``-A INPUT -m set ``."""
    return saved_rule_spec(f"-m set {rule}")[len("-m set "):]


@pytest.mark.parametrize(("rule", "saved"), [
    ("--match-set foo src", "--match-set foo src"),
    ("! --match-set foo src", "! --match-set foo src"),
    ("--match-set foo src,dst,src", "--match-set foo src,dst,src"),
    ("--match-set foo src,dst,src,dst,src,dst", "--match-set foo src,dst,src,dst,src,dst"),
    ("--match-set foo dst,dst,src", "--match-set foo dst,dst,src"),
    ("--set foo dst", "--match-set foo dst"),
    ("! --set foo src", "! --match-set foo src"),
    ("--match-set=foo src", "--match-set foo src"),
    ("--match-s foo src --update-c", "--match-set foo src"),
    ("--match-set 'a\"b c' src", '--match-set a"b c src'),
    ("--match-set nonexistent src", "--match-set nonexistent src"),  # iptables: no such set
    ("--match-set foo src --return-nomatch", "--match-set foo src --return-nomatch"),
    ("--match-set foo src --return-nomatch --return-nomatch",
     "--match-set foo src --return-nomatch"),
    ("--match-set foo src ! --update-counters", "--match-set foo src ! --update-counters"),
    ("--match-set foo src ! --update-subcounters", "--match-set foo src ! --update-subcounters"),
    ("--match-set foo src --update-counters --update-subcounters", "--match-set foo src"),
    ("--match-set foo src ! --update-counters --update-counters",
     "--match-set foo src ! --update-counters"),
    ("--match-set foo src --update-counters ! --update-counters",
     "--match-set foo src ! --update-counters"),
    ("--match-set foo src --packets-eq 5", "--match-set foo src --packets-eq 5"),
    ("--match-set foo src ! --packets-eq 5", "--match-set foo src ! --packets-eq 5"),
    ("--match-set foo src --packets-lt 5", "--match-set foo src --packets-lt 5"),
    ("--match-set foo src --packets-gt 5", "--match-set foo src --packets-gt 5"),
    ("--match-set foo src ! --bytes-eq 5", "--match-set foo src ! --bytes-eq 5"),
    ("--match-set foo src --bytes-lt 5", "--match-set foo src --bytes-lt 5"),
    ("--match-set foo src --bytes-gt 5", "--match-set foo src --bytes-gt 5"),
    ("--match-set foo src --packets-e 5", "--match-set foo src --packets-eq 5"),
    ("--match-set foo src ! --packets-eq 1 --bytes-lt 3 --return-nomatch "
     "! --update-subcounters ! --update-counters",
     "--match-set foo src --return-nomatch ! --update-counters ! --update-subcounters "
     "! --packets-eq 1 --bytes-lt 3"),
])
def test_saved(rule: str, saved: str) -> None:
    assert _saved(rule) == saved


@pytest.mark.parametrize(("text", "value"), [
    ("0x10", 16), ("010", 8), (" 5", 5), ("+5", 5), ("\t5", 5), ("0X1F", 31), ("0", 0),
    ("18446744073709551615", 18446744073709551615),
])
def test_counter_values(text: str, value: int) -> None:
    assert parse_counter(text) == value


@pytest.mark.parametrize("text", [
    "-1", " -1", "-0", "18446744073709551616", "abc", "", "5 ", "0x", "08", "1k", "+ 5",
])
def test_counter_errors(text: str) -> None:
    with pytest.raises(ParameterProblem) as error:
        parse_counter(text)
    assert error.value.message == f"Cannot parse {text} as a counter value"


@pytest.mark.parametrize(("rule", "message"), [
    ("--match-set foo", "--match-set requires two args."),
    ("--set foo", "--match-set requires two args."),
    ("--match-set foo -j ACCEPT", "--match-set requires two args."),
    ("--match-set foo ! src", "--match-set requires two args."),
    ("--match-set foo -src", "--match-set requires two args."),
    ("--match-set abcdefghijklmnopqrstuvwxyz012345", "--match-set requires two args."),
    ("--match-set", 'option "--match-set" requires an argument'),
    ("--match-set abcdefghijklmnopqrstuvwxyz012345 bla",
     "setname `abcdefghijklmnopqrstuvwxyz012345' too long, max 31 characters."),
    ("--match-set éééééééééééééééé src",
     "setname `éééééééééééééééé' too long, max 31 characters."),
    ("--match-set foo bla", "You must spefify (the comma separated list of) 'src' or 'dst'."),
    ("--match-set foo src,", "You must spefify (the comma separated list of) 'src' or 'dst'."),
    ("--match-set foo ,src", "You must spefify (the comma separated list of) 'src' or 'dst'."),
    ("--match-set foo ''", "You must spefify (the comma separated list of) 'src' or 'dst'."),
    ("--match-set foo SRC", "You must spefify (the comma separated list of) 'src' or 'dst'."),
    ("--match-set foo bla,src,src,src,src,src,src",
     "You must spefify (the comma separated list of) 'src' or 'dst'."),
    ("--match-set foo src,dst,src,dst,src,dst,src", "Can't be more src/dst options than 6."),
    ("--match-set foo src,src,src,src,src,src,", "Can't be more src/dst options than 6."),
    ("--match-set foo src --match-set bar dst", "--match-set can be specified only once"),
    ("--set foo src --match-set foo dst", "--match-set can be specified only once"),
    ("--match-set foo src --match-set foo", "--match-set can be specified only once"),
    ("--return-nomatch", "You must specify `--match-set' with proper arguments"),
    ("--match-set foo src ! --return-nomatch", "--return-nomatch flag cannot be inverted"),
    ("--match-set foo src --packets-lt 5 --packets-gt 3",
     "only one of the --packets-[eq|lt|gt] is allowed"),
    ("--match-set foo src --packets-eq 5 --packets-eq 6",
     "only one of the --packets-[eq|lt|gt] is allowed"),
    ("--match-set foo src --packets-eq 1 ! --packets-lt 2",
     "only one of the --packets-[eq|lt|gt] is allowed"),
    ("--match-set foo src --packets-eq 1 --packets-lt abc",
     "only one of the --packets-[eq|lt|gt] is allowed"),
    ("--match-set foo src --bytes-gt 5 --bytes-lt 3 --packets-eq 1",
     "only one of the --bytes-[eq|lt|gt] is allowed"),
    ("--match-set foo src ! --packets-lt 5", "--packets-lt option cannot be inverted"),
    ("--match-set foo src ! --packets-gt 5", "--packets-gt option cannot be inverted"),
    ("--match-set foo src ! --bytes-lt 5", "--bytes-lt option cannot be inverted"),
    ("--match-set foo src ! --bytes-gt abc", "--bytes-gt option cannot be inverted"),
    ("--match-set foo src --packets-eq -1", "Cannot parse -1 as a counter value"),
    ("--match-set foo src --packets-eq", 'option "--packets-eq" requires an argument'),
    ("--match-set foo src --packets 5", 'unknown option "--packets"'),
    ("--match-set foo src --update 5", 'unknown option "--update"'),
    ("--se foo src", 'unknown option "--se"'),
    ("--match-set foo src --return-nomatch=1", 'unknown option "--return-nomatch=1"'),
])
def test_errors(rule: str, message: str) -> None:
    assert parameter_problem(f"-m set {rule}") == message


@pytest.mark.parametrize(("rule", "listed"), [
    ("--match-set foo src", "match-set foo src"),
    ("! --match-set foo src", "! match-set foo src"),
    ("--match-set foo src --return-nomatch", "match-set foo src return-nomatch"),
    ("--match-set foo src ! --packets-eq 1 --bytes-lt 3 --return-nomatch "
     "! --update-subcounters ! --update-counters",
     "match-set foo src return-nomatch ! update-counters ! update-subcounters ! packets-eq 1 "
     "bytes-lt 3"),
    ("--match-set foo src -m set ! --match-set x dst,src",
     "match-set foo src ! match-set x dst,src"),
])
def test_listing(rule: str, listed: str) -> None:
    table = _set_table(rule)
    numeric = listing_lines(table, "INPUT", numeric=True)[2]
    named = listing_lines(table, "INPUT", numeric=False)[2]
    assert numeric == f"           0    --  0.0.0.0/0            0.0.0.0/0            {listed}"
    assert named == f"           all  --  anywhere             anywhere             {listed}"


class _RuleWithSets(RuleInProgress):
    """A rule in progress that knows which sets exist (what a caller may supply)."""

    def __init__(self, ipsets: frozenset[str]) -> None:
        super().__init__("filter")
        self.ipsets = ipsets


def test_known_sets_refuse_missing_names_as_iptables_does() -> None:
    (ext,) = EXTENSIONS

    def call(name: str, rule: RuleInProgress) -> OptionCall:
        # "--match-set NAME src": the option's value, then one more word to take.
        return OptionCall(ext.options[0], name, False, rule, lambda: "src", lambda: "src")

    with pytest.raises(ParameterProblem) as error:
        ext.parse({}, call("foo", _RuleWithSets(frozenset({"bar"}))))
    assert error.value.message == "Set foo doesn't exist.\n"
    state: dict[str, object] = {}
    ext.parse(state, call("bar", _RuleWithSets(frozenset({"bar"}))))
    assert state["match-set"] == ("bar", ("src",), False)
