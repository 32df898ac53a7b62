"""Value grammars shared by the core options and the extensions.

Each value kind is a pyparsing element (UPPER_CASE) whose parse action builds the model value,
wrapped by a cached ``parse_*`` function that turns a pyparsing failure into iptables' own
message. Values repeat a lot in real rule sets (ports, marks, masks), so the cache makes a
10,000-service restore cheap.
"""

from __future__ import annotations

import socket
from functools import lru_cache

import pyparsing as pp

from iptparse.errors import ParameterProblem
from iptparse.model import IPv4Prefix

IFNAMSIZ = 16

# --- numbers --------------------------------------------------------------------------------

DEC_UINT = pp.Regex(r"[0-9]+").set_parse_action(lambda t: int(t[0]))
HEX_UINT = pp.Regex(r"0[xX][0-9a-fA-F]+").set_parse_action(lambda t: int(t[0], 16))
OCT_UINT = pp.Regex(r"0[0-7]+").set_parse_action(lambda t: int(t[0], 8))
# strtoul(..., 0): hex, octal or decimal, as xtables_strtoui reads numbers.
C_UINT = HEX_UINT | OCT_UINT | DEC_UINT


@lru_cache(maxsize=4096)
def strtoul(text: str) -> int | None:
    """An unsigned number as C's strtoul(text, &end, 0) with nothing left over, else None."""
    if text.isdigit() and (text[0] != "0" or len(text) == 1):
        return int(text)  # the common case, without the grammar
    try:
        return C_UINT.parse_string(text, parse_all=True)[0]
    except pp.ParseException:
        return None


def parse_uint(text: str, low: int = 0, high: int = 0xFFFFFFFF) -> int | None:
    value = strtoul(text)
    if value is None or not low <= value <= high:
        return None
    return value


# --- IPv4 addresses -------------------------------------------------------------------------

# xtables' numeric parser: one to four decimal parts, missing parts are zero ("1.2.3" is 1.2.3.0).
IPV4_NUMERIC = pp.Regex(r"[0-9]{1,3}(\.[0-9]{1,3}){0,3}")


_IPV4_NUMERIC_RE = IPV4_NUMERIC.re  # the element's compiled pattern: hot path, no parse overhead


def _numeric_ipv4(text: str) -> int | None:
    if _IPV4_NUMERIC_RE.fullmatch(text) is None:
        return None
    parts = [int(p) for p in text.split(".")]
    if any(p > 255 for p in parts):
        return None
    parts += [0] * (4 - len(parts))
    return parts[0] << 24 | parts[1] << 16 | parts[2] << 8 | parts[3]


@lru_cache(maxsize=1024)
def _resolve_host(name: str) -> tuple[int, ...]:
    """A host name's IPv4 addresses (getaddrinfo, as xtables does), or () when unknown."""
    if not name:
        return ()
    try:
        infos = socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_RAW)
    except (OSError, UnicodeError):
        return ()
    seen: list[int] = []
    for info in infos:
        packed = socket.inet_aton(info[4][0])
        value = int.from_bytes(packed, "big")
        if value not in seen:
            seen.append(value)
    return tuple(seen)


def _parse_mask(text: str) -> int:
    if "." in text:
        value = _numeric_ipv4(text)
        if value is None:
            raise ParameterProblem(f"host/network `{text}' not found")
        return value
    bits = parse_uint(text, 0, 32) if text.isdigit() else None
    if bits is None:
        raise ParameterProblem(f"invalid mask `{text}' specified")
    return (0xFFFFFFFF << (32 - bits)) & 0xFFFFFFFF


@lru_cache(maxsize=8192)
def parse_host_mask(text: str) -> tuple[IPv4Prefix, ...]:
    """``-s``/``-d`` values: ``ADDR[/MASK][,ADDR[/MASK]...]``, host names resolved.

    Returns one prefix per address (a name may resolve to several), duplicates removed, in order.
    """
    result: list[IPv4Prefix] = []
    for item in text.split(","):
        host, slash, mask_text = item.partition("/")
        mask = _parse_mask(mask_text) if slash else 0xFFFFFFFF
        numeric = _numeric_ipv4(host)
        addresses = (numeric,) if numeric is not None else _resolve_host(host)
        if not addresses:
            raise ParameterProblem(f"host/network `{host}' not found")
        for address in addresses:
            prefix = IPv4Prefix(address & mask, mask)
            if prefix not in result:
                result.append(prefix)
    return tuple(result)


def parse_ipv4_address(text: str) -> int | None:
    """A single numeric dotted-quad address (xtables_numeric_to_ipaddr), or None."""
    return _numeric_ipv4(text)


