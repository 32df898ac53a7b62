"""``-m conntrack`` and ``-m state``: saved text, -L text (with and without -n), refusals.

Every expected value below was read off iptables-legacy 1.8.9 (the oracle) in a network
namespace: ``iptables-legacy -A INPUT RULE``, then ``iptables-legacy-save`` and ``-L INPUT
[-n]``; refusals are its exact stderr. Host names come from /etc/hosts (localhost) and
/etc/networks (loopback, link-local).
"""

from __future__ import annotations

import pytest

from tests.unit.ext_harness import accepted_and_refused_tests

pytestmark = pytest.mark.unit


ACCEPTED = [
    (
        '-m conntrack --ctdir REPLY --ctexpire 5:10 --ctstatus ASSURED,CONFIRMED --ctrepldstpor'
        't 4 --ctreplsrcport 3 --ctorigdstport 2 --ctorigsrcport 1 --ctrepldst 4.4.4.4 --ctrepl'
        'src 3.3.3.3/24 --ctorigdst 2.2.2.2/255.255.0.0 --ctorigsrc 1.1.1.1 --ctproto tcp --cts'
        'tate NEW,INVALID',
        '-m conntrack --ctstate INVALID,NEW --ctproto 6 --ctorigsrc 1.1.1.1 --ctorigdst 2.2.2.2'
        '/16 --ctreplsrc 3.3.3.3/24 --ctrepldst 4.4.4.4 --ctorigsrcport 1 --ctorigdstport 2 --c'
        'treplsrcport 3 --ctrepldstport 4 --ctstatus ASSURED,CONFIRMED --ctexpire 5:10 --ctdir '
        'REPLY',
        ' ctstate INVALID,NEW ctproto 6 ctorigsrc 1.1.1.1 ctorigdst 2.2.2.2/16 ctreplsrc 3.3.3.'
        '3/24 ctrepldst 4.4.4.4 ctorigsrcport 1 ctorigdstport 2 ctreplsrcport 3 ctrepldstport 4'
        ' ctstatus ASSURED,CONFIRMED ctexpire 5:10 ctdir REPLY',
        ' ctstate INVALID,NEW ctproto 6 ctorigsrc 1.1.1.1 ctorigdst 2.2.2.2/16 ctreplsrc 3.3.3.'
        '3/24 ctrepldst 4.4.4.4 ctorigsrcport 1 ctorigdstport 2 ctreplsrcport 3 ctrepldstport 4'
        ' ctstatus ASSURED,CONFIRMED ctexpire 5:10 ctdir REPLY',
    ),
    (
        '-m conntrack ! --ctexpire 5:10 ! --ctstatus ASSURED,CONFIRMED ! --ctrepldstport 4 ! --'
        'ctreplsrcport 3 ! --ctorigdstport 2 ! --ctorigsrcport 1 ! --ctrepldst 4.4.4.4 ! --ctre'
        'plsrc 3.3.3.3/24 ! --ctorigdst 2.2.2.2/255.255.0.0 ! --ctorigsrc 1.1.1.1 ! --ctproto t'
        'cp ! --ctstate NEW,INVALID',
        '-m conntrack ! --ctstate INVALID,NEW ! --ctproto 6 ! --ctorigsrc 1.1.1.1 ! --ctorigdst'
        ' 2.2.2.2/16 ! --ctreplsrc 3.3.3.3/24 ! --ctrepldst 4.4.4.4 ! --ctorigsrcport 1 ! --cto'
        'rigdstport 2 ! --ctreplsrcport 3 ! --ctrepldstport 4 ! --ctstatus ASSURED,CONFIRMED ! '
        '--ctexpire 5:10',
        ' ! ctstate INVALID,NEW ! ctproto 6 ! ctorigsrc 1.1.1.1 ! ctorigdst 2.2.2.2/16 ! ctrepl'
        'src 3.3.3.3/24 ! ctrepldst 4.4.4.4 ! ctorigsrcport 1 ! ctorigdstport 2 ! ctreplsrcport'
        ' 3 ! ctrepldstport 4 ! ctstatus ASSURED,CONFIRMED ! ctexpire 5:10',
        ' ! ctstate INVALID,NEW ! ctproto 6 ! ctorigsrc 1.1.1.1 ! ctorigdst 2.2.2.2/16 ! ctrepl'
        'src 3.3.3.3/24 ! ctrepldst 4.4.4.4 ! ctorigsrcport 1 ! ctorigdstport 2 ! ctreplsrcport'
        ' 3 ! ctrepldstport 4 ! ctstatus ASSURED,CONFIRMED ! ctexpire 5:10',
    ),
    (
        '-m conntrack --ctorigsrc 127.0.0.1 --ctorigdst 127.0.0.0/8 --ctreplsrc 127.0.0.1/255.0'
        '.255.0 --ctorigsrcport 80 --ctproto udp',
        '-m conntrack --ctproto 17 --ctorigsrc 127.0.0.1 --ctorigdst 127.0.0.0/8 --ctreplsrc 12'
        '7.0.0.1 --ctorigsrcport 80',
        ' ctproto 17 ctorigsrc 127.0.0.1 ctorigdst 127.0.0.0/8 ctreplsrc 127.0.0.1 ctorigsrcpor'
        't 80',
        ' ctproto 17 ctorigsrc localhost ctorigdst loopback/8 ctreplsrc localhost ctorigsrcport'
        ' 80',
    ),
    (
        '-m conntrack --ctorigsrcport 80:90 --ctorigdstport http --ctreplsrcport 0:65535',
        '-m conntrack --ctorigsrcport 80:90 --ctorigdstport 80 --ctreplsrcport 0:65535',
        ' ctorigsrcport 80:90 ctorigdstport 80 ctreplsrcport 0:65535',
        ' ctorigsrcport 80:90 ctorigdstport 80 ctreplsrcport 0:65535',
    ),
    (
        '-m conntrack --ctorigsrc localhost',
        '-m conntrack --ctorigsrc 127.0.0.1',
        ' ctorigsrc 127.0.0.1',
        ' ctorigsrc localhost',
    ),
    (
        '-m conntrack --ctorigsrc 0/0',
        '-m conntrack --ctorigsrc 0.0.0.0/0',
        ' ctorigsrc 0.0.0.0/0',
        ' ctorigsrc anywhere',
    ),
    (
        '-m conntrack --ctorigsrc 1.2.3',
        '-m conntrack --ctorigsrc 1.2.0.3',
        ' ctorigsrc 1.2.0.3',
        ' ctorigsrc 1.2.0.3',
    ),
    (
        '-m conntrack --ctorigsrc 0.0.0.0',
        '-m conntrack --ctorigsrc 0.0.0.0',
        ' ctorigsrc 0.0.0.0',
        ' ctorigsrc anywhere',
    ),
    (
        '-m conntrack --ctorigsrc 0.0.0.0/8',
        '-m conntrack --ctorigsrc 0.0.0.0/8',
        ' ctorigsrc 0.0.0.0/8',
        ' ctorigsrc anywhere',
    ),
    (
        '-m conntrack --ctorigsrc 127.0.0.0',
        '-m conntrack --ctorigsrc 127.0.0.0',
        ' ctorigsrc 127.0.0.0',
        ' ctorigsrc loopback',
    ),
    (
        '-m conntrack --ctorigsrc 127.0.0.1/8',
        '-m conntrack --ctorigsrc 127.0.0.1/8',
        ' ctorigsrc 127.0.0.1/8',
        ' ctorigsrc localhost/8',
    ),
    (
        '-m conntrack --ctorigsrc 169.254.0.0/16',
        '-m conntrack --ctorigsrc 169.254.0.0/16',
        ' ctorigsrc 169.254.0.0/16',
        ' ctorigsrc link-local/16',
    ),
    (
        '-m conntrack --ctorigsrc 10.0.0.0/0',
        '-m conntrack --ctorigsrc 10.0.0.0/0',
        ' ctorigsrc 10.0.0.0/0',
        ' ctorigsrc 10.0.0.0/0',
    ),
    (
        '-m conntrack --ctstate DNAT,SNAT,UNTRACKED,ESTABLISHED,RELATED,NEW,INVALID',
        '-m conntrack --ctstate INVALID,NEW,RELATED,ESTABLISHED,UNTRACKED,SNAT,DNAT',
        ' ctstate INVALID,NEW,RELATED,ESTABLISHED,UNTRACKED,SNAT,DNAT',
        ' ctstate INVALID,NEW,RELATED,ESTABLISHED,UNTRACKED,SNAT,DNAT',
    ),
    ('-m conntrack --ctstate new', '-m conntrack --ctstate NEW', ' ctstate NEW', ' ctstate NEW'),
    (
        '-m conntrack --ctstatus NONE,ASSURED',
        '-m conntrack --ctstatus ASSURED',
        ' ctstatus ASSURED',
        ' ctstatus ASSURED',
    ),
    (
        '-m conntrack --ctstatus EXPECTED,SEEN_REPLY,ASSURED,CONFIRMED',
        '-m conntrack --ctstatus EXPECTED,SEEN_REPLY,ASSURED,CONFIRMED',
        ' ctstatus EXPECTED,SEEN_REPLY,ASSURED,CONFIRMED',
        ' ctstatus EXPECTED,SEEN_REPLY,ASSURED,CONFIRMED',
    ),
    (
        '-m conntrack --ctstatus none',
        '-m conntrack --ctstatus NONE',
        ' ctstatus NONE',
        ' ctstatus NONE',
    ),
    (
        '-m conntrack --ctreplsrc 10.1.2.3/255.0.255.0',
        '-m conntrack --ctreplsrc 10.1.2.3',
        ' ctreplsrc 10.1.2.3',
        ' ctreplsrc 10.1.2.3',
    ),
    (
        '-m conntrack --ctreplsrc 10.1.2.3/255.255.255.254',
        '-m conntrack --ctreplsrc 10.1.2.3/31',
        ' ctreplsrc 10.1.2.3/31',
        ' ctreplsrc 10.1.2.3/31',
    ),
    (
        '-m conntrack --ctreplsrc 10.1.2.3/0.0.0.0',
        '-m conntrack --ctreplsrc 10.1.2.3/0',
        ' ctreplsrc 10.1.2.3/0',
        ' ctreplsrc 10.1.2.3/0',
    ),
    (
        '-m conntrack --ctreplsrc 10.1.2.3/0',
        '-m conntrack --ctreplsrc 10.1.2.3/0',
        ' ctreplsrc 10.1.2.3/0',
        ' ctreplsrc 10.1.2.3/0',
    ),
    (
        '-m conntrack --ctreplsrc 10.1.2.3/32',
        '-m conntrack --ctreplsrc 10.1.2.3',
        ' ctreplsrc 10.1.2.3',
        ' ctreplsrc 10.1.2.3',
    ),
    (
        '-m conntrack --ctreplsrc 10.1.2.3/1',
        '-m conntrack --ctreplsrc 10.1.2.3/1',
        ' ctreplsrc 10.1.2.3/1',
        ' ctreplsrc 10.1.2.3/1',
    ),
    (
        '-m conntrack --ctreplsrc 1.1.1.1/128',
        '-m conntrack --ctreplsrc 1.1.1.1',
        ' ctreplsrc 1.1.1.1',
        ' ctreplsrc 1.1.1.1',
    ),
    (
        '-m conntrack --ctreplsrc 1.1.1.1/129',
        '-m conntrack --ctreplsrc 1.1.1.1',
        ' ctreplsrc 1.1.1.1',
        ' ctreplsrc 1.1.1.1',
    ),
    (
        '-m conntrack --ctreplsrc 1.1.1.1/255.255',
        '-m conntrack --ctreplsrc 1.1.1.1',
        ' ctreplsrc 1.1.1.1',
        ' ctreplsrc 1.1.1.1',
    ),
    (
        '-m conntrack --ctreplsrc 1.1.1.1/0x10',
        '-m conntrack --ctreplsrc 1.1.1.1/16',
        ' ctreplsrc 1.1.1.1/16',
        ' ctreplsrc 1.1.1.1/16',
    ),
    (
        '-m conntrack --ctreplsrc 1.1.1.1/010',
        '-m conntrack --ctreplsrc 1.1.1.1/8',
        ' ctreplsrc 1.1.1.1/8',
        ' ctreplsrc 1.1.1.1/8',
    ),
    (
        '-m conntrack --ctreplsrc 1',
        '-m conntrack --ctreplsrc 0.0.0.1',
        ' ctreplsrc 0.0.0.1',
        ' ctreplsrc 0.0.0.1',
    ),
    (
        '-m conntrack --ctreplsrc 0x7f000001',
        '-m conntrack --ctreplsrc 127.0.0.1',
        ' ctreplsrc 127.0.0.1',
        ' ctreplsrc localhost',
    ),
    (
        '-m conntrack --ctreplsrc 010.0.0.1',
        '-m conntrack --ctreplsrc 8.0.0.1',
        ' ctreplsrc 8.0.0.1',
        ' ctreplsrc 8.0.0.1',
    ),
    (
        '-m conntrack --ctreplsrc 1.1.1.1/255',
        '-m conntrack --ctreplsrc 1.1.1.1',
        ' ctreplsrc 1.1.1.1',
        ' ctreplsrc 1.1.1.1',
    ),
    (
        '-m conntrack --ctreplsrc 1.1.1.1/256',
        '-m conntrack --ctreplsrc 1.1.1.1',
        ' ctreplsrc 1.1.1.1',
        ' ctreplsrc 1.1.1.1',
    ),
    (
        '-m conntrack --ctreplsrc 1.1.1.1/1000',
        '-m conntrack --ctreplsrc 1.1.1.1',
        ' ctreplsrc 1.1.1.1',
        ' ctreplsrc 1.1.1.1',
    ),
    (
        '-m conntrack --ctreplsrc 1.1.1.1/1.2.3.4',
        '-m conntrack --ctreplsrc 1.1.1.1',
        ' ctreplsrc 1.1.1.1',
        ' ctreplsrc 1.1.1.1',
    ),
    (
        '-m conntrack --ctreplsrc 1.1.1.1/0.0.0.0',
        '-m conntrack --ctreplsrc 1.1.1.1/0',
        ' ctreplsrc 1.1.1.1/0',
        ' ctreplsrc 1.1.1.1/0',
    ),
    (
        '-m conntrack --ctreplsrc 1.1.1.1/255.255.255.128',
        '-m conntrack --ctreplsrc 1.1.1.1/25',
        ' ctreplsrc 1.1.1.1/25',
        ' ctreplsrc 1.1.1.1/25',
    ),
    (
        '-m conntrack --ctreplsrc 1.1.1.1/0xffffff00',
        '-m conntrack --ctreplsrc 1.1.1.1/24',
        ' ctreplsrc 1.1.1.1/24',
        ' ctreplsrc 1.1.1.1/24',
    ),
    (
        '-m conntrack --ctreplsrc 1.1.1.1/+8',
        '-m conntrack --ctreplsrc 1.1.1.1/8',
        ' ctreplsrc 1.1.1.1/8',
        ' ctreplsrc 1.1.1.1/8',
    ),
    (
        "-m conntrack --ctreplsrc '1.1.1.1/ 8'",
        '-m conntrack --ctreplsrc 1.1.1.1/8',
        ' ctreplsrc 1.1.1.1/8',
        ' ctreplsrc 1.1.1.1/8',
    ),
    (
        '-m conntrack --ctreplsrc 1.1.1.1/255.255.255.0x80',
        '-m conntrack --ctreplsrc 1.1.1.1/25',
        ' ctreplsrc 1.1.1.1/25',
        ' ctreplsrc 1.1.1.1/25',
    ),
    (
        '-m conntrack --ctreplsrc 1.1.1.1/4294967295',
        '-m conntrack --ctreplsrc 1.1.1.1',
        ' ctreplsrc 1.1.1.1',
        ' ctreplsrc 1.1.1.1',
    ),
    (
        '-m conntrack --ctreplsrc 1.1.1.1/255.0',
        '-m conntrack --ctreplsrc 1.1.1.1/8',
        ' ctreplsrc 1.1.1.1/8',
        ' ctreplsrc 1.1.1.1/8',
    ),
    (
        '-m conntrack --ctreplsrc 1.1.1.1/0.255',
        '-m conntrack --ctreplsrc 1.1.1.1',
        ' ctreplsrc 1.1.1.1',
        ' ctreplsrc 1.1.1.1',
    ),
    ('-m conntrack --ctexpire 5', '-m conntrack --ctexpire 5', ' ctexpire 5', ' ctexpire 5'),
    ('-m conntrack --ctexpire 5:5', '-m conntrack --ctexpire 5', ' ctexpire 5', ' ctexpire 5'),
    (
        '-m conntrack --ctexpire 10:5',
        '-m conntrack --ctexpire 10:5',
        ' ctexpire 10:5',
        ' ctexpire 10:5',
    ),
    ('-m conntrack --ctexpire :5', '-m conntrack --ctexpire 0:5', ' ctexpire 0:5', ' ctexpire 0:5'),
    (
        '-m conntrack --ctexpire 5:',
        '-m conntrack --ctexpire 5:4294967295',
        ' ctexpire 5:4294967295',
        ' ctexpire 5:4294967295',
    ),
    ('-m conntrack --ctexpire 0x10', '-m conntrack --ctexpire 16', ' ctexpire 16', ' ctexpire 16'),
    ("-m conntrack --ctexpire ' 5'", '-m conntrack --ctexpire 5', ' ctexpire 5', ' ctexpire 5'),
    ("-m conntrack --ctexpire ''", '-m conntrack --ctexpire 0', ' ctexpire 0', ' ctexpire 0'),
    (
        '-m conntrack --ctexpire :',
        '-m conntrack --ctexpire 0:4294967295',
        ' ctexpire 0:4294967295',
        ' ctexpire 0:4294967295',
    ),
    ('-m conntrack --ctexpire +5', '-m conntrack --ctexpire 5', ' ctexpire 5', ' ctexpire 5'),
    ('-m conntrack --ctexpire 0X1f', '-m conntrack --ctexpire 31', ' ctexpire 31', ' ctexpire 31'),
    ('-m conntrack --ctexpire 0', '-m conntrack --ctexpire 0', ' ctexpire 0', ' ctexpire 0'),
    (
        '-m conntrack --ctexpire 4294967295',
        '-m conntrack --ctexpire 4294967295',
        ' ctexpire 4294967295',
        ' ctexpire 4294967295',
    ),
    (
        '-m conntrack --ctexpire 0:4294967295',
        '-m conntrack --ctexpire 0:4294967295',
        ' ctexpire 0:4294967295',
        ' ctexpire 0:4294967295',
    ),
    (
        '-m conntrack --ctrepldstport 90:80',
        '-m conntrack --ctrepldstport 90:80',
        ' ctrepldstport 90:80',
        ' ctrepldstport 90:80',
    ),
    (
        '-m conntrack --ctrepldstport :80',
        '-m conntrack --ctrepldstport 0:80',
        ' ctrepldstport 0:80',
        ' ctrepldstport 0:80',
    ),
    (
        '-m conntrack --ctrepldstport 80:',
        '-m conntrack --ctrepldstport 80:65535',
        ' ctrepldstport 80:65535',
        ' ctrepldstport 80:65535',
    ),
    (
        '-m conntrack --ctrepldstport :',
        '-m conntrack --ctrepldstport 0:65535',
        ' ctrepldstport 0:65535',
        ' ctrepldstport 0:65535',
    ),
    (
        "-m conntrack --ctrepldstport ''",
        '-m conntrack --ctrepldstport 0',
        ' ctrepldstport 0',
        ' ctrepldstport 0',
    ),
    (
        '-m conntrack --ctrepldstport 65536',
        '-m conntrack --ctrepldstport 0',
        ' ctrepldstport 0',
        ' ctrepldstport 0',
    ),
    (
        '-m conntrack --ctrepldstport http:https',
        '-m conntrack --ctrepldstport 80:443',
        ' ctrepldstport 80:443',
        ' ctrepldstport 80:443',
    ),
    (
        "-m conntrack --ctrepldstport ' 80'",
        '-m conntrack --ctrepldstport 80',
        ' ctrepldstport 80',
        ' ctrepldstport 80',
    ),
    (
        '-m conntrack --ctrepldstport 80:80',
        '-m conntrack --ctrepldstport 80',
        ' ctrepldstport 80',
        ' ctrepldstport 80',
    ),
    (
        '-m conntrack --ctrepldstport 65537',
        '-m conntrack --ctrepldstport 1',
        ' ctrepldstport 1',
        ' ctrepldstport 1',
    ),
    (
        '-m conntrack --ctrepldstport domain',
        '-m conntrack --ctrepldstport 53',
        ' ctrepldstport 53',
        ' ctrepldstport 53',
    ),
    (
        '-m conntrack --ctrepldstport 0',
        '-m conntrack --ctrepldstport 0',
        ' ctrepldstport 0',
        ' ctrepldstport 0',
    ),
    (
        '-m conntrack --ctdir original',
        '-m conntrack --ctdir ORIGINAL',
        ' ctdir ORIGINAL',
        ' ctdir ORIGINAL',
    ),
    ('-m conntrack --ctdir reply', '-m conntrack --ctdir REPLY', ' ctdir REPLY', ' ctdir REPLY'),
    ('-m conntrack --ctdir Reply', '-m conntrack --ctdir REPLY', ' ctdir REPLY', ' ctdir REPLY'),
    ('-m conntrack --ctproto tcp', '-m conntrack --ctproto 6', ' ctproto 6', ' ctproto 6'),
    ('-m conntrack --ctproto TCP', '-m conntrack --ctproto 6', ' ctproto 6', ' ctproto 6'),
    ('-m conntrack --ctproto 0', '-m conntrack --ctproto 0', ' ctproto 0', ' ctproto 0'),
    ('-m conntrack --ctproto all', '-m conntrack --ctproto 0', ' ctproto 0', ' ctproto 0'),
    ('-m conntrack --ctproto 255', '-m conntrack --ctproto 255', ' ctproto 255', ' ctproto 255'),
    ('-m conntrack --ctproto icmp', '-m conntrack --ctproto 1', ' ctproto 1', ' ctproto 1'),
    ('-m conntrack --ctproto 1', '-m conntrack --ctproto 1', ' ctproto 1', ' ctproto 1'),
    ('-m conntrack --ctproto ipv6-icmp', '-m conntrack --ctproto 58', ' ctproto 58', ' ctproto 58'),
    ('-m conntrack --ctproto 0x11', '-m conntrack --ctproto 17', ' ctproto 17', ' ctproto 17'),
    ('-m state --state INVALID', '-m state --state INVALID', ' state INVALID', ' state INVALID'),
    (
        '-m state --state NEW,RELATED',
        '-m state --state NEW,RELATED',
        ' state NEW,RELATED',
        ' state NEW,RELATED',
    ),
    (
        '-m state --state UNTRACKED',
        '-m state --state UNTRACKED',
        ' state UNTRACKED',
        ' state UNTRACKED',
    ),
    ('-m state ! --state NEW', '-m state ! --state NEW', ' ! state NEW', ' ! state NEW'),
    ('-m state --state new', '-m state --state NEW', ' state NEW', ' state NEW'),
    (
        '-m state --state NEW -m state --state INVALID',
        '-m state --state NEW -m state --state INVALID',
        ' state NEW state INVALID',
        ' state NEW state INVALID',
    ),
    ('-m state --sta NEW', '-m state --state NEW', ' state NEW', ' state NEW'),
    (
        '-m conntrack --ctstate NEW -m state --state NEW',
        '-m conntrack --ctstate NEW -m state --state NEW',
        ' ctstate NEW state NEW',
        ' ctstate NEW state NEW',
    ),
    (
        '-m state --state NEW -m conntrack --ctstate NEW',
        '-m state --state NEW -m conntrack --ctstate NEW',
        ' state NEW ctstate NEW',
        ' state NEW ctstate NEW',
    ),
    (
        '-m conntrack ! --ctstate NEW',
        '-m conntrack ! --ctstate NEW',
        ' ! ctstate NEW',
        ' ! ctstate NEW',
    ),
    (
        '-m conntrack --ctorigsrcport 1 --ctproto tcp',
        '-m conntrack --ctproto 6 --ctorigsrcport 1',
        ' ctproto 6 ctorigsrcport 1',
        ' ctproto 6 ctorigsrcport 1',
    ),
    (
        '-m conntrack --ctstatus NONE',
        '-m conntrack --ctstatus NONE',
        ' ctstatus NONE',
        ' ctstatus NONE',
    ),
    (
        '-m conntrack ! --ctstatus NONE',
        '-m conntrack ! --ctstatus NONE',
        ' ! ctstatus NONE',
        ' ! ctstatus NONE',
    ),
]

