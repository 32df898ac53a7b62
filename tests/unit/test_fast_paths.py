"""The parser's fast paths give exactly what the slow, literal paths give.

- tokenizer: the regex/split shortcuts against add_param_to_argv's character loop;
- shapes: a line replayed through a learned shape against the full getopt parse, on lines
  generated from kube-proxy's vocabulary and on the repo's kube-proxy generator; a shape
  recognised by its pattern against the shape computed word by word;
- values: the common-case readers (one dotted quad, one host, a short comment) against the
  general ones;
- whole-table recall: a restore answered from memory against a fresh restore.
"""

from __future__ import annotations

import inspect
import os
import pickle
import sys
from dataclasses import MISSING, FrozenInstanceError, fields, replace
from types import MappingProxyType

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bench.kube_gen import ClusterShape, restore_text
from iptparse.edit import TableDraft
from iptparse.errors import IptablesError, KernelRejection
from iptparse.extensions import MATCHES, TARGETS, find_match, find_target
from iptparse.extensions.base import Extension, OptionCall, RuleInProgress
from iptparse.extensions.comment import COMMENT_MAX, CommentMatch, CommentOptions
from iptparse.extensions.nat import NatRange
from iptparse.grammar.command import Command, parse_command
from iptparse.grammar.restore import (
    OTHER_SPLIT_BLANKS,
    RestoreError,
    RestoreOptions,
    Restorer,
    _without_other_split_blanks,
    tokenize_quoted_line,
    tokenize_rule_line,
)
from iptparse.grammar.shapes import RuleShapes, _Pattern, shape_of
from iptparse.grammar.tokens import c_uint, numeric_ipv4, parse_host_mask
from iptparse.model import Chain, Counters, IPv4Prefix, Match, Rule, Ruleset, Table, Target
from iptparse.validate import chain_hooks, hooks_since

pytestmark = pytest.mark.unit


@settings(max_examples=600, deadline=None)
@given(st.text(alphabet=' a"\\\t-\r\x0b\x1c\xa0\u2028\u3000é', max_size=14))
def test_tokenizer_shortcuts_match_the_character_loop(text: str) -> None:
    assert tokenize_rule_line(text + "\n", 1) == tokenize_quoted_line(text + "\n")
    assert tokenize_rule_line(text, 1) == tokenize_quoted_line(text)
    if _without_other_split_blanks(text):  # what a restore checks once for its whole text
        assert tokenize_rule_line(text, 1, True) == tokenize_quoted_line(text)
        if '"' not in text:
            assert text.split() == tokenize_quoted_line(text)


def test_other_split_blanks_are_all_that_str_split_adds() -> None:
    """str.split() splits on " \\t\\n" and OTHER_SPLIT_BLANKS (the tokenizer shortcut)."""
    blanks = {chr(code) for code in range(sys.maxunicode + 1) if chr(code).isspace()}
    assert blanks - set(" \t\n") == set(OTHER_SPLIT_BLANKS)
    assert not any(char.isprintable() for char in OTHER_SPLIT_BLANKS + "\t\n")


CHAINS = ["KUBE-SVC-AAAA", "KUBE-SEP-BBBB", "KUBE-MARK-MASQ", "NOPE", "PREROUTING", "OUTPUT",
          "INPUT"]
VALUE_WORDS = ["INPUT", "PREROUTING", "10.0.0.1", "10.0.0.0/8", "1.2.3.4,5.6.7.8", "eth0", "80",
               "0x4000/0x4000",
               "ns/svc:p80", "0.20000000019", "KUBE-SVC-AAAA", "KUBE-SEP-BBBB", "DROP", "DNAT",
               "10.1.1.1:8080", "", "a b", "NEW", "LOCAL", "tcp", "x" * 40, "65536", "SYN"]
OPTION_WORDS = ["-s", "-d", "-i", "-o", "-i", "-o", "-p", "-j", "-g", "-m", "!", "--comment",
                "--dport",
                "--to-destination", "--probability", "--mark", "--or-mark", "--ctstate",
                "--dst-type", "--mode", "--name", "--set", "--rcheck", "--seconds", "-A", "-I",
                "--src", "--dest", "--tcp-flags", "--match-set"]
MATCH_HEADS = [["-m", "comment"], ["-m", "tcp", "-p", "tcp"], ["-p", "udp"], ["-m", "mark"],
               ["-m", "statistic", "--mode", "random"], ["-m", "recent"], ["-m", "conntrack"],
               ["-m", "addrtype"], ["-m", "set"], ["-m", "multiport", "-p", "tcp"]]


