"""``-m nfacct``: saved text, -L text (with and without -n), refusals.

Expected values were read off iptables-legacy 1.8.9 (the oracle) in a network namespace where
``nfacct add`` had created the objects X, "a b", 'q"x' and 0123456789012345678901234567890.
Without the object the kernel refuses the rule ("iptables: No chain/target/match by that name.",
exit 1); bpftables cannot see the kernel's nfacct objects, so it accepts any name
(``test_unknown_object_accepted``).
"""

from __future__ import annotations

import pytest

from iptparse.printer import rule_save_text
from tests.unit.ext_harness import accepted_and_refused_tests, appended_rule

pytestmark = pytest.mark.unit


ACCEPTED = [
    (
        '-m nfacct --nfacct-name X',
        '-m nfacct --nfacct-name  X',
        ' nfacct-name  X',
        ' nfacct-name  X',
    ),
    (
        "-m nfacct --nfacct-name 'a b'",
        '-m nfacct --nfacct-name  "a b"',
        ' nfacct-name  "a b"',
        ' nfacct-name  "a b"',
    ),
    (
        '-m nfacct --nfacct-name \'q"x\'',
        '-m nfacct --nfacct-name  "q\\"x"',
        ' nfacct-name  "q\\"x"',
        ' nfacct-name  "q\\"x"',
    ),
    (
        '-m nfacct --nfacct-name 0123456789012345678901234567890123456789',
        '-m nfacct --nfacct-name  0123456789012345678901234567890',
        ' nfacct-name  0123456789012345678901234567890',
        ' nfacct-name  0123456789012345678901234567890',
    ),
    (
        "-m nfacct --nfacct-name X -m nfacct --nfacct-name 'a b'",
        '-m nfacct --nfacct-name  X -m nfacct --nfacct-name  "a b"',
        ' nfacct-name  X nfacct-name  "a b"',
        ' nfacct-name  X nfacct-name  "a b"',
    ),
]

REFUSED = [
    ("-m nfacct --nfacct-name ''", 'Argument must have a minimum length of 1 characters\n\n'),
    ('-m nfacct', 'nfacct: option "--nfacct-name" must be specified\n\n'),
    ('-m nfacct ! --nfacct-name X', 'nfacct: option "--nfacct-name" cannot be inverted.\n\n'),
    (
        '-m nfacct --nfacct-name X --nfacct-name X',
        'nfacct: option "--nfacct-name" can only be used once.\n\n',
    ),
]


test_accepted, test_refused = accepted_and_refused_tests(ACCEPTED, REFUSED)


def test_unknown_object_accepted() -> None:
    # The kernel would refuse a name with no nfacct object; bpftables has no way to know.
    rule = appended_rule("-m nfacct --nfacct-name no-such-object")
    assert rule_save_text("INPUT", rule) == "-A INPUT -m nfacct --nfacct-name  no-such-object"
