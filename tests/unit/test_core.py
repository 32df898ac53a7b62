"""Core pieces without root: value grammars, table drafts (libiptc semantics), commit checks.

Expected values were read off iptables-legacy 1.8.9 (see tests/differential for the live checks).
"""

from __future__ import annotations

import pytest

from iptparse.edit import TableDraft, TableError
from iptparse.errors import KernelRejection, ParameterProblem
from iptparse.grammar.command import parse_command, parse_rule_spec
from iptparse.grammar.restore import tokenize_rule_line
from iptparse.grammar.tokens import parse_host_mask, parse_protocol, protocol_name, strtoul
from iptparse.model import Rule, Table, Target
from iptparse.printer import rule_save_text
from iptparse.validate import validate_table

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("text", "value"), [("10", 10), ("0x10", 16), ("010", 8), ("0", 0),
                                              ("1a", None), ("", None), ("-1", None)])
def test_strtoul_reads_like_c(text: str, value: int | None) -> None:
    assert strtoul(text) == value


@pytest.mark.parametrize(("text", "saved"), [
    ("10.1.2.3/8", ["10.0.0.0/8"]), ("1.2.3", ["1.2.3.0/32"]),
    ("1.2.3.4/255.0.255.0", ["1.0.3.0/255.0.255.0"]), ("10.0.0.1/0", ["0.0.0.0/0"]),
    ("1.1.1.1,2.2.2.2", ["1.1.1.1/32", "2.2.2.2/32"]), ("1.1.1.1,1.1.1.1", ["1.1.1.1/32"]),
])
def test_host_mask(text: str, saved: list[str]) -> None:
    assert [str(prefix) for prefix in parse_host_mask(text)] == saved


@pytest.mark.parametrize(("text", "message"), [
    ("1.2.3.400", "host/network `1.2.3.400' not found"),
    ("1.2.3.4/33", "invalid mask `33' specified"),
    ("1.2.3.4/-1", "invalid mask `-1' specified"), ("", "host/network `' not found"),
])
def test_host_mask_errors(text: str, message: str) -> None:
    with pytest.raises(ParameterProblem) as error:
        parse_host_mask(text)
    assert error.value.message == message


def test_protocols() -> None:
    assert parse_protocol("tcp") == 6
    assert parse_protocol("all") == 0
    assert protocol_name(47) == "gre"
    assert protocol_name(132) == "sctp"
    with pytest.raises(ParameterProblem, match='unknown protocol "300" specified'):
        parse_protocol("300")


def test_restore_tokenizer_quotes() -> None:
    assert tokenize_rule_line('-m comment --comment "a b"c d', 1) == [
        "-m", "comment", "--comment", "a b", "c", "d"]
    assert tokenize_rule_line('x "a\\"b" ""', 1) == ["x", 'a"b', ""]
    assert tokenize_rule_line("x ab\"cd ef\" \\g", 1) == ["x", "abcd ef", "\\g"]


def test_expansion_order_source_then_destination() -> None:
    rules = parse_rule_spec(["-s", "1.1.1.1,2.2.2.2", "-d", "3.3.3.3,4.4.4.4"])
    assert [rule_save_text("X", rule) for rule in rules] == [
        "-A X -s 1.1.1.1/32 -d 3.3.3.3/32", "-A X -s 1.1.1.1/32 -d 4.4.4.4/32",
        "-A X -s 2.2.2.2/32 -d 3.3.3.3/32", "-A X -s 2.2.2.2/32 -d 4.4.4.4/32"]


def test_draft_libiptc_errors() -> None:
    draft = TableDraft(Table.empty("filter"))
    draft.new_chain("A")
    draft.new_chain("B")
    draft.append("A", Rule(target=Target("B")))
    with pytest.raises(TableError, match="Too many links"):
        draft.delete_chain("B")
    draft.append("B", Rule(target=Target("ACCEPT")))
    draft.flush("A")
    with pytest.raises(TableError, match="Directory not empty"):
        draft.delete_chain("B")
    with pytest.raises(TableError, match="Chain already exists"):
        draft.new_chain("A")
    with pytest.raises(TableError, match="Index of deletion too big"):
        draft.delete_number("INPUT", 5)
    with pytest.raises(TableError, match="Bad built-in chain name"):
        draft.set_policy("A", "DROP")
    with pytest.raises(TableError, match="File exists"):
        draft.rename_chain("A", "B")
    draft.flush()
    draft.delete_chain()
    assert sorted(draft.chain_names()) == ["FORWARD", "INPUT", "OUTPUT"]


def test_rename_updates_jumps() -> None:
    draft = TableDraft(Table.empty("filter"))
    draft.new_chain("OLD")
    draft.append("INPUT", Rule(target=Target("OLD")))
    draft.rename_chain("OLD", "NEW")
    assert draft.freeze().chains["INPUT"].rules[0].target == Target("NEW")
    assert draft.references("NEW") == 1


def test_loops_are_refused_at_commit() -> None:
    draft = TableDraft(Table.empty("filter"))
    for name in ("A", "B"):
        draft.new_chain(name)
    draft.append("A", Rule(target=Target("B")))
    draft.append("B", Rule(target=Target("A", goto=True)))
    validate_table(draft.freeze())  # unreachable from any hook: the kernel does not look
    draft.append("INPUT", Rule(target=Target("A")))
    with pytest.raises(KernelRejection):
        validate_table(draft.freeze())


def test_commands_and_options() -> None:
    command = parse_command(["-L", "INPUT", "2", "-nvx", "--line-numbers"])
    assert (command.action, command.chain, command.rulenum) == ("L", "INPUT", 2)
    assert (command.numeric, command.verbose, command.exact, command.line_numbers) == (
        True, 1, True, True)
    assert parse_command(["-Z", "-L"]).zero
    assert parse_command(["-w", "5", "-A", "INPUT"]).wait == 5.0
    with pytest.raises(ParameterProblem, match="Cannot use -A with -L"):
        parse_command(["-L", "-A", "INPUT"])