@st.composite
def rule_argv(draw: st.DrawFn) -> list[str]:
    argv = [draw(st.sampled_from(["-A", "-I", "-D", "-C"])), draw(st.sampled_from(CHAINS))]
    for head in draw(st.lists(st.sampled_from(MATCH_HEADS), max_size=2)):
        argv += head
    for _ in range(draw(st.integers(0, 6))):
        argv.append(draw(st.sampled_from(OPTION_WORDS)))
        if draw(st.integers(0, 4)):
            argv.append(draw(st.sampled_from(VALUE_WORDS)))
    return argv


def _outcome(parse, argv: list[str], table: str) -> object:
    try:
        return parse(argv, table, lambda name: name in CHAINS[:3] or name in CHAINS[4:])
    except IptablesError as error:
        return (type(error), error.message)


@settings(max_examples=int(os.environ.get("BPFTABLES_EXAMPLES", "600")), deadline=None,
          suppress_health_check=list(HealthCheck))
@given(lines=st.lists(rule_argv(), min_size=2, max_size=6),
       table=st.sampled_from(["nat", "filter"]))
@example(lines=[["-A", "PREROUTING", "-i", "eth0"], ["-A", "OUTPUT", "-i", "eth0"]],
         table="mangle")
def test_shapes_replay_like_the_full_parser(lines: list[list[str]], table: str) -> None:
    shapes = RuleShapes()
    for argv in lines + lines[::-1]:
        full = _outcome(lambda a, t, c: parse_command(a, t, c, restore=True), argv, table)
        assert _outcome(shapes.parse, argv, table) == full, argv
        # a restore's line: an -A replayed gives (chain, rules), all else the Command
        line = _outcome(shapes.parse_line, argv, table)
        if isinstance(line, tuple) and isinstance(full, Command):
            assert full.action == "A" and line == (full.chain, full.rules), argv
        else:
            assert line == full, argv


def test_kube_proxy_restore_through_shapes_equals_full_parse() -> None:
    text = restore_text(ClusterShape(300, 3))
    fast = Restorer().restore(text, Ruleset(), RestoreOptions())
    slow_restorer = Restorer()
    slow_restorer.shapes.parse_line = (  # type: ignore[method-assign]
        lambda argv, table, chain_exists: parse_command(argv, table, chain_exists, True))
    assert fast == slow_restorer.restore(text, Ruleset(), RestoreOptions())


def test_an_error_after_a_recalled_table_names_its_line() -> None:
    """A table recalled whole is skipped line by line: later line numbers stay right."""
    text = restore_text(ClusterShape(20, 2))
    broken = text + "*mangle\n-A INPUT --bogus\nCOMMIT\n"
    restorer = Restorer()
    restorer.restore(text, Ruleset(), RestoreOptions())
    for attempt in (restorer, Restorer()):
        with pytest.raises(RestoreError) as caught:
            attempt.restore(broken, Ruleset(), RestoreOptions())
        assert f"line: {text.count(chr(10)) + 2}\n" in caught.value.text


@settings(max_examples=300, deadline=None)
@given(value=st.text(alphabet="abc:/-.,0123456789 é\x00", max_size=300),
       protocol=st.sampled_from([None, 1, 6, 17, 132]), protocol_invert=st.booleans())
@example(value="10.1.1.1:8080", protocol=6, protocol_invert=False)
@example(value="a" * 255, protocol=None, protocol_invert=False)
def test_parse_one_gives_what_parse_and_finish_give(value: str, protocol: int | None,
                                                    protocol_invert: bool) -> None:
    """Extension.parse_one, where overridden, against the generic option path."""
    for ext in [*(find_match(name) for name in MATCHES),
                *(find_target(name) for name in TARGETS)]:
        assert ext is not None
        if type(ext).parse_one is Extension.parse_one:
            continue
        for opt in ext.options:
            rule = RuleInProgress("nat")
            rule.protocol, rule.protocol_invert = protocol, protocol_invert
            try:
                quick = ext.parse_one(opt, value, rule)
            except IptablesError as error:
                quick = (type(error), error.message)
            if quick is None:
                continue  # the generic path decides
            state: dict[str, object] = {}
            try:
                ext.parse(state, OptionCall(opt, value, False, rule, lambda: None,
                                            lambda: None))
                generic: object = ext.finish(state, rule)
            except IptablesError as error:
                generic = (type(error), error.message)
            assert quick == generic, (ext.name, opt.name, value)