def format_ipv4(value: int) -> str:
    return socket.inet_ntoa(value.to_bytes(4, "big"))


# --- protocols ------------------------------------------------------------------------------

# xtables_chain_protos: names iptables knows even without /etc/protocols.
CHAIN_PROTOS = {"tcp": 6, "sctp": 132, "udp": 17, "udplite": 136, "icmp": 1, "icmpv6": 58,
                "esp": 50, "ah": 51, "mh": 135, "all": 0}


@lru_cache(maxsize=1)
def _etc_protocols() -> tuple[dict[str, int], dict[int, str]]:
    by_name: dict[str, int] = {}
    by_number: dict[int, str] = {}
    try:
        with open("/etc/protocols", encoding="utf-8") as handle:
            for line in handle:
                words = line.split("#", 1)[0].split()
                if len(words) < 2 or not words[1].isdigit():
                    continue
                number = int(words[1])
                for alias in (words[0], *words[2:]):
                    by_name.setdefault(alias, number)
                by_number.setdefault(number, words[0])
    except OSError:
        pass
    return by_name, by_number


@lru_cache(maxsize=512)
def parse_protocol(text: str) -> int:
    """``-p`` value (xtables_parse_protocol): a number, a known name, or ``all``."""
    number = parse_uint(text, 0, 255)
    if number is not None:
        return number
    lowered = text.lower()
    by_name, _ = _etc_protocols()
    if text in by_name:
        return by_name[text]
    if lowered in CHAIN_PROTOS:
        return CHAIN_PROTOS[lowered]
    raise ParameterProblem(f'unknown protocol "{text}" specified')


@lru_cache(maxsize=256)
def protocol_name(number: int) -> str:
    """A protocol as iptables-save prints it: /etc/protocols name, known name, or number."""
    _, by_number = _etc_protocols()
    if number in by_number:
        return by_number[number]
    for name, value in CHAIN_PROTOS.items():
        if value == number:
            return name
    return str(number)


# --- ports ----------------------------------------------------------------------------------

PORT_NUMBER = pp.Regex(r"[0-9]+")
SERVICE_NAME = pp.Regex(r"[A-Za-z0-9_.*+-]+")


@lru_cache(maxsize=4096)
def parse_port_value(text: str, proto: str | None = None) -> int | None:
    """A port number (0-65535) or a service name (getservbyname), or None."""
    value = parse_uint(text, 0, 65535)
    if value is not None:
        return value
    if not text:
        return None
    try:
        return socket.getservbyname(text, proto) if proto else socket.getservbyname(text)
    except OSError:
        return None


def parse_port(text: str, proto: str | None = None) -> int:
    """xtables_parse_port: a port or service, else iptables' error."""
    value = parse_port_value(text, proto)
    if value is None:
        raise ParameterProblem(f"invalid port/service `{text}' specified")
    return value


@lru_cache(maxsize=4096)
def parse_port_range(text: str, proto: str | None = None) -> tuple[int, int]:
    """``PORT``, ``PORT:PORT``, ``:PORT``, ``PORT:`` as the tcp/udp matches take them."""
    low_text, colon, high_text = text.partition(":")
    low = parse_port(low_text, proto) if low_text else 0
    if not colon:
        return low, low
    high = parse_port(high_text, proto) if high_text else 0xFFFF
    if low > high:
        raise ParameterProblem("invalid portrange (min > max)")
    return low, high


@lru_cache(maxsize=4096)
def port_service_name(port: int, proto: str | None = None) -> str | None:
    """The service name ``-L`` prints for a port without ``-n`` (getservbyport), or None."""
    try:
        return socket.getservbyport(port, proto) if proto else socket.getservbyport(port)
    except OSError:
        return None


# --- marks ----------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def parse_mark_mask(text: str) -> tuple[int, int] | None:
    """``VALUE[/MASK]`` (xtables' XTTYPE_MARKMASK32); the mask defaults to 0xffffffff."""
    value_text, slash, mask_text = text.partition("/")
    value = parse_uint(value_text)
    if value is None:
        return None
    if not slash:
        return value, 0xFFFFFFFF
    mask = parse_uint(mask_text)
    if mask is None:
        return None
    return value, mask


# --- interfaces -----------------------------------------------------------------------------


def check_interface(text: str, warn) -> str:
    """``-i``/``-o`` names (xtables_parse_interface): length check, warning on odd characters."""
    if len(text) >= IFNAMSIZ:
        raise ParameterProblem(
            f"interface name `{text}' must be shorter than IFNAMSIZ ({IFNAMSIZ - 1})"
        )
    if "/" in text or " " in text:
        warn(
            f"Warning: weird character in interface `{text}' ('/' and ' ' are not allowed by "
            "the kernel)."
        )
    return text
