"""Canonical text of the rule model: iptables-save, ``-S`` and ``-L``, as iptables 1.8.9 prints.

Word order follows iptables' ``print_rule4`` (addresses, interfaces, protocol, fragment, matches,
target); each extension prints its own options (:meth:`Extension.save` / ``listing``).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from iptparse.extensions import find_match, find_target
from iptparse.grammar.tokens import address_name, protocol_name
from iptparse.model import Chain, IPv4Prefix, Rule, Table


def _address_save(letter: str, prefix: IPv4Prefix | None, invert: bool) -> str:
    if prefix is None or (prefix.mask == 0 and not invert):
        return ""
    return f"{' !' if invert else ''} -{letter} {prefix}"


def _iface_save(letter: str, name: str | None, invert: bool) -> str:
    if name is None:
        return ""
    return f"{' !' if invert else ''} -{letter} {name}"


def rule_spec_text(rule: Rule) -> str:
    """The rule after ``-A CHAIN``, leading space included (``" -s 1.2.3.4/32 -j ACCEPT"``)."""
    parts = [
        _address_save("s", rule.source, rule.source_invert),
        _address_save("d", rule.destination, rule.destination_invert),
        _iface_save("i", rule.in_iface, rule.in_iface_invert),
        _iface_save("o", rule.out_iface, rule.out_iface_invert),
    ]
    if rule.protocol:
        parts.append(f"{' !' if rule.protocol_invert else ''} -p {protocol_name(rule.protocol)}")
    if rule.fragment is not None:
        parts.append(" -f" if rule.fragment else " ! -f")
    for match in rule.matches:
        ext = find_match(match.name)
        assert ext is not None, match.name
        parts.append(f" -m {ext.save_name(match.options)}{ext.save(match.options)}")
    target = rule.target
    if target is not None:
        if target.goto:
            parts.append(f" -g {target.name}")
        else:
            ext = find_target(target.name)
            if ext is not None:
                parts.append(f" -j {ext.save_name(target.options)}{ext.save(target.options)}")
            else:
                parts.append(f" -j {target.name}")
    return "".join(parts)


def rule_save_text(chain: str, rule: Rule, counters: bool = False) -> str:
    """One ``-A`` line of iptables-save (``[p:b] `` in front with counters)."""
    prefix = f"{rule.counters} " if counters else ""
    return f"{prefix}-A {chain}{rule_spec_text(rule)}"


def table_save_lines(table: Table, counters: bool = False) -> list[str]:
    """A table as iptables-save prints it, from ``*name`` to ``COMMIT`` (no ``#`` lines)."""
    chains = table.ordered_chains()
    lines = [f"*{table.name}"]
    for chain in chains:
        if chain.builtin:
            lines.append(f":{chain.name} {chain.policy} {chain.counters}")
        else:
            lines.append(f":{chain.name} - [0:0]")
    for chain in chains:
        lines.extend(rule_save_text(chain.name, rule, counters) for rule in chain.rules)
    lines.append("COMMIT")
    return lines


def list_rules_lines(table: Table, chain: str | None = None, rulenum: int | None = None,
                     verbose: bool = False) -> list[str]:
    """``iptables -S [CHAIN [N]]`` (with ``-v``, each rule carries ``-c PKTS BYTES``)."""
    chains = table.ordered_chains() if chain is None else [table.chains[chain]]
    lines: list[str] = []
    if rulenum is None:
        for item in chains:
            if item.builtin:
                policy = f"-P {item.name} {item.policy}"
                if verbose:
                    policy += f" -c {item.counters.packets} {item.counters.bytes}"
                lines.append(policy)
            else:
                lines.append(f"-N {item.name}")
    for item in chains:
        for index, rule in enumerate(item.rules, 1):
            if rulenum is not None and index != rulenum:
                continue
            text = f"-A {item.name}{rule_spec_text(rule)}"
            if verbose:
                text = f"-A {item.name}{_spec_with_counters(rule)}"
            lines.append(text)
    return lines


def _spec_with_counters(rule: Rule) -> str:
    # iptables -S -v prints the counters just before the target (print_rule4, counters < 0).
    spec = rule_spec_text(rule)
    counters = f" -c {rule.counters.packets} {rule.counters.bytes}"
    for marker in (" -j ", " -g "):
        index = spec.rfind(marker)
        if index >= 0 and rule.target is not None:
            return spec[:index] + counters + spec[index:]
    return spec + counters


# --- -L -------------------------------------------------------------------------------------


def _format_number(number: int, exact: bool, table: bool = True) -> str:
    """xtables_print_num: exact is ``%8llu``, else K/M/G/T units; ``table=False`` unpadded."""
    if exact:
        return f"{number:8d} " if table else f"{number} "
    if number <= 99999:
        return f"{number:5d} " if table else f"{number} "
    for unit in "KMGT":
        number = (number + 500) // 1000
        if number <= 9999 or unit == "T":
            return f"{number:4d}{unit} " if table else f"{number}{unit} "
    raise AssertionError("unreachable")


def _address_listing(prefix: IPv4Prefix | None, invert: bool, numeric: bool) -> str:
    """An address column: ``!`` or a space, then the address padded to 19 (print_firewall)."""
    mark = "!" if invert else " "
    if prefix is None or prefix.mask == 0:
        text = "0.0.0.0/0" if numeric else "anywhere"
    elif prefix.mask == 0xFFFFFFFF:
        text = prefix.address_text if numeric else address_name(prefix.addr)
    elif numeric:
        text = str(prefix)
    else:
        text = f"{address_name(prefix.addr)}/{prefix.mask_text}"
    return f"{mark}{text:<19} "


@lru_cache(maxsize=4096)
def _protocol_listing(rule: Rule, numeric: bool) -> str:
    number = rule.protocol or 0
    if numeric:
        name = str(number)
    else:
        name = "all" if number == 0 else protocol_name(number)
    return f"{'!' if rule.protocol_invert else ' '}{name:<4} "


def rule_listing_text(rule: Rule, numeric: bool = True) -> str:
    """What the matches and the target print after the address columns of ``-L``."""
    parts = []
    for match in rule.matches:
        ext = find_match(match.name)
        assert ext is not None
        parts.append(ext.listing(match.options, numeric))
    target = rule.target
    if target is not None and not target.goto:
        ext = find_target(target.name)
        if ext is not None:
            parts.append(ext.listing(target.options, numeric))
    return "".join(parts)


def _header(verbose: bool, exact: bool, line_numbers: bool) -> str:
    text = "num  " if line_numbers else ""
    if verbose:
        text += f"{'pkts':>8} {'bytes':>10} " if exact else f"{'pkts':>5} {'bytes':>5} "
    text += f"{'target':<9}  prot opt"
    if verbose:
        text += f" {'in':<6} {'out':<6} "
    return text + f" {'source':<19}  {'destination':<19} "


def _target_column(rule: Rule) -> str:
    """The target's name as the kernel reports it (``-j NOTRACK`` is the kernel's CT)."""
    if rule.target is None:
        return ""
    ext = None if rule.target.goto else find_target(rule.target.name)
    return getattr(ext, "kernel_name", rule.target.name)


def _rule_line(rule: Rule, number: int | None, numeric: bool, verbose: bool, exact: bool) -> str:
    text = f"{number:<4} " if number is not None else ""
    if verbose:
        text += _format_number(rule.counters.packets, exact)
        text += _format_number(rule.counters.bytes, exact)
    text += f"{_target_column(rule):<9} "
    text += _protocol_listing(rule, numeric)
    if rule.fragment is None:
        text += "-- "
    else:
        text += ("-f " if rule.fragment else "!f ")
    if verbose:
        anyname = "*" if numeric else "any"
        in_name = ("!" if rule.in_iface_invert else "") + (rule.in_iface or anyname)
        out_name = ("!" if rule.out_iface_invert else "") + (rule.out_iface or anyname)
        text += f" {in_name:<6} {out_name:<6} "
    text += _address_listing(rule.source, rule.source_invert, numeric)
    text += _address_listing(rule.destination, rule.destination_invert, numeric)
    if rule.target is not None and rule.target.goto:
        text += "[goto] "
    return text + rule_listing_text(rule, numeric)


def _references(table: Table, name: str) -> int:
    return sum(
        1
        for chain in table.chains.values()
        for rule in chain.rules
        if rule.target is not None and rule.target.name == name
    )


def _chain_header(table: Table, chain: Chain, verbose: bool, exact: bool) -> str:
    if chain.builtin:
        if verbose:
            packets = _format_number(chain.counters.packets, exact, table=False)
            nbytes = _format_number(chain.counters.bytes, exact, table=False)
            return f"Chain {chain.name} (policy {chain.policy} {packets}packets, {nbytes}bytes)"
        return f"Chain {chain.name} (policy {chain.policy})"
    return f"Chain {chain.name} ({_references(table, chain.name)} references)"


def listing_lines(table: Table, chain: str | None = None, rulenum: int | None = None,
                  numeric: bool = False, verbose: bool = False, exact: bool = False,
                  line_numbers: bool = False) -> list[str]:
    """``iptables -L [CHAIN [N]] [-n] [-v] [-x] [--line-numbers]``."""
    chains: Iterable[Chain] = table.ordered_chains() if chain is None else [table.chains[chain]]
    lines: list[str] = []
    for index, item in enumerate(chains):
        if rulenum is None:
            if index:
                lines.append("")
            lines.append(_chain_header(table, item, verbose, exact))
            lines.append(_header(verbose, exact, line_numbers))
        for number, rule in enumerate(item.rules, 1):
            if rulenum is not None and number != rulenum:
                continue
            lines.append(_rule_line(rule, number if line_numbers else None, numeric, verbose,
                                    exact))
    return lines