def test_frozen_values_construct_like_dataclasses() -> None:
    """frozen_value's __init__: the dataclass's signature, defaults, immutability, equality."""
    classes = [IPv4Prefix, Counters, Match, Target, Rule, Chain, CommentOptions, NatRange]
    for cls in classes:
        parameters = list(inspect.signature(cls).parameters.values())
        assert [(item.name, item.default) for item in parameters] == [
            (item.name, inspect.Parameter.empty if item.default is MISSING else item.default)
            for item in fields(cls)], cls
    rule = Rule(protocol=6, matches=(Match("comment", CommentOptions("c")),),
                target=Target("KUBE-SEP-X"))
    assert rule == Rule(6, False, None, False, None, False, None, False, None, False, None,
                        (Match("comment", CommentOptions("c")),), Target("KUBE-SEP-X"))
    assert hash(rule) == hash(replace(rule))
    assert replace(rule, protocol=17).protocol == 17 and rule.protocol == 6
    assert pickle.loads(pickle.dumps(rule)) == rule
    with pytest.raises(FrozenInstanceError):
        rule.protocol = 17  # type: ignore[misc]
    with pytest.raises(TypeError):
        Target()  # type: ignore[call-arg]


@pytest.mark.parametrize("noflush", [False, True])
def test_a_recalled_table_is_what_a_fresh_restore_builds(noflush: bool) -> None:
    text = restore_text(ClusterShape(50, 2))
    options = RestoreOptions(noflush=noflush)
    restorer = Restorer()
    first = restorer.restore(text, Ruleset(), options)
    again = restorer.restore(text, first, options)
    third = restorer.restore(text, again, options)
    assert first == again == third == Restorer().restore(text, first, options)
    if noflush:
        assert third.tables["nat"] is again.tables["nat"]  # recognised, not rebuilt
    changed = text.replace("COMMIT\n", "-A KUBE-SERVICES -j ACCEPT\nCOMMIT\n", 1)
    assert restorer.restore(changed, third, options) == Restorer().restore(changed, third,
                                                                           options)


@settings(max_examples=int(os.environ.get("BPFTABLES_EXAMPLES", "600")), deadline=None,
          suppress_health_check=list(HealthCheck))
@given(first=rule_argv(), other=rule_argv(), swaps=st.lists(
    st.tuples(st.integers(0, 30), st.sampled_from(VALUE_WORDS + OPTION_WORDS)), max_size=3))
def test_a_pattern_recognises_exactly_its_shape(first: list[str], other: list[str],
                                               swaps: list[tuple[int, str]]) -> None:
    # a look-alike of ``first``: some words replaced (holes or not), or an unrelated line
    alike = list(first)
    for index, word in swaps:
        if index < len(alike):
            alike[index] = word
    pattern = _Pattern.of(first, None)
    for argv in (alike, other, first):
        shape, values = shape_of(argv)
        if shape == shape_of(first)[0]:
            assert pattern.values(argv) == values, argv
        else:
            assert pattern.values(argv) is None, argv


def test_shapes_alternating_in_one_bucket_replay_like_the_full_parser() -> None:
    """Two shapes of one length and first words (one bucket), met in turns."""
    lines = []
    for number in range(6):
        lines.append(["-A", f"KUBE-SVC-{number}", "-m", "comment", "--comment", f"c{number}",
                      "-m", "statistic", "--mode", "random", "--probability", "0.5", "-j",
                      "KUBE-SEP-BBBB"])
        lines.append(["-A", f"KUBE-SEP-{number}", "-m", "comment", "--comment", f"c{number}",
                      "-m", "tcp", "-p", "tcp", "-j", "DNAT", "--to-destination",
                      f"10.0.0.{number}:80"])
    shapes = RuleShapes()
    for argv in lines + lines:
        full = _outcome(lambda a, t, c: parse_command(a, t, c, restore=True), argv, "nat")
        assert _outcome(shapes.parse, argv, "nat") == full, argv


@settings(max_examples=500, deadline=None)
@given(st.lists(st.integers(0, 300), min_size=1, max_size=5), st.booleans())
def test_dotted_quads_read_like_c_numbers(parts: list[int], leading_zero: bool) -> None:
    text = ".".join(("0" if leading_zero and part else "") + str(part) for part in parts)
    numbers = [c_uint(part, 0xFF) for part in text.split(".")]
    expected = None
    if len(numbers) <= 4 and None not in numbers:
        expected = 0
        for number in numbers:
            expected = expected << 8 | number
        expected <<= 8 * (4 - len(numbers))
    assert numeric_ipv4(text) == expected


@pytest.mark.parametrize("text", ["10.0.0.1", "1.2.3", "010.0.0.1", "255.255.255.255",
                                  "0x0a.0.0.1", "0", "198.18.0.1"])
