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

ULONG_MAX = 0xFFFFFFFFFFFFFFFF

# strtoul(s, &end, 0) as xtables reads numbers: C blanks, an optional "+", then hex, octal or
# decimal digits. "0x" without a hex digit reads as 0 ending before the "x", as in C.
C_NUMBER = pp.Regex(r"[ \t\n\v\f\r]*\+?(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")
_C_NUMBER_RE = C_NUMBER.re  # hot path: the element's compiled pattern, no parse overhead


def c_digits_value(digits: str) -> int:
    """The value of C number digits as strtoul/sscanf read them with base 0: "0x..." is hex,
    a leading "0" octal, anything else decimal."""
    if digits[1:2] in ("x", "X"):
        return int(digits, 16)
    if digits[0] == "0":
        return int(digits, 8)
    return int(digits)


def c_strtoul(text: str, pos: int = 0) -> tuple[int, int] | None:
    """A number at ``pos`` as xtables' strtoul wrapper reads it: (value, end index) or None.

    None when there is no number there or it overflows unsigned long (a minus sign is refused).
    """
    found = _C_NUMBER_RE.match(text, pos)
    if found is None:
        return None
    digits = found.group(1)
    if len(digits.lstrip("0xX")) > 22:  # overflows in any base; spares int() huge input
        return None
    value = c_digits_value(digits)
    if value > ULONG_MAX:
        return None
    return value, found.end()


def c_strtoul_rest(text: str) -> tuple[int, str] | None:
    """(value, the text after it) for a number at the start of ``text``, or None."""
    found = c_strtoul(text)
    return None if found is None else (found[0], text[found[1]:])


@lru_cache(maxsize=4096)
def c_uint(text: str, high: int = ULONG_MAX) -> int | None:
    """A whole word read as one C number in ``0..high`` (xtables_strtoui), else None."""
    if text.isdigit() and (text[0] != "0" or len(text) == 1):
        value = int(text)  # the common case
        return value if value <= high else None
    found = c_strtoul(text)
    if found is None or found[1] != len(text) or found[0] > high:
        return None
    return found[0]


def strtoul(text: str) -> int | None:
    """An unsigned number as C's strtoul(text, &end, 0) with nothing left over, else None."""
    return c_uint(text)


def parse_uint(text: str, low: int = 0, high: int = 0xFFFFFFFF) -> int | None:
    value = c_uint(text)
    if value is None or not low <= value <= high:
        return None
    return value


# --- IPv4 addresses -------------------------------------------------------------------------

# Plain dotted decimal without leading zeros: the common case, read without C number rules.
_DECIMAL_PART = r"(?:[1-9][0-9]{0,2}|0)"
IPV4_DECIMAL = pp.Regex(rf"{_DECIMAL_PART}(?:\.{_DECIMAL_PART}){{0,3}}")
_IPV4_DECIMAL_RE = IPV4_DECIMAL.re


def numeric_ipv4(text: str) -> int | None:
    """A numeric IPv4 address as xtables_numeric_to_ipaddr reads it, or None.

    One to four parts, missing ones zero ("1.2" is 1.2.0.0); each part a C number, so "010" is
    8 and "0x10" is 16.
    """
    if _IPV4_DECIMAL_RE.fullmatch(text) is not None:
        if text.count(".") == 3:  # the common case: read in C, refused when a part is > 255
            try:
                return int.from_bytes(socket.inet_aton(text), "big")
            except OSError:
                return None
        parts = [int(part) for part in text.split(".")]
    else:
        parts = [c_uint(part, 0xFF) for part in text.split(".")]
        if len(parts) > 4 or None in parts:
            return None
    if any(part > 255 for part in parts):
        return None
    address = 0
    for part in parts:
        address = address << 8 | part
    return address << 8 * (4 - len(parts))


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
        value = numeric_ipv4(text)
        if value is None:
            raise ParameterProblem(f"host/network `{text}' not found")
        return value
    bits = parse_uint(text, 0, 32) if text.isdigit() else None
    if bits is None:
        raise ParameterProblem(f"invalid mask `{text}' specified")
    return (0xFFFFFFFF << (32 - bits)) & 0xFFFFFFFF


