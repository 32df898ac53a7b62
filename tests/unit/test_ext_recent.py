"""``-m recent``: saved text, -L text (with and without -n), refusals (parser and kernel).

Every expected value below was read off iptables-legacy 1.8.9 (the oracle) in a network
namespace on this machine's kernel (which accepts ``--hitcount`` up to 65535): ``iptables-legacy
-A INPUT RULE``, then ``iptables-legacy-save`` and ``-L INPUT [-n]``; refusals are its exact
stderr.
"""

from __future__ import annotations

import pytest

from tests.unit.ext_harness import accepted_and_refused_tests

pytestmark = pytest.mark.unit


ACCEPTED = [
    (
        '-m recent --set',
        '-m recent --set --name DEFAULT --mask 255.255.255.255 --rsource',
        ' recent: SET name: DEFAULT side: source mask: 255.255.255.255',
        ' recent: SET name: DEFAULT side: source mask: 255.255.255.255',
    ),
    (
        '-m recent ! --set',
        '-m recent ! --set --name DEFAULT --mask 255.255.255.255 --rsource',
        ' ! recent: SET name: DEFAULT side: source mask: 255.255.255.255',
        ' ! recent: SET name: DEFAULT side: source mask: 255.255.255.255',
    ),
    (
        '-m recent --rcheck',
        '-m recent --rcheck --name DEFAULT --mask 255.255.255.255 --rsource',
        ' recent: CHECK name: DEFAULT side: source mask: 255.255.255.255',
        ' recent: CHECK name: DEFAULT side: source mask: 255.255.255.255',
    ),
    (
        '-m recent --update',
        '-m recent --update --name DEFAULT --mask 255.255.255.255 --rsource',
        ' recent: UPDATE name: DEFAULT side: source mask: 255.255.255.255',
        ' recent: UPDATE name: DEFAULT side: source mask: 255.255.255.255',
    ),
    (
        '-m recent --remove',
        '-m recent --remove --name DEFAULT --mask 255.255.255.255 --rsource',
        ' recent: REMOVE name: DEFAULT side: source mask: 255.255.255.255',
        ' recent: REMOVE name: DEFAULT side: source mask: 255.255.255.255',
    ),
    (
        '-m recent ! --rcheck --seconds 10 --reap --hitcount 5 --rttl --name foo --rdest --mask'
        ' 255.255.0.0',
        '-m recent ! --rcheck --seconds 10 --reap --hitcount 5 --rttl --name foo --mask 255.255'
        '.0.0 --rdest',
        ' ! recent: CHECK seconds: 10 reap hit_count: 5 TTL-Match name: foo side: dest mask: 25'
        '5.255.0.0',
        ' ! recent: CHECK seconds: 10 reap hit_count: 5 TTL-Match name: foo side: dest mask: 25'
        '5.255.0.0',
    ),
    (
        '-m recent --rcheck --seconds 10800 --reap --name X',
        '-m recent --rcheck --seconds 10800 --reap --name X --mask 255.255.255.255 --rsource',
        ' recent: CHECK seconds: 10800 reap name: X side: source mask: 255.255.255.255',
        ' recent: CHECK seconds: 10800 reap name: X side: source mask: 255.255.255.255',
    ),
    (
        '-m recent --update --seconds 10 --hitcount 3 --rttl',
        '-m recent --update --seconds 10 --hitcount 3 --rttl --name DEFAULT --mask 255.255.255.'
        '255 --rsource',
        ' recent: UPDATE seconds: 10 hit_count: 3 TTL-Match name: DEFAULT side: source mask: 25'
        '5.255.255.255',
        ' recent: UPDATE seconds: 10 hit_count: 3 TTL-Match name: DEFAULT side: source mask: 25'
        '5.255.255.255',
    ),
    (
        '-m recent --rcheck --seconds 4294967295',
        '-m recent --rcheck --seconds -1 --name DEFAULT --mask 255.255.255.255 --rsource',
        ' recent: CHECK seconds: -1 name: DEFAULT side: source mask: 255.255.255.255',
        ' recent: CHECK seconds: -1 name: DEFAULT side: source mask: 255.255.255.255',
    ),
    (
        '-m recent --rcheck --hitcount 0',
        '-m recent --rcheck --name DEFAULT --mask 255.255.255.255 --rsource',
        ' recent: CHECK name: DEFAULT side: source mask: 255.255.255.255',
        ' recent: CHECK name: DEFAULT side: source mask: 255.255.255.255',
    ),
    (
        '-m recent --rcheck --hitcount 999',
        '-m recent --rcheck --hitcount 999 --name DEFAULT --mask 255.255.255.255 --rsource',
        ' recent: CHECK hit_count: 999 name: DEFAULT side: source mask: 255.255.255.255',
        ' recent: CHECK hit_count: 999 name: DEFAULT side: source mask: 255.255.255.255',
    ),
    (
        '-m recent --rcheck --hitcount 255',
        '-m recent --rcheck --hitcount 255 --name DEFAULT --mask 255.255.255.255 --rsource',
        ' recent: CHECK hit_count: 255 name: DEFAULT side: source mask: 255.255.255.255',
        ' recent: CHECK hit_count: 255 name: DEFAULT side: source mask: 255.255.255.255',
    ),
    (
        '-m recent --rcheck --hitcount 256',
        '-m recent --rcheck --hitcount 256 --name DEFAULT --mask 255.255.255.255 --rsource',
        ' recent: CHECK hit_count: 256 name: DEFAULT side: source mask: 255.255.255.255',
        ' recent: CHECK hit_count: 256 name: DEFAULT side: source mask: 255.255.255.255',
    ),
    (
        '-m recent --rcheck --hitcount 20',
        '-m recent --rcheck --hitcount 20 --name DEFAULT --mask 255.255.255.255 --rsource',
        ' recent: CHECK hit_count: 20 name: DEFAULT side: source mask: 255.255.255.255',
        ' recent: CHECK hit_count: 20 name: DEFAULT side: source mask: 255.255.255.255',
    ),
    (
        '-m recent --rcheck --hitcount 21',
        '-m recent --rcheck --hitcount 21 --name DEFAULT --mask 255.255.255.255 --rsource',
        ' recent: CHECK hit_count: 21 name: DEFAULT side: source mask: 255.255.255.255',
        ' recent: CHECK hit_count: 21 name: DEFAULT side: source mask: 255.255.255.255',
    ),
    (
        '-m recent --rcheck --name "a b"',
        '-m recent --rcheck --name a b --mask 255.255.255.255 --rsource',
        ' recent: CHECK name: a b side: source mask: 255.255.255.255',
        ' recent: CHECK name: a b side: source mask: 255.255.255.255',
    ),
    (
        '-m recent --rcheck --name 012345678901234567890123456789012345678901234567890123456789'
        '0123456789',
        '-m recent --rcheck --name 012345678901234567890123456789012345678901234567890123456789'
        '0123456789 --mask 255.255.255.255 --rsource',
        ' recent: CHECK name: 01234567890123456789012345678901234567890123456789012345678901234'
        '56789 side: source mask: 255.255.255.255',
        ' recent: CHECK name: 01234567890123456789012345678901234567890123456789012345678901234'
        '56789 side: source mask: 255.255.255.255',
    ),
    (
        '-m recent --rcheck --name 012345678901234567890123456789012345678901234567890123456789'
        '012',
        '-m recent --rcheck --name 012345678901234567890123456789012345678901234567890123456789'
        '012 --mask 255.255.255.255 --rsource',
        ' recent: CHECK name: 012345678901234567890123456789012345678901234567890123456789012 s'
        'ide: source mask: 255.255.255.255',
        ' recent: CHECK name: 012345678901234567890123456789012345678901234567890123456789012 s'
        'ide: source mask: 255.255.255.255',
    ),
    (
        '-m recent --rcheck --name 012345678901234567890123456789012345678901234567890123456789'
        '0123',
        '-m recent --rcheck --name 012345678901234567890123456789012345678901234567890123456789'
        '0123 --mask 255.255.255.255 --rsource',
        ' recent: CHECK name: 0123456789012345678901234567890123456789012345678901234567890123 '
        'side: source mask: 255.255.255.255',
        ' recent: CHECK name: 0123456789012345678901234567890123456789012345678901234567890123 '
        'side: source mask: 255.255.255.255',
    ),
    (
        '-m recent --rcheck --name 012345678901234567890123456789012345678901234567890123456789'
        '01234',
        '-m recent --rcheck --name 012345678901234567890123456789012345678901234567890123456789'
        '01234 --mask 255.255.255.255 --rsource',
        ' recent: CHECK name: 01234567890123456789012345678901234567890123456789012345678901234'
        ' side: source mask: 255.255.255.255',
        ' recent: CHECK name: 01234567890123456789012345678901234567890123456789012345678901234'
        ' side: source mask: 255.255.255.255',
    ),
    (
        '-m recent --rcheck --rsource --rdest',
        '-m recent --rcheck --name DEFAULT --mask 255.255.255.255 --rdest',
        ' recent: CHECK name: DEFAULT side: dest mask: 255.255.255.255',
        ' recent: CHECK name: DEFAULT side: dest mask: 255.255.255.255',
    ),
    (
        '-m recent --rcheck --rdest --rsource',
        '-m recent --rcheck --name DEFAULT --mask 255.255.255.255 --rsource',
        ' recent: CHECK name: DEFAULT side: source mask: 255.255.255.255',
        ' recent: CHECK name: DEFAULT side: source mask: 255.255.255.255',
    ),
    (
        '-m recent --rcheck --mask 255.255.255.0',
        '-m recent --rcheck --name DEFAULT --mask 255.255.255.0 --rsource',
        ' recent: CHECK name: DEFAULT side: source mask: 255.255.255.0',
        ' recent: CHECK name: DEFAULT side: source mask: 255.255.255.0',
    ),
    (
        '-m recent --rcheck --mask 24',
        '-m recent --rcheck --name DEFAULT --mask 0.0.0.24 --rsource',
        ' recent: CHECK name: DEFAULT side: source mask: 0.0.0.24',
        ' recent: CHECK name: DEFAULT side: source mask: 0.0.0.24',
    ),
    (
        '-m recent --rcheck --mask 1.2.3',
        '-m recent --rcheck --name DEFAULT --mask 1.2.0.3 --rsource',
        ' recent: CHECK name: DEFAULT side: source mask: 1.2.0.3',
        ' recent: CHECK name: DEFAULT side: source mask: 1.2.0.3',
    ),
    (
        '-m recent --rcheck --mask 255.0.255.0',
        '-m recent --rcheck --name DEFAULT --mask 255.0.255.0 --rsource',
        ' recent: CHECK name: DEFAULT side: source mask: 255.0.255.0',
        ' recent: CHECK name: DEFAULT side: source mask: 255.0.255.0',
    ),
    (
        '-m recent --rcheck --mask 0.0.0.0',
        '-m recent --rcheck --name DEFAULT --mask 0.0.0.0 --rsource',
        ' recent: CHECK name: DEFAULT side: source mask: 0.0.0.0',
        ' recent: CHECK name: DEFAULT side: source mask: 0.0.0.0',
    ),
    (
        '-m recent --rcheck --reap --seconds 5',
        '-m recent --rcheck --seconds 5 --reap --name DEFAULT --mask 255.255.255.255 --rsource',
        ' recent: CHECK seconds: 5 reap name: DEFAULT side: source mask: 255.255.255.255',
        ' recent: CHECK seconds: 5 reap name: DEFAULT side: source mask: 255.255.255.255',
    ),
    (
        '-m recent --rcheck --name "a\\"b"',
        '-m recent --rcheck --name a"b --mask 255.255.255.255 --rsource',
        ' recent: CHECK name: a"b side: source mask: 255.255.255.255',
        ' recent: CHECK name: a"b side: source mask: 255.255.255.255',
    ),
    (
        '-m recent --rcheck --seconds 0x10 --hitcount 010',
        '-m recent --rcheck --seconds 16 --hitcount 8 --name DEFAULT --mask 255.255.255.255 --r'
        'source',
        ' recent: CHECK seconds: 16 hit_count: 8 name: DEFAULT side: source mask: 255.255.255.255',
        ' recent: CHECK seconds: 16 hit_count: 8 name: DEFAULT side: source mask: 255.255.255.255',
    ),
    (
        '-m recent --rcheck --hitcount 65535',
        '-m recent --rcheck --hitcount 65535 --name DEFAULT --mask 255.255.255.255 --rsource',
        ' recent: CHECK hit_count: 65535 name: DEFAULT side: source mask: 255.255.255.255',
        ' recent: CHECK hit_count: 65535 name: DEFAULT side: source mask: 255.255.255.255',
    ),
    (
        '-m recent --rcheck --seconds 2147483648',
        '-m recent --rcheck --seconds -2147483648 --name DEFAULT --mask 255.255.255.255 --rsource',
        ' recent: CHECK seconds: -2147483648 name: DEFAULT side: source mask: 255.255.255.255',
        ' recent: CHECK seconds: -2147483648 name: DEFAULT side: source mask: 255.255.255.255',
    ),
    # Names longer than 199 characters are saved and listed cut to 199.
    *[
        (
            f'-m recent --rcheck --name {"a" * length}',
            f'-m recent --rcheck --name {"a" * 199} --mask 255.255.255.255 --rsource',
            f' recent: CHECK name: {"a" * 199} side: source mask: 255.255.255.255',
            f' recent: CHECK name: {"a" * 199} side: source mask: 255.255.255.255',
        )
        for length in (199, 200, 201, 250)
    ],
    (
        '-m recent --rcheck --name a,b',
        '-m recent --rcheck --name a,b --mask 255.255.255.255 --rsource',
        ' recent: CHECK name: a,b side: source mask: 255.255.255.255',
        ' recent: CHECK name: a,b side: source mask: 255.255.255.255',
    ),
    (
        "-m recent --rcheck --name ' '",
        '-m recent --rcheck --name   --mask 255.255.255.255 --rsource',
        ' recent: CHECK name:   side: source mask: 255.255.255.255',
        ' recent: CHECK name:   side: source mask: 255.255.255.255',
    ),
    (
        '-m recent --rcheck --mask localhost',
        '-m recent --rcheck --name DEFAULT --mask 127.0.0.1 --rsource',
        ' recent: CHECK name: DEFAULT side: source mask: 127.0.0.1',
        ' recent: CHECK name: DEFAULT side: source mask: 127.0.0.1',
    ),
    (
        '-m recent --rcheck --mask 0x0',
        '-m recent --rcheck --name DEFAULT --mask 0.0.0.0 --rsource',
        ' recent: CHECK name: DEFAULT side: source mask: 0.0.0.0',
        ' recent: CHECK name: DEFAULT side: source mask: 0.0.0.0',
    ),
    (
        "-m recent --rcheck --name '-x'",
        '-m recent --rcheck --name -x --mask 255.255.255.255 --rsource',
        ' recent: CHECK name: -x side: source mask: 255.255.255.255',
        ' recent: CHECK name: -x side: source mask: 255.255.255.255',
    ),
    (
        "-m recent --rcheck --name 'a\\\\b'",
        '-m recent --rcheck --name a\\\\b --mask 255.255.255.255 --rsource',
        ' recent: CHECK name: a\\\\b side: source mask: 255.255.255.255',
        ' recent: CHECK name: a\\\\b side: source mask: 255.255.255.255',
    ),
    (
        "-m recent --rcheck --seconds ' 5' --hitcount ' 5'",
        '-m recent --rcheck --seconds 5 --hitcount 5 --name DEFAULT --mask 255.255.255.255 --rs'
        'ource',
        ' recent: CHECK seconds: 5 hit_count: 5 name: DEFAULT side: source mask: 255.255.255.255',
        ' recent: CHECK seconds: 5 hit_count: 5 name: DEFAULT side: source mask: 255.255.255.255',
    ),
    (
        "-m recent --rcheck --seconds '+5' --hitcount '+5'",
        '-m recent --rcheck --seconds 5 --hitcount 5 --name DEFAULT --mask 255.255.255.255 --rs'
        'ource',
        ' recent: CHECK seconds: 5 hit_count: 5 name: DEFAULT side: source mask: 255.255.255.255',
        ' recent: CHECK seconds: 5 hit_count: 5 name: DEFAULT side: source mask: 255.255.255.255',
    ),
    (
        "-m recent --rcheck --seconds '0x5' --hitcount '0x5'",
        '-m recent --rcheck --seconds 5 --hitcount 5 --name DEFAULT --mask 255.255.255.255 --rs'
        'ource',
        ' recent: CHECK seconds: 5 hit_count: 5 name: DEFAULT side: source mask: 255.255.255.255',
        ' recent: CHECK seconds: 5 hit_count: 5 name: DEFAULT side: source mask: 255.255.255.255',
    ),
    (
        "-m recent --rcheck --seconds '05' --hitcount '05'",
        '-m recent --rcheck --seconds 5 --hitcount 5 --name DEFAULT --mask 255.255.255.255 --rs'
        'ource',
        ' recent: CHECK seconds: 5 hit_count: 5 name: DEFAULT side: source mask: 255.255.255.255',
        ' recent: CHECK seconds: 5 hit_count: 5 name: DEFAULT side: source mask: 255.255.255.255',
    ),
    (
        '-m recent --update --rttl --rsource',
        '-m recent --update --rttl --name DEFAULT --mask 255.255.255.255 --rsource',
        ' recent: UPDATE TTL-Match name: DEFAULT side: source mask: 255.255.255.255',
        ' recent: UPDATE TTL-Match name: DEFAULT side: source mask: 255.255.255.255',
    ),
    (
        '-m recent --set --name ...',
        '-m recent --set --name ... --mask 255.255.255.255 --rsource',
        ' recent: SET name: ... side: source mask: 255.255.255.255',
        ' recent: SET name: ... side: source mask: 255.255.255.255',
    ),
    (
        '-m recent ! --remove --rdest --mask 1.2.3.4 --name Z',
        '-m recent ! --remove --name Z --mask 1.2.3.4 --rdest',
        ' ! recent: REMOVE name: Z side: dest mask: 1.2.3.4',
        ' ! recent: REMOVE name: Z side: dest mask: 1.2.3.4',
    ),
    (
        '-m recent --rcheck --seconds 1 --hitcount 65535 --reap --rttl',
        '-m recent --rcheck --seconds 1 --reap --hitcount 65535 --rttl --name DEFAULT --mask 25'
        '5.255.255.255 --rsource',
        ' recent: CHECK seconds: 1 reap hit_count: 65535 TTL-Match name: DEFAULT side: source m'
        'ask: 255.255.255.255',
        ' recent: CHECK seconds: 1 reap hit_count: 65535 TTL-Match name: DEFAULT side: source m'
        'ask: 255.255.255.255',
    ),
    (
        "-m recent --rcheck --mask 255.255.255.0 --name 'a b' -m recent --set",
        '-m recent --rcheck --name a b --mask 255.255.255.0 --rsource -m recent --set --name DE'
        'FAULT --mask 255.255.255.255 --rsource',
        ' recent: CHECK name: a b side: source mask: 255.255.255.0 recent: SET name: DEFAULT si'
        'de: source mask: 255.255.255.255',
        ' recent: CHECK name: a b side: source mask: 255.255.255.0 recent: SET name: DEFAULT si'
        'de: source mask: 255.255.255.255',
    ),
]

