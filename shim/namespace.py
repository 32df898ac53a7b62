"""The agent's datapath: this network namespace's links and addresses, and the rule set in eBPF.

One :class:`NamespaceDatapath` per agent. ``apply`` runs the compiler loop the datapath expects
(Compiler.compile -> ShapeAnalyzer.analyze -> Enforcer.apply with the compiler's changed
chains), on every link of the namespace except ``lo`` and bridge ports (bridged frames never
meet iptables; the bridge device itself carries what is routed).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace

from pyroute2 import IPRoute

from bpf.bpffs import current_netns_cookie, ensure_bpffs, pin_dir_for, remove_tree
from bpf.enforcer import Connection, Enforcer, Interface, ipv4_of
from bpf.ruledata import Environment
from iptparse.extensions.nat import DnatOptions, NatRange
from iptparse.model import Chain, Counters, Ruleset, Table
from translator.compile import Compiler
from translator.shape import ShapeAnalyzer

log = logging.getLogger(__name__)

# A rule's counters (table, chain, rule number) or a built-in chain's policy (number None).
CounterOwner = tuple[str, str, int | None]

IPPROTO_UDP = 17


def dnat_ranges(chains: Iterable[Chain]) -> frozenset[NatRange]:
    """The address/port ranges the DNAT rules of ``chains`` translate to."""
    return frozenset(rule.target.options.to for chain in chains for rule in chain.rules
                     if rule.target is not None and rule.target.name == "DNAT"
                     and isinstance(rule.target.options, DnatOptions))


def dnat_destinations(ruleset: Ruleset) -> frozenset[NatRange]:
    """The address/port ranges the nat table's DNAT rules translate to."""
    table = ruleset.tables.get("nat")
    return dnat_ranges(table.chains.values()) if table is not None else frozenset()


def _covers(destination: NatRange, address: int, port: int) -> bool:
    """Whether a connection translated to (address, port) could come from this range (no
    address or no port in a range keeps the packet's own)."""
    if destination.ips is not None and not destination.ips[0] <= address <= destination.ips[1]:
        return False
    return destination.ports is None or destination.ports[0] <= port <= destination.ports[1]


def stale_dnat(old: Ruleset, new: Ruleset) -> Callable[[Connection], bool] | None:
    """Which UDP connections a change of rule set leaves pointing at a DNAT destination that is
    gone (None: no destination went away, nothing to look at). kube-proxy removes such
    entries from the kernel's table so that UDP clients, which keep their 5-tuple, move to a
    live endpoint with their next datagram instead of sending into a void until the entry
    times out."""
    old_nat, new_nat = old.tables.get("nat"), new.tables.get("nat")
    if old_nat is None or old_nat is new_nat:
        return None
    # only the chains the change replaced can have held a destination that went away
    new_chains = new_nat.chains if new_nat is not None else {}
    replaced = [chain for name, chain in old_nat.chains.items()
                if new_chains.get(name) is not chain]
    candidates = dnat_ranges(replaced)
    if not candidates:
        return None
    after = dnat_destinations(new)
    gone = candidates - after
    if not gone:
        return None

    def doomed(connection: Connection) -> bool:
        if "DNAT" not in connection.status or connection.original[0] != IPPROTO_UDP:
            return False
        # the reply comes from where the connection was translated to
        _, address, _, port, _ = connection.reply
        return (any(_covers(range_, address, port) for range_ in gone)
                and not any(_covers(range_, address, port) for range_ in after))

    return doomed


@dataclass(frozen=True)
class Links:
    """What the datapath needs of the namespace's links."""

    interfaces: tuple[Interface, ...]
    local: tuple[int, ...]  # every IPv4 address of the namespace

    @property
    def environment(self) -> Environment:
        return Environment({interface.name: interface.index for interface in self.interfaces})


def read_links(ipr: IPRoute) -> Links:
    addresses: dict[int, list[int]] = {}
    for message in ipr.get_addr(family=2):
        addresses.setdefault(message["index"], []).append(
            ipv4_of(message.get_attr("IFA_ADDRESS")))
    interfaces = []
    for link in ipr.get_links():
        name = link.get_attr("IFLA_IFNAME")
        if name == "lo" or link.get_attr("IFLA_MASTER"):
            continue
        owned = addresses.get(link["index"], [])
        interfaces.append(Interface(name, link["index"], owned[0] if owned else None))
    interfaces.sort(key=lambda interface: interface.index)
    local = sorted({address for owned in addresses.values() for address in owned})
    return Links(tuple(interfaces), tuple(local))


def hardware_links(ipr: IPRoute) -> list[str]:
    """Links with no virtual kind (a NIC, not a veth, bridge, dummy, ...): a namespace that
    has them is a machine's own, whose traffic bpftables takes over only when asked."""
    found = []
    for link in ipr.get_links():
        name = link.get_attr("IFLA_IFNAME")
        info = link.get_attr("IFLA_LINKINFO")
        if name != "lo" and (info is None or not info.get_attr("IFLA_INFO_KIND")):
            found.append(name)
    return found