def test_one_host_reads_like_a_list_of_it(text: str) -> None:
    assert parse_host_mask(text) == parse_host_mask(f"{text},{text}")  # the list path
    assert len(parse_host_mask(text)) == 1


@pytest.mark.parametrize("text", ["ns/svc:p80", "a" * (COMMENT_MAX - 1), "a" * COMMENT_MAX,
                                  "é" * 200, "x" * 250 + "é" * 5, ""])
def test_comments_are_cut_to_255_bytes(text: str) -> None:
    kept = CommentMatch().convert(CommentMatch.options[0], text, None)  # type: ignore[arg-type]
    assert kept == text.encode()[:COMMENT_MAX - 1].decode(errors="ignore")


@pytest.mark.parametrize("kind,names", [("match", MATCHES), ("target", TARGETS)])
def test_extensions_skipped_at_commit_check_nothing(kind: str, names: dict[str, str]) -> None:
    for name in names:
        ext = find_match(name) if kind == "match" else find_target(name)
        assert ext is not None
        if not ext.checks_anything:
            assert type(ext).check is Extension.check
            assert type(ext).check_entry is Extension.check_entry
            assert (ext.tables, ext.hooks, ext.proto) == (None, None, None)


@pytest.mark.parametrize("text", [
    "*mangle\n-A INPUT -p tcp -j DNAT --to-destination 198.18.0.1\nCOMMIT\n",  # table
    # the same extension accepted first elsewhere (its answer is kept per hooks and protocol)
    "*nat\n:X - [0:0]\n:Y - [0:0]\n-A X -p tcp -j DNAT --to-destination 198.18.0.1\n"
    "-A Y -p tcp -j DNAT --to-destination 198.18.0.1\n-A PREROUTING -j X\n"
    "-A POSTROUTING -j Y\nCOMMIT\n",
    "*filter\n:X - [0:0]\n-A X -p tcp -m tcp --dport 80\n-A INPUT -p tcp -m tcp --dport 80\n"
    "-A INPUT -p udp -m tcp --dport 80 -j X\nCOMMIT\n",
    "*nat\n:X - [0:0]\n-A X -p tcp -j DNAT --to-destination 198.18.0.1\n-A INPUT -j X\n"
    "COMMIT\n",  # hook, inherited through a jump
    "*filter\n-A INPUT -m comment --comment c -m tcp --dport 80 -j ACCEPT\nCOMMIT\n",  # proto
])
def test_commit_still_refuses_a_misplaced_extension(text: str) -> None:
    with pytest.raises(RestoreError) as caught:
        Restorer().restore(text, Ruleset(), RestoreOptions())
    assert caught.value.text == f"iptables-restore: line {text.count(chr(10))} failed\n"
    assert isinstance(caught.value.__cause__, KernelRejection)


def test_a_chain_that_passed_is_checked_again_when_its_hooks_change() -> None:
    """TableChecker skips a chain only when it is the same and reached the same way."""
    restorer = Restorer()
    first = restorer.restore("*nat\n:X - [0:0]\n-A X -p tcp -j DNAT --to-destination 198.18.0.1\n"
                             "-A PREROUTING -j X\nCOMMIT\n", Ruleset(), RestoreOptions())
    options = RestoreOptions(noflush=True)
    # X itself unchanged, now also reached from POSTROUTING, where DNAT is refused
    with pytest.raises(RestoreError) as caught:
        restorer.restore("*nat\n-A POSTROUTING -j X\nCOMMIT\n", first, options)
    assert isinstance(caught.value.__cause__, KernelRejection)
    # and the kept answers still hold for what did not change
    again = restorer.restore("*nat\n-A OUTPUT -j X\nCOMMIT\n", first, options)
    assert again.tables["nat"].chains["X"] is first.tables["nat"].chains["X"]


def test_flush_and_delete_all_is_flush_then_delete() -> None:
    ruleset = Restorer().restore(restore_text(ClusterShape(20, 2), jumps=True), Ruleset(),
                                 RestoreOptions())
    for table in ruleset.tables.values():
        at_once, one_by_one = TableDraft(table), TableDraft(table)
        at_once.flush_and_delete_all()
        one_by_one.flush()
        one_by_one.delete_chain()
        assert at_once.freeze() == one_by_one.freeze()
        assert at_once.chain_names() == one_by_one.chain_names()
        at_once.new_chain("X")  # and the draft goes on as the other would
        one_by_one.new_chain("X")
        assert at_once.references("X") == one_by_one.references("X") == 0