REFUSED = [
    ('-m recent --set --rttl', 'recent: option "--rttl" cannot be used together with "--set".\n\n'),
    (
        '-m recent --set --seconds 5',
        "iptables: Invalid argument. Run `dmesg' for more information.\n",
    ),
    (
        '-m recent --set --hitcount 5',
        "iptables: Invalid argument. Run `dmesg' for more information.\n",
    ),
    ('-m recent --set --reap', 'recent: option "--reap" also requires "--seconds".\n\n'),
    ('-m recent --rcheck --reap', 'recent: option "--reap" also requires "--seconds".\n\n'),
    (
        '-m recent --remove --seconds 5',
        "iptables: Invalid argument. Run `dmesg' for more information.\n",
    ),
    (
        '-m recent --remove --hitcount 5',
        "iptables: Invalid argument. Run `dmesg' for more information.\n",
    ),
    (
        '-m recent --remove --rttl',
        'recent: option "--rttl" cannot be used together with "--remove".\n\n',
    ),
    (
        '-m recent --set --rcheck',
        'recent: option "--set" cannot be used together with "--rcheck".\n\n',
    ),
    (
        '-m recent --set --update',
        'recent: option "--set" cannot be used together with "--update".\n\n',
    ),
    (
        '-m recent --rcheck --update',
        'recent: option "--rcheck" cannot be used together with "--update".\n\n',
    ),
    (
        '-m recent --update --remove',
        'recent: option "--update" cannot be used together with "--remove".\n\n',
    ),
    ('-m recent --set --set', 'recent: option "--set" can only be used once.\n\n'),
    ('-m recent', "recent: you must specify one of `--set', `--rcheck' `--update' or `--remove'\n"),
    (
        '-m recent --name foo',
        "recent: you must specify one of `--set', `--rcheck' `--update' or `--remove'\n",
    ),
    (
        '-m recent --seconds 5',
        "recent: you must specify one of `--set', `--rcheck' `--update' or `--remove'\n",
    ),
    (
        '-m recent --rcheck --seconds 0',
        'recent: bad value for option "--seconds", or out of range (1-4294967295).\n\n',
    ),
    (
        '-m recent --rcheck --seconds -1',
        'recent: bad value for option "--seconds", or out of range (1-4294967295).\n\n',
    ),
    (
        '-m recent --rcheck --seconds 4294967296',
        'recent: bad value for option "--seconds", or out of range (1-4294967295).\n\n',
    ),
    (
        '-m recent --rcheck --seconds a',
        'recent: bad value for option "--seconds", or out of range (1-4294967295).\n\n',
    ),
    (
        '-m recent --rcheck --hitcount 4294967295',
        "iptables: Invalid argument. Run `dmesg' for more information.\n",
    ),
    (
        '-m recent --rcheck --hitcount 4294967296',
        'recent: bad value for option "--hitcount", or out of range (0-4294967295).\n\n',
    ),
    (
        '-m recent --rcheck --name ""',
        "iptables: Invalid argument. Run `dmesg' for more information.\n",
    ),
    (
        '-m recent --rcheck --name a/b',
        "iptables: Invalid argument. Run `dmesg' for more information.\n",
    ),
    (
        '-m recent --rcheck --name foo --name bar',
        'recent: option "--name" can only be used once.\n\n',
    ),
    ('-m recent --rcheck --rdest --rdest', 'recent: option "--rdest" can only be used once.\n\n'),
    ('-m recent --rcheck --mask ""', 'getaddrinfo: Name or service not known\n\n'),
    ('-m recent --rcheck ! --seconds 5', 'recent: option "--seconds" cannot be inverted.\n\n'),
    ('-m recent --rcheck ! --name foo', 'recent: option "--name" cannot be inverted.\n\n'),
    (
        '-m recent --rcheck --seconds 5 --seconds 6',
        'recent: option "--seconds" can only be used once.\n\n',
    ),
    ('-m recent --rcheck --rttl --rttl', 'recent: option "--rttl" can only be used once.\n\n'),
    (
        '-m recent --rcheck --reap --reap --seconds 3',
        'recent: option "--reap" can only be used once.\n\n',
    ),
    (
        '-m recent --rcheck --hitcount 3 --hitcount 4',
        'recent: option "--hitcount" can only be used once.\n\n',
    ),
    (
        '-m recent --rcheck --mask 255.0.0.0 --mask 255.255.0.0',
        'recent: option "--mask" can only be used once.\n\n',
    ),
    (
        '-m recent --reap',
        "recent: you must specify one of `--set', `--rcheck' `--update' or `--remove'\n",
    ),
    (
        '-m recent --reap --seconds 4 --rttl',
        "recent: you must specify one of `--set', `--rcheck' `--update' or `--remove'\n",
    ),
    (
        '-m recent --set --reap --seconds 4',
        "iptables: Invalid argument. Run `dmesg' for more information.\n",
    ),
    ('-m recent --set --rttl --reap', 'recent: option "--reap" also requires "--seconds".\n\n'),
    (
        '-m recent --rttl',
        "recent: you must specify one of `--set', `--rcheck' `--update' or `--remove'\n",
    ),
    (
        '-m recent --rcheck --hitcount 65536',
        "iptables: Invalid argument. Run `dmesg' for more information.\n",
    ),
    (
        '-m recent --rcheck --hitcount 2147483648',
        "iptables: Invalid argument. Run `dmesg' for more information.\n",
    ),
    (
        '-m recent --rcheck --name .',
        "iptables: Invalid argument. Run `dmesg' for more information.\n",
    ),
    (
        '-m recent --rcheck --name ..',
        "iptables: Invalid argument. Run `dmesg' for more information.\n",
    ),
    ('-m recent --rcheck --mask 1.1.1.1/8', 'getaddrinfo: Name or service not known\n\n'),
    (
        '-m recent --rc --upd',
        'recent: option "--rcheck" cannot be used together with "--update".\n\n',
    ),
    ('-m recent --r', 'unknown option "--r"\n'),
    ('-m recent --se', 'unknown option "--se"\n'),
    ('-m recent --rcheck ! --rttl', 'recent: option "--rttl" cannot be inverted.\n\n'),
    (
        '-m recent --rcheck --hitcount 2 ! --reap --seconds 3',
        'recent: option "--reap" cannot be inverted.\n\n',
    ),
    (
        '-m recent ! --update ! --rcheck',
        'recent: option "--rcheck" cannot be used together with "--update".\n\n',
    ),
    (
        "-m recent --rcheck --seconds '5 ' --hitcount '5 '",
        'recent: bad value for option "--seconds", or out of range (1-4294967295).\n\n',
    ),
    (
        "-m recent --rcheck --seconds '-5' --hitcount '-5'",
        'recent: bad value for option "--seconds", or out of range (1-4294967295).\n\n',
    ),
    (
        '-m recent --update --remove --reap',
        'recent: option "--update" cannot be used together with "--remove".\n\n',
    ),
    (
        '-m recent --remove --reap --seconds 3',
        "iptables: Invalid argument. Run `dmesg' for more information.\n",
    ),
    ('-m recent --rcheck --rttl --reap', 'recent: option "--reap" also requires "--seconds".\n\n'),
    (
        '-m recent --rcheck --rdest --rsource --rdest',
        'recent: option "--rdest" can only be used once.\n\n',
    ),
    (
        '-m recent --set --name a/b',
        "iptables: Invalid argument. Run `dmesg' for more information.\n",
    ),
    ('-m recent --set --name .', "iptables: Invalid argument. Run `dmesg' for more information.\n"),
    ('-m recent --set ! --name x', 'recent: option "--name" cannot be inverted.\n\n'),
    (
        '-m recent --rcheck --hitcount 2147483647',
        "iptables: Invalid argument. Run `dmesg' for more information.\n",
    ),
]


test_accepted, test_refused = accepted_and_refused_tests(ACCEPTED, REFUSED)