@lru_cache(maxsize=65536)  # a kube-proxy cluster IP appears on two lines, far apart
def parse_host_mask(text: str) -> tuple[IPv4Prefix, ...]:
    """``-s``/``-d`` values: ``ADDR[/MASK][,ADDR[/MASK]...]``, host names resolved.

    Returns one prefix per address (a name may resolve to several), duplicates removed, in order.
    """
    if "," not in text and "/" not in text:
        numeric = numeric_ipv4(text)
        if numeric is not None:  # one host address: the common case
            return (IPv4Prefix(numeric, 0xFFFFFFFF),)
    result: list[IPv4Prefix] = []
    for item in text.split(","):
        host, slash, mask_text = item.partition("/")
        mask = _parse_mask(mask_text) if slash else 0xFFFFFFFF
        numeric = numeric_ipv4(host)
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
    return numeric_ipv4(text)


def format_ipv4(value: int) -> str:
    return socket.inet_ntoa(value.to_bytes(4, "big"))


@lru_cache(maxsize=1)
def _etc_networks() -> dict[int, str]:
    """/etc/networks by network number (getnetbyaddr's table)."""
    by_number: dict[int, str] = {}
    try:
        with open("/etc/networks", encoding="utf-8") as handle:
            for line in handle:
                words = line.split("#", 1)[0].split()
                if len(words) < 2:
                    continue
                parts = words[1].split(".")
                if not all(part.isdigit() for part in parts) or len(parts) > 4:
                    continue
                number = 0
                for part in parts:
                    number = number << 8 | int(part) & 0xFF
                by_number.setdefault(number, words[0])
    except OSError:
        pass
    return by_number


@lru_cache(maxsize=4096)
def address_name(address: int) -> str:
    """How -L without -n names an address: host name, else network name, else the number."""
    text = format_ipv4(address)
    try:
        return socket.gethostbyaddr(text)[0]
    except (OSError, UnicodeError):
        pass
    return _etc_networks().get(address, text)


def resolve_address(text: str, numeric_only: bool = False) -> int:
    """The first IPv4 address getaddrinfo gives for ``text`` (as the ct/recent options read it)."""
    flags = socket.AI_NUMERICHOST if numeric_only else 0
    try:
        infos = socket.getaddrinfo(text, None, socket.AF_INET, socket.SOCK_RAW, 0, flags)
    except socket.gaierror as error:
        raise ParameterProblem(f"getaddrinfo: {error.strerror}\n") from None
    except (OSError, UnicodeError):
        raise ParameterProblem("getaddrinfo: Name or service not known\n") from None
    return int.from_bytes(socket.inet_aton(infos[0][4][0]), "big")


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

@lru_cache(maxsize=65536)
def parse_port_value(text: str, proto: str | None = None) -> int | None:
    """A port number (0-65535, read as a C number) or a service name (getservbyname), or None."""
    value = c_uint(text, 0xFFFF)
    if value is not None:
        return value
    if not text:
        return None
    try:
        return socket.getservbyname(text, proto) if proto else socket.getservbyname(text)
    except (OSError, ValueError):  # unknown name, or a NUL inside it
        return None


def parse_port(text: str, proto: str | None = None) -> int:
    """xtables_parse_port: a port or service, else iptables' error."""
    value = parse_port_value(text, proto)
    if value is None:
        raise ParameterProblem(f"invalid port/service `{text}' specified")
    return value


@lru_cache(maxsize=65536)
def parse_port_range(text: str, proto: str | None = None) -> tuple[int, int]:
    """``PORT``, ``PORT:PORT``, ``:PORT``, ``PORT:``, ``:`` as the tcp/udp/sctp matches take them.

    An empty side of the colon is 0 / 65535; an empty word is no port at all.
    """
    low_text, colon, high_text = text.partition(":")
    if not colon:
        port = parse_port(text, proto)
        return port, port
    low = parse_port(low_text, proto) if low_text else 0
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


# --- interfaces -----------------------------------------------------------------------------


def check_interface(text: str, warn) -> str:
    """``-i``/``-o`` names (xtables_parse_interface): length check, warning on odd characters."""
    if len(text.encode(errors="surrogateescape")) >= IFNAMSIZ:  # bytes, as the kernel counts
        raise ParameterProblem(
            f"interface name `{text}' must be shorter than IFNAMSIZ ({IFNAMSIZ - 1})"
        )
    if "/" in text or " " in text:
        warn(
            f"Warning: weird character in interface `{text}' ('/' and ' ' are not allowed by "
            "the kernel)."
        )
    return text