def test_a_chain_resent_unchanged_stays_the_same_object() -> None:
    text = restore_text(ClusterShape(20, 2))
    restorer = Restorer()
    first = restorer.restore(text, Ruleset(), RestoreOptions())
    changed = text.replace("-A KUBE-SERVICES", "-A KUBE-SERVICES -s 198.18.0.7", 1)
    for options in (RestoreOptions(), RestoreOptions(noflush=True)):
        again = restorer.restore(changed, first, options)
        kept = [name for name, chain in again.tables["nat"].chains.items()
                if first.tables["nat"].chains.get(name) is chain]
        assert set(again.tables["nat"].chains) - set(kept) == {"KUBE-SERVICES"}
        assert again == Restorer().restore(changed, first, options)


def _reference_hooks(table: Table) -> dict[str, frozenset[str]] | None:
    """Each chain's hooks by a walk per built-in chain; None when a loop is reachable."""
    edges = {name: [rule.target.name for rule in chain.rules if rule.target is not None
                    and rule.target.name in table.chains]
             for name, chain in table.chains.items()}
    hooks: dict[str, set[str]] = {name: set() for name in table.chains}

    def walk(name: str, path: tuple[str, ...]) -> bool:
        if name in path:
            return False
        hooks[name].add(path[0] if path else name)
        return all(walk(target, (*path, name)) for target in edges[name])

    for name, chain in table.chains.items():
        if chain.builtin and not walk(name, ()):
            return None
    return {name: frozenset(found) for name, found in hooks.items()}


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["INPUT", "FORWARD", "OUTPUT", "A", "B", "C", "D"]),
                          st.sampled_from(["A", "B", "C", "D", "ACCEPT", "RETURN"]),
                          st.booleans()), max_size=12))
def test_chain_hooks_are_what_a_walk_per_hook_finds(jumps: list[tuple[str, str, bool]]) -> None:
    chains = {name: [] for name in ("INPUT", "FORWARD", "OUTPUT", "A", "B", "C", "D")}
    for source, target, goto in jumps:
        chains[source].append(Rule(target=Target(target, None, goto)))
    table = Table("filter", MappingProxyType({
        name: Chain(name, "ACCEPT" if name in ("INPUT", "FORWARD", "OUTPUT") else None,
                    tuple(rules)) for name, rules in chains.items()}))
    expected = _reference_hooks(table)
    if expected is None:
        with pytest.raises(KernelRejection):
            chain_hooks(table)
    else:
        assert chain_hooks(table) == expected


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["INPUT", "FORWARD", "OUTPUT", "A", "B", "C", "D"]),
                          st.sampled_from(["A", "B", "C", "D", "ACCEPT"])), max_size=10),
       st.lists(st.tuples(st.sampled_from(["INPUT", "FORWARD", "OUTPUT", "A", "B", "C", "D",
                                           "E"]),
                          st.sampled_from(["A", "B", "C", "D", "E", "ACCEPT"])), max_size=10),
       st.sets(st.sampled_from(["A", "B", "C", "D", "E"])))
def test_hooks_since_an_earlier_table_are_the_hooks(first: list[tuple[str, str]],
                                                     second: list[tuple[str, str]],
                                                     gone: set[str]) -> None:
    """hooks_since (TableChecker's way) against chain_hooks of the new table: the same
    hooks, the same loops refused, or None (computed afresh)."""
    def table_of(jumps: list[tuple[str, str]], names: list[str],
                 reuse: Table | None = None) -> Table:
        rules: dict[str, list[Rule]] = {name: [] for name in names}
        for source, target in jumps:
            if source in rules and (target in rules or target == "ACCEPT"):
                rules[source].append(Rule(target=Target(target)))
        chains = {}
        for name, listed in rules.items():
            chain = Chain(name, "ACCEPT" if name in ("INPUT", "FORWARD", "OUTPUT") else None,
                          tuple(listed))
            kept = reuse.chains.get(name) if reuse is not None else None
            chains[name] = kept if kept == chain and kept is not None else chain
        return Table("filter", MappingProxyType(chains))

    builtins = ["INPUT", "FORWARD", "OUTPUT"]
    earlier = table_of(first, [*builtins, "A", "B", "C", "D"])
    try:
        earlier_hooks = chain_hooks(earlier)
    except KernelRejection:
        return  # only a table that passed is remembered
    names = [*builtins, *(name for name in "ABCDE" if name not in gone)]
    # the second table: the first's jumps that still can be, and new ones
    table = table_of(first + second, names, earlier)
    try:
        expected: object = chain_hooks(table)
    except KernelRejection:
        expected = KernelRejection
    try:
        found: object = hooks_since(table, (earlier, earlier_hooks))
    except KernelRejection:
        found = KernelRejection
    assert found is None or found == expected
