"""The extension registry: every supported match and target, by name, and the module holding it.

Modules are imported on first use, so a command that needs two extensions loads two modules.
Each module exposes ``EXTENSIONS``, a tuple of :class:`~iptparse.extensions.base.Extension`.
"""

from __future__ import annotations

import importlib
from functools import cache

from iptparse.extensions.base import Extension

# match name -> module in this package
MATCHES: dict[str, str] = {
    "tcp": "tcp",
    "udp": "udp",
    "icmp": "icmp",
    "sctp": "sctp",
    "multiport": "multiport",
    "length": "length",
    "pkttype": "pkttype",
    "comment": "comment",
    "addrtype": "addrtype",
    "mark": "mark",
    "connmark": "connmark",
    "conntrack": "conntrack",
    "state": "conntrack",
    "statistic": "statistic",
    "recent": "recent",
    "iprange": "iprange",
    "nfacct": "nfacct",
    "limit": "limit",
    "physdev": "physdev",
    "set": "ipset",
    "tos": "tos",
    "ttl": "ttl",
}

# target name -> module in this package (ACCEPT/DROP/QUEUE/RETURN and chains are the core's)
TARGETS: dict[str, str] = {
    "MARK": "mark",
    "CONNMARK": "connmark",
    "DNAT": "nat",
    "SNAT": "nat",
    "MASQUERADE": "nat",
    "REDIRECT": "nat",
    "REJECT": "reject",
    "LOG": "log",
    "NOTRACK": "notrack",
    "CT": "notrack",
}


@cache
def _load(kind: str, name: str) -> Extension | None:
    table = MATCHES if kind == "match" else TARGETS
    module_name = table.get(name)
    if module_name is None:
        return None
    try:
        module = importlib.import_module(f"{__name__}.{module_name}")
    except ModuleNotFoundError:
        return None
    for extension in module.EXTENSIONS:
        if extension.kind == kind and extension.name == name:
            return extension
    return None


def find_match(name: str) -> Extension | None:
    """The match extension called ``name``, or None when bpftables does not support it."""
    return _load("match", name)


def find_target(name: str) -> Extension | None:
    """The target extension called ``name``, or None."""
    return _load("target", name)