class NamespaceDatapath:
    """The rule set of this process's network namespace, enforced by eBPF on its links."""

    def __init__(self, limits: Mapping[str, int] | None = None) -> None:
        ensure_bpffs()
        self.pin_dir = pin_dir_for(current_netns_cookie())
        self.enforcer = Enforcer(None, self.pin_dir, limits=limits)
        self.compiler = Compiler()
        self.analyzer = ShapeAnalyzer()
        self.ipr = IPRoute()
        self.links = read_links(self.ipr)
        self.ruleset: Ruleset | None = None
        self.last_apply_s = 0.0
        self.applies = 0
        self.stale_removed = 0  # UDP connections removed because their DNAT target went away
        self.last_stale_scan_s = 0.0

    def apply(self, ruleset: Ruleset) -> None:
        """Make the datapath run ``ruleset`` (raises, changing nothing the rules see, when it
        cannot: an unsupported rule, a compile error)."""
        start = time.perf_counter()
        compiler = self.compiler
        plan = compiler.compile(ruleset)
        # what changed since the last compile, so each step costs what changed
        changes, base, patches = compiler.last_changes, compiler.previous, compiler.last_patches
        report = self.analyzer.analyze(plan, changes, base, patches)
        links = self.links
        self.enforcer.apply(plan, report, links.environment, list(links.interfaces),
                            links.local, changes, base, patches)
        self.ruleset = ruleset
        self.applies += 1
        self.last_apply_s = time.perf_counter() - start

    def remove_stale_udp(self, old: Ruleset, new: Ruleset) -> int:
        """After ``new`` replaced ``old``: remove the UDP connections DNATed to a destination
        that ``new`` no longer has (see :func:`stale_dnat`). Returns how many."""
        doomed = stale_dnat(old, new)
        if doomed is None or self.enforcer.datapath is None:
            return 0
        start = time.perf_counter()
        removed = self.enforcer.remove_connections(doomed, IPPROTO_UDP)
        self.last_stale_scan_s = time.perf_counter() - start
        self.stale_removed += removed
        log.info("removed %d UDP connections to DNAT destinations that went away (%.1f ms)",
                 removed, 1000 * self.last_stale_scan_s)
        return removed

    def refresh_links(self) -> bool:
        """Re-read the links; when they changed, attach to new ones and rewrite what depends
        on them. True when something changed."""
        links = read_links(self.ipr)
        if links == self.links:
            return False
        old = {interface.name for interface in self.links.interfaces}
        self.links = links
        if self.ruleset is not None:
            self.apply(self.ruleset)
            self.enforcer.attach_interfaces(
                [interface for interface in links.interfaces if interface.name not in old])
        return True

    # --- counters --------------------------------------------------------------------------

    def zero_counters(self, owners: Iterable[CounterOwner] | None = None) -> None:
        if self.enforcer.datapath is not None:
            self.enforcer.zero_counters(owners)

    def counted(self, table: Table) -> Table:
        """``table`` with each rule's and policy's counters plus what the datapath counted."""
        if self.enforcer.datapath is None:
            return table
        counted = self.enforcer.counters({(table.name, name) for name in table.chains})
        live = {key: value for key, value in counted.items()
                if key[0] == table.name and value != (0, 0)}
        if not live:
            return table
        chains = dict(table.chains)
        for name, chain in table.chains.items():
            rules = list(chain.rules)
            changed = False
            for number, rule in enumerate(rules, 1):
                extra = live.get((table.name, name, number))
                if extra:
                    rules[number - 1] = replace(rule, counters=_plus(rule.counters, extra))
                    changed = True
            extra = live.get((table.name, name, None))
            if extra and chain.builtin:
                chain = replace(chain, counters=_plus(chain.counters, extra))
                changed = True
            if changed:
                chains[name] = replace(chain, rules=tuple(rules))
        return table.with_chains(chains)

    # --- links appearing -------------------------------------------------------------------

    def watch_links(self, state_lock: threading.RLock,
                    on_error: Callable[[Exception], None]) -> threading.Thread:
        """A thread attaching new links as they appear (and following address changes)."""
        def watch() -> None:
            with IPRoute() as events:
                events.bind()
                while True:
                    messages = events.get()
                    if not any(message["event"] in ("RTM_NEWLINK", "RTM_DELLINK",
                                                    "RTM_NEWADDR", "RTM_DELADDR")
                               for message in messages):
                        continue
                    with state_lock:
                        try:
                            self.refresh_links()
                        except Exception as error:  # the agent keeps serving commands
                            on_error(error)

        thread = threading.Thread(target=watch, name="link-watcher", daemon=True)
        thread.start()
        return thread

    # --- going away ------------------------------------------------------------------------

    def forget(self) -> None:
        """Take the programs off the links and unpin everything (``bpftables agent stop
        --forget``)."""
        self.enforcer.detach(list(self.links.interfaces))
        self.enforcer.close()
        remove_tree(self.pin_dir)

    def status(self) -> dict[str, object]:
        datapath = self.enforcer.datapath
        return {
            "pin_dir": str(self.pin_dir),
            "generation": datapath.generation.number if datapath is not None else None,
            "label": datapath.generation.label if datapath is not None else None,
            "compiles": self.enforcer.compiles,
            "applies": self.applies,
            "last_apply_ms": round(1000 * self.last_apply_s, 2),
            "last_map_writes": self.enforcer.last_writes,
            "stale_udp_removed": self.stale_removed,
            "last_stale_scan_ms": round(1000 * self.last_stale_scan_s, 2),
            "interfaces": [interface.name for interface in self.links.interfaces],
            "programs": {f"{name}/{hook}": prog_id for (name, hook), prog_id
                         in sorted(self.enforcer.program_ids().items())},
        }


def _plus(counters: Counters, extra: tuple[int, int]) -> Counters:
    return Counters(counters.packets + extra[0], counters.bytes + extra[1])