REFUSED = [
    ('-m conntrack ! --ctdir REPLY', 'conntrack: option "--ctdir" cannot be inverted.\n\n'),
    ('-m conntrack --ctorigsrc 1.1.1.1,2.2.2.2', 'getaddrinfo: Name or service not known\n\n'),
    (
        '-m conntrack --ctorigsrc 1.1.1.1/x',
        'conntrack: bad value for option "--ctorigsrc", neither a valid network mask nor valid '
        'CIDR (0-32).\n\n',
    ),
    ('-m conntrack --ctorigsrc ""', 'getaddrinfo: Name or service not known\n\n'),
    (
        '-m conntrack --ctorigsrc 1.1.1.1 --ctorigsrc 2.2.2.2',
        'conntrack: option "--ctorigsrc" can only be used once.\n\n',
    ),
    ('-m conntrack --ctstate NEW,,NEW', 'Bad ctstate ",NEW"\n'),
    ('-m conntrack --ctstate ,NEW', 'Bad ctstate ",NEW"\n'),
    ('-m conntrack --ctstate NEW,', 'Bad ctstate ""\n'),
    ('-m conntrack --ctstate ""', 'Bad ctstate ""\n'),
    ('-m conntrack --ctstate NEW,wrong', 'Bad ctstate "wrong"\n'),
    ('-m conntrack --ctstate wrong,NEW', 'Bad ctstate "wrong,NEW"\n'),
    ('-m conntrack --ctstatus x', 'Bad ctstatus "x"\n'),
    ('-m conntrack --ctstatus ""', 'Bad ctstatus ""\n'),
    ('-m conntrack --ctstatus NONE,', 'Bad ctstatus ""\n'),
    ('-m conntrack --ctstatus ,NONE', 'Bad ctstatus ",NONE"\n'),
    ('-m state --state wrong,', 'Bad state "wrong,"\n'),
    ('-m state --state NEW,wrong,', 'Bad state "wrong,"\n'),
    (
        '-m conntrack --ctreplsrc 1.1.1.1/-1',
        'conntrack: bad value for option "--ctreplsrc", neither a valid network mask nor valid '
        'CIDR (0-32).\n\n',
    ),
    (
        '-m conntrack --ctreplsrc 1.1.1.1/',
        'conntrack: bad value for option "--ctreplsrc", neither a valid network mask nor valid '
        'CIDR (0-32).\n\n',
    ),
    (
        '-m conntrack --ctreplsrc 1.1.1.1/255.255.255.256',
        'conntrack: bad value for option "--ctreplsrc", neither a valid network mask nor valid '
        'CIDR (0-32).\n\n',
    ),
    (
        '-m conntrack --ctreplsrc 1.1.1.1//8',
        'conntrack: bad value for option "--ctreplsrc", neither a valid network mask nor valid '
        'CIDR (0-32).\n\n',
    ),
    ('-m conntrack --ctreplsrc /8', 'getaddrinfo: Name or service not known\n\n'),
    (
        '-m conntrack --ctreplsrc 1.1.1.1/8/8',
        'conntrack: bad value for option "--ctreplsrc", neither a valid network mask nor valid '
        'CIDR (0-32).\n\n',
    ),
    ('-m conntrack --ctreplsrc 256.1.1.1', 'getaddrinfo: Name or service not known\n\n'),
    ("-m conntrack --ctreplsrc '1.1.1.1 '", 'getaddrinfo: Name or service not known\n\n'),
    (
        '-m conntrack --ctreplsrc 1.1.1.1/08',
        'conntrack: bad value for option "--ctreplsrc", neither a valid network mask nor valid '
        'CIDR (0-32).\n\n',
    ),
    (
        '-m conntrack --ctreplsrc 1.1.1.1/localhost',
        'conntrack: bad value for option "--ctreplsrc", neither a valid network mask nor valid '
        'CIDR (0-32).\n\n',
    ),
    (
        "-m conntrack --ctreplsrc '1.1.1.1/8 '",
        'conntrack: bad value for option "--ctreplsrc", neither a valid network mask nor valid '
        'CIDR (0-32).\n\n',
    ),
    (
        '-m conntrack --ctexpire -1',
        'conntrack: bad value for option "--ctexpire" near "-1", or out of range (0-4294967295)'
        '.\n\n',
    ),
    (
        '-m conntrack --ctexpire a',
        'conntrack: bad value for option "--ctexpire" near "a", or out of range (0-4294967295).'
        '\n\n',
    ),
    (
        '-m conntrack --ctexpire 1:2:3',
        'conntrack: Too many components for option "--ctexpire" (max: 2)\n\n',
    ),
    (
        '-m conntrack --ctexpire 4294967296',
        'conntrack: bad value for option "--ctexpire" near "4294967296", or out of range (0-429'
        '4967295).\n\n',
    ),
    (
        '-m conntrack --ctexpire 5:4294967296',
        'conntrack: bad value for option "--ctexpire" near "4294967296", or out of range (0-429'
        '4967295).\n\n',
    ),
    (
        '-m conntrack --ctexpire a:5',
        'conntrack: bad value for option "--ctexpire" near "a:5", or out of range (0-4294967295'
        ').\n\n',
    ),
    (
        '-m conntrack --ctexpire 5a:6',
        'conntrack: Argument to "--ctexpire" has unexpected characters near "a:6".\n\n',
    ),
    (
        '-m conntrack --ctexpire 5:6a',
        'conntrack: Argument to "--ctexpire" has unexpected characters near "a".\n\n',
    ),
    (
        '-m conntrack --ctexpire 5:a',
        'conntrack: bad value for option "--ctexpire" near "a", or out of range (0-4294967295).'
        '\n\n',
    ),
    (
        '-m conntrack --ctexpire ::',
        'conntrack: Too many components for option "--ctexpire" (max: 2)\n\n',
    ),
    (
        '-m conntrack --ctexpire 5::',
        'conntrack: Too many components for option "--ctexpire" (max: 2)\n\n',
    ),
    (
        '-m conntrack --ctexpire ::5',
        'conntrack: Too many components for option "--ctexpire" (max: 2)\n\n',
    ),
    (
        '-m conntrack --ctexpire 0x',
        'conntrack: Argument to "--ctexpire" has unexpected characters near "x".\n\n',
    ),
    (
        "-m conntrack --ctexpire '5 '",
        'conntrack: Argument to "--ctexpire" has unexpected characters near " ".\n\n',
    ),
    (
        '-m conntrack --ctexpire 5:-1',
        'conntrack: bad value for option "--ctexpire" near "-1", or out of range (0-4294967295)'
        '.\n\n',
    ),
    (
        '-m conntrack --ctexpire 1:2:',
        'conntrack: Too many components for option "--ctexpire" (max: 2)\n\n',
    ),
    (
        '-m conntrack --ctexpire 4294967296:5',
        'conntrack: bad value for option "--ctexpire" near "4294967296:5", or out of range (0-4'
        '294967295).\n\n',
    ),
    (
        '-m conntrack --ctexpire -0',
        'conntrack: bad value for option "--ctexpire" near "-0", or out of range (0-4294967295)'
        '.\n\n',
    ),
    (
        "-m conntrack --ctexpire '0x 5'",
        'conntrack: Argument to "--ctexpire" has unexpected characters near "x 5".\n\n',
    ),
    (
        '-m conntrack --ctexpire 08',
        'conntrack: Argument to "--ctexpire" has unexpected characters near "8".\n\n',
    ),
    (
        '-m conntrack --ctexpire 42949672956',
        'conntrack: bad value for option "--ctexpire" near "42949672956", or out of range (0-42'
        '94967295).\n\n',
    ),
    ('-m conntrack --ctrepldstport -1', 'Port "-1" does not resolve to anything.\n\n'),
    ('-m conntrack --ctrepldstport a', 'Port "a" does not resolve to anything.\n\n'),
    (
        '-m conntrack --ctrepldstport 1:2:3',
        'conntrack: Too many components for option "--ctrepldstport" (max: 2)\n\n',
    ),
    ('-m conntrack --ctrepldstport 80:a', 'Port "a" does not resolve to anything.\n\n'),
    ('-m conntrack --ctrepldstport 0x50', 'Port "0x50" does not resolve to anything.\n\n'),
    ('-m conntrack --ctrepldstport 80a', 'Port "80a" does not resolve to anything.\n\n'),
    (
        '-m conntrack --ctrepldstport 1:2:',
        'conntrack: Too many components for option "--ctrepldstport" (max: 2)\n\n',
    ),
    ("-m conntrack --ctrepldstport '80 '", 'Port "80 " does not resolve to anything.\n\n'),
    ('-m conntrack --ctdir ORIG', 'conntrack: Bad value for "--ctdir" option: "ORIG"\n'),
    ('-m conntrack --ctdir x', 'conntrack: Bad value for "--ctdir" option: "x"\n'),
    ("-m conntrack --ctdir ''", 'conntrack: Bad value for "--ctdir" option: ""\n'),
    ('-m conntrack --ctproto 256', 'unknown protocol "256" specified\n'),
    ('-m conntrack --ctproto foo', 'unknown protocol "foo" specified\n'),
    ('-m conntrack --ctproto -1', 'unknown protocol "-1" specified\n'),
    ("-m conntrack --ctproto ''", 'unknown protocol "" specified\n'),
    (
        '-m state --state DNAT,SNAT,UNTRACKED,ESTABLISHED,RELATED,NEW,INVALID',
        'Bad state "DNAT,SNAT,UNTRACKED,ESTABLISHED,RELATED,NEW,INVALID"\n',
    ),
    ('-m state --state x', 'Bad state "x"\n'),
    (
        '-m state --state NEW,',
        '"--state" requires a list of states with no spaces, e.g. ESTABLISHED,RELATED\n',
    ),
    ('-m state --state ,NEW', 'Bad state ",NEW"\n'),
    ('-m state --state wrong,NEW', 'Bad state "wrong,NEW"\n'),
    (
        '-m state --state ""',
        '"--state" requires a list of states with no spaces, e.g. ESTABLISHED,RELATED\n',
    ),
    ('-m state --state NEW --state NEW', 'state: option "--state" can only be used once.\n\n'),
    ('-m state wrong', "Bad argument `wrong'\n"),
    ('-m state', 'state: option "--state" must be specified\n\n'),
    (
        '-m state --state NEW -m conntrack --ctstate NEW --state INVALID',
        'state: option "--state" can only be used once.\n\n',
    ),
    (
        '-m conntrack --ctstate NEW --ctstate NEW',
        'conntrack: option "--ctstate" can only be used once.\n\n',
    ),
    ('-m conntrack --ctstate ! NEW', 'Bad ctstate "!"\n'),
    ('-m conntrack --ctst NEW', 'unknown option "--ctst"\n'),
    ('-m conntrack --ctorig 1.1.1.1', 'unknown option "--ctorig"\n'),
    ('-m conntrack --ctrepl 1.1.1.1', 'unknown option "--ctrepl"\n'),
]


test_accepted, test_refused = accepted_and_refused_tests(ACCEPTED, REFUSED)
