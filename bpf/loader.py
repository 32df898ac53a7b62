"""Compile, pin, attach, replace and re-open bpftables' tc programs (bcc + pyroute2).

This is the only module of the project that imports bcc or pyroute2.

Pin layout, one folder per network namespace (bpf/bpffs.py says where and why)::

    /run/bpftables/bpffs/net-<cookie>/
        maps/<map>                  persistent maps: created by the first compile that declares
                                    them, REUSED (same map id) by every later compile
        gen-000007-<label>/         one compile ("generation"); <label> is the caller's (the
                                    Shape hash), so a restarted agent knows what it found
            prog/<function>         its programs, pinned: they stay loaded with no filter on them
            map/<map>               every map its programs use: the persistent ones pinned a
                                    second time, and its own (prog arrays, scratch maps)

A generation is built in ``tmp-gen-NNNNNN`` and renamed when complete, so a crash mid-compile
never leaves a half generation for a restarted agent to open.

Declaring maps in the C (what the code generator emits). The loader defines, through cflags:

    BPFT_MAP(type, key_type, leaf_type, name, max_entries)
    BPFT_MAP_F(type, key_type, leaf_type, name, max_entries, flags)   e.g. BPF_F_NO_PREALLOC
    BPFT_PIN_MAPS                                                     "<pin folder>/maps"

``BPFT_MAP`` is bcc's ``BPF_TABLE_PINNED`` on ``BPFT_PIN_MAPS "/" #name``: bcc opens the pinned
map when the pin exists and creates and pins it otherwise. Use it for everything that must
survive a recompile (conntrack, NAT bindings, rule data, counters). bcc does NOT check that an
existing pin matches the declaration, so the loader compares type, key size, value size,
max_entries and flags after loading and raises :class:`MapLayoutError` on a difference: a map
whose layout changes needs a new name (e.g. a layout suffix; names <= 15 characters).

Prog arrays (``BPF_PROG_ARRAY``) and other per-generation maps are declared as usual, NOT with
``BPFT_MAP``: the programs in a prog array belong to one generation. The loader pins them in the
generation folder, which matters: the kernel empties a prog array when its last user-space
reference (fd or pin) goes, and tail calls would then fail silently after the agent exits.

Maps are used through raw fds (:class:`PinnedMap`: bytes or ctypes structures in and out), the
same way after a compile and after a restart, never through bcc table objects: those need the
compiled module, which a restarted agent does not have.

Attach: clsact qdisc, one ``bpf direct-action`` filter per (interface, direction) at pref
``FILTER_PREF`` handle ``FILTER_HANDLE``. Attaching always sends ``replace`` with that same
pref/handle, so a Shape change swaps the program atomically: the kernel's cls_bpf puts the new
program in place of the old one in one RCU pointer update; every packet runs the old or the new
program, none runs neither. Afterwards :func:`retire_generations` unpins the older ones.

Typical agent flow::

    ensure_bpffs(); pins = netns_pin_dir()             # (inside the namespace)
    dp = open_datapath(pins)                           # restart: no compile, ids unchanged
    if dp is None or dp.generation.label != shape_hash:
        dp = compile_datapath(c_text, pins, functions={"tc_ingress": ProgKind.TC, ...},
                              include_dirs=[...], label=shape_hash)
    with TcHooks() as hooks:                           # rtnetlink of this namespace
        for ifname in interfaces:
            hooks.attach(dp.programs["tc_ingress"], ifname, Hook.INGRESS)
        live = {a.prog_id for a in hooks.attached()}
    retire_generations(pins, keep=dp.generation, attached_ids=live)
    dp.maps["svc4"].update(key, value)                 # Data changes
"""

from __future__ import annotations

import ctypes as ct
import errno
import functools
import logging
import os
import re
import socket
import struct
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from bcc import BPF
from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netns import create_socket

from bpf.bpffs import BPFFS_ROOT, SO_NETNS_COOKIE, current_netns_cookie, pin_dir_for, remove_tree

log = logging.getLogger(__name__)

# tc filter priority and handle of bpftables' filter on each hook; replace keys on both.
FILTER_PREF = 1
FILTER_HANDLE = 1
_CLSACT_INGRESS = 0xFFFFFFF2  # TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS), "ffff:fff2"
_CLSACT_EGRESS = 0xFFFFFFF3  # "ffff:fff3"
# Attributes inside a bpf filter's TCA_OPTIONS (linux/pkt_cls.h); pyroute2 0.9 drops the id.
_TCA_BPF_NAME = 7
_TCA_BPF_ID = 11
# Map types whose values are one slot per possible CPU (linux/bpf.h).
_PERCPU_MAP_TYPES = frozenset({5, 6, 10, 21})  # PERCPU_HASH, PERCPU_ARRAY, LRU_PERCPU_HASH,
# PERCPU_CGROUP_STORAGE
BPF_ANY, BPF_NOEXIST, BPF_EXIST = 0, 1, 2
# bpffs refuses names with a dot (EPERM, "reserved"): labels and folders have none.
_GENERATION_RE = re.compile(r"^gen-(\d{6})(?:-([A-Za-z0-9_-]{1,64}))?$")
_LABEL_RE = re.compile(r"^[A-Za-z0-9_-]{0,64}$")
_TMP_PREFIX = "tmp-gen-"


class Hook(Enum):
    """A tc hook of clsact; the value is its parent handle."""

    INGRESS = _CLSACT_INGRESS
    EGRESS = _CLSACT_EGRESS


class ProgKind(Enum):
    """How a function is loaded; the value is bcc's program type."""

    TC = BPF.SCHED_CLS
    XDP = BPF.XDP


class LoaderError(Exception):
    """The datapath could not be compiled, loaded, pinned or attached."""


class MapLayoutError(LoaderError):
    """A pinned map does not have the layout the new C declares for it."""


@dataclass(frozen=True, slots=True)
class MapLayout:
    map_type: int
    key_size: int
    value_size: int
    max_entries: int
    flags: int


@dataclass(frozen=True, slots=True)
class Generation:
    """One compile's folder: its number, the caller's label, its path."""

    number: int
    label: str
    path: Path


@dataclass(frozen=True, slots=True)
class Attachment:
    """A bpf filter found on a clsact hook."""

    ifname: str
    ifindex: int
    hook: Hook
    prog_id: int
    name: str
    ours: bool  # at bpftables' pref/handle


# --- the bpf syscall, through libbpf (bcc links it) -------------------------------------------

class _MapInfo(ct.Structure):  # struct bpf_map_info, leading fields
    _fields_ = [("type", ct.c_uint32), ("id", ct.c_uint32), ("key_size", ct.c_uint32),
                ("value_size", ct.c_uint32), ("max_entries", ct.c_uint32),
                ("map_flags", ct.c_uint32), ("name", ct.c_char * 16)]


class _ProgInfo(ct.Structure):  # struct bpf_prog_info, leading fields
    _fields_ = [("type", ct.c_uint32), ("id", ct.c_uint32), ("tag", ct.c_uint8 * 8),
                ("jited_prog_len", ct.c_uint32), ("xlated_prog_len", ct.c_uint32),
                ("jited_prog_insns", ct.c_uint64), ("xlated_prog_insns", ct.c_uint64),
                ("load_time", ct.c_uint64), ("created_by_uid", ct.c_uint32),
                ("nr_map_ids", ct.c_uint32), ("map_ids", ct.c_uint64),
                ("name", ct.c_char * 16)]


@functools.cache
def _libbpf() -> ct.CDLL:
    """libbpf >= 1.0 (low-level calls return -errno); our own handle, so bcc's is untouched."""
    lib = ct.CDLL("libbpf.so.1", use_errno=True)
    vp, cp, i = ct.c_void_p, ct.c_char_p, ct.c_int
    for name, args in (("bpf_obj_pin", [i, cp]), ("bpf_obj_get", [cp]),
                       ("bpf_map_update_elem", [i, vp, vp, ct.c_uint64]),
                       ("bpf_map_lookup_elem", [i, vp, vp]), ("bpf_map_delete_elem", [i, vp]),
                       ("bpf_map_get_next_key", [i, vp, vp]),
                       ("bpf_map_lookup_batch", [i, vp, vp, vp, vp, ct.POINTER(ct.c_uint32),
                                                 vp]),
                       ("bpf_map_update_batch", [i, vp, vp, ct.POINTER(ct.c_uint32), vp]),
                       ("bpf_obj_get_info_by_fd", [i, vp, ct.POINTER(ct.c_uint32)]),
                       ("libbpf_num_possible_cpus", [])):
        func = getattr(lib, name)
        func.argtypes, func.restype = args, i
    return lib


class _Insn(ct.Structure):  # struct bpf_insn
    _fields_ = [("code", ct.c_uint8), ("regs", ct.c_uint8), ("off", ct.c_int16),
                ("imm", ct.c_int32)]


@functools.cache
def xdp_metadata_supported() -> bool:
    """Whether this kernel lets XDP programs call bpf_xdp_adjust_meta (some builds refuse it:
    "program of this type cannot use helper"). Without it raw PREROUTING cannot tell tc it
    ran, so it stays in tc. Probed once per process with a four-instruction program."""
    lib = ct.CDLL("libbpf.so.1", use_errno=True)
    load = lib.bpf_prog_load
    load.argtypes = [ct.c_int, ct.c_char_p, ct.c_char_p, ct.c_void_p, ct.c_size_t, ct.c_void_p]
    load.restype = ct.c_int
    program = (_Insn * 4)(
        _Insn(0xB7, 2, 0, -8),  # r2 = -8 (r1 is the context)
        _Insn(0x85, 0, 0, 54),  # call bpf_xdp_adjust_meta
        _Insn(0xB7, 0, 0, 2),  # r0 = XDP_PASS
        _Insn(0x95, 0, 0, 0))  # exit
    fd = load(6, b"bpft_xdp_meta", b"GPL", ct.addressof(program), 4, None)  # BPF_PROG_TYPE_XDP
    if fd < 0:
        log.info("this kernel refuses bpf_xdp_adjust_meta in XDP programs: raw PREROUTING "
                 "runs in tc")
        return False
    os.close(fd)
    return True


@functools.cache
def _libbcc() -> ct.CDLL:
    """bcc's module accessors that bcc's Python wrapper does not declare."""
    lib = ct.CDLL("libbcc.so.0")
    vp, size = ct.c_void_p, ct.c_size_t
    for name, restype in (("bpf_num_tables", size), ("bpf_table_name", ct.c_char_p),
                          ("bpf_table_fd_id", ct.c_int), ("bpf_table_type_id", ct.c_int),
                          ("bpf_table_key_size_id", size), ("bpf_table_leaf_size_id", size),
                          ("bpf_table_max_entries_id", size), ("bpf_table_flags_id", ct.c_int)):
        func = getattr(lib, name)
        func.argtypes = [vp] if name == "bpf_num_tables" else [vp, size]
        func.restype = restype
    return lib


def _check(rc: int, what: str) -> int:
    if rc < 0:
        raise OSError(-rc, f"{what}: {os.strerror(-rc)}")
    return rc


def _obj_get(path: Path) -> int:
    return _check(_libbpf().bpf_obj_get(os.fsencode(path)), f"bpf_obj_get {path}")


def _obj_pin(fd: int, path: Path) -> None:
    _check(_libbpf().bpf_obj_pin(fd, os.fsencode(path)), f"bpf_obj_pin {path}")


def _map_info(fd: int) -> _MapInfo:
    info, size = _MapInfo(), ct.c_uint32(ct.sizeof(_MapInfo))
    _check(_libbpf().bpf_obj_get_info_by_fd(fd, ct.byref(info), ct.byref(size)), "map info")
    return info


def _prog_info(fd: int, map_ids: ct.Array | None = None) -> _ProgInfo:
    info, size = _ProgInfo(), ct.c_uint32(ct.sizeof(_ProgInfo))
    if map_ids is not None:
        info.nr_map_ids, info.map_ids = len(map_ids), ct.addressof(map_ids)
    _check(_libbpf().bpf_obj_get_info_by_fd(fd, ct.byref(info), ct.byref(size)), "prog info")
    return info


def _as_buffer(value: bytes | ct.Structure | ct._SimpleCData, size: int, what: str) -> ct.Array:
    raw = bytes(value)
    if len(raw) != size:
        raise ValueError(f"{what}: {len(raw)} bytes given, the map wants {size}")
    return ct.create_string_buffer(raw, size)


# --- handles on pinned objects -----------------------------------------------------------------

class PinnedMap:
    """A map opened by fd: lookups and updates with bytes (or ctypes objects of the exact size).

    Per-CPU maps take and return one value per possible CPU: ``lookup`` gives a list of bytes,
    ``update`` takes such a list (or one value, written to every CPU).
    """

    def __init__(self, fd: int, path: Path | None = None) -> None:
        info = _map_info(fd)
        self.fd = fd
        self.path = path
        self.id: int = info.id
        self.name: str = info.name.decode()
        self.layout = MapLayout(info.type, info.key_size, info.value_size, info.max_entries,
                                info.map_flags)
        self.per_cpu = info.type in _PERCPU_MAP_TYPES
        self._cpus = _check(_libbpf().libbpf_num_possible_cpus(), "possible cpus")
        # the kernel rounds each CPU's slot up to 8 bytes
        self._slot = (info.value_size + 7) & ~7 if self.per_cpu else info.value_size

    @classmethod
    def open(cls, path: Path) -> PinnedMap:
        fd = _obj_get(path)
        try:
            return cls(fd, path)
        except BaseException:
            os.close(fd)
            raise

    def _value_bytes(self) -> int:
        return self._slot * self._cpus if self.per_cpu else self.layout.value_size

    def lookup(self, key: bytes | ct.Structure | ct._SimpleCData) -> bytes | list[bytes] | None:
        """The value under ``key``, or None when there is none."""
        k = _as_buffer(key, self.layout.key_size, f"{self.name} key")
        v = ct.create_string_buffer(self._value_bytes())
        rc = _libbpf().bpf_map_lookup_elem(self.fd, k, v)
        if rc == -errno.ENOENT:
            return None
        _check(rc, f"lookup in {self.name}")
        if not self.per_cpu:
            return v.raw
        size = self.layout.value_size
        return [v.raw[cpu * self._slot:cpu * self._slot + size] for cpu in range(self._cpus)]

    def update(self, key: bytes | ct.Structure | ct._SimpleCData,
               value: bytes | ct.Structure | ct._SimpleCData | Sequence[bytes],
               flags: int = BPF_ANY) -> None:
        k = _as_buffer(key, self.layout.key_size, f"{self.name} key")
        raw = self._raw_value(value)
        v = ct.create_string_buffer(raw, len(raw))
        _check(_libbpf().bpf_map_update_elem(self.fd, k, v, flags), f"update in {self.name}")

    def _raw_value(self, value: bytes | ct.Structure | ct._SimpleCData | Sequence[bytes],
                   ) -> bytes:
        """A value as the kernel takes it (per-CPU: one slot per possible CPU)."""
        if not self.per_cpu:
            return bytes(_as_buffer(value, self.layout.value_size, f"{self.name} value"))
        per_cpu = [value] * self._cpus if not isinstance(value, list | tuple) else value
        if len(per_cpu) != self._cpus:
            raise ValueError(f"{self.name}: {len(per_cpu)} values for {self._cpus} CPUs")
        return b"".join(bytes(_as_buffer(one, self.layout.value_size, f"{self.name} value"))
                        .ljust(self._slot, b"\0") for one in per_cpu)

    def update_many(self, keys: Sequence[bytes],
                    value: bytes | ct.Structure | ct._SimpleCData | Sequence[bytes]) -> None:
        """:meth:`update` of every key to one value, in one BPF_MAP_UPDATE_BATCH (10,000
        counters zeroed in a system call, not 10,000); one by one where the kernel has no
        batch for this map type."""
        if not keys:
            return
        raw = self._raw_value(value)
        key_size = self.layout.key_size
        for key in keys:
            if len(key) != key_size:
                raise ValueError(f"{self.name} key: {len(key)} bytes given, the map wants "
                                 f"{key_size}")
        joined_keys = b"".join(keys)
        key_buffer = ct.create_string_buffer(joined_keys, len(joined_keys))
        values = raw * len(keys)
        value_buffer = ct.create_string_buffer(values, len(values))
        count = ct.c_uint32(len(keys))
        rc = _libbpf().bpf_map_update_batch(self.fd, key_buffer, value_buffer, ct.byref(count),
                                            None)
        if rc in (-errno.EINVAL, -errno.ENOTSUP, -errno.EOPNOTSUPP) and count.value == 0:
            for key in keys:
                self.update(key, value)
            return
        _check(rc, f"update batch in {self.name}")

    def delete(self, key: bytes | ct.Structure | ct._SimpleCData) -> bool:
        """Remove ``key``; False when it was not there."""
        k = _as_buffer(key, self.layout.key_size, f"{self.name} key")
        rc = _libbpf().bpf_map_delete_elem(self.fd, k)
        if rc == -errno.ENOENT:
            return False
        _check(rc, f"delete in {self.name}")
        return True

    def keys(self) -> Iterator[bytes]:
        """Every key (of a hash map changing meanwhile, some may be missed or repeated)."""
        key = None
        nxt = ct.create_string_buffer(self.layout.key_size)
        while True:
            rc = _libbpf().bpf_map_get_next_key(self.fd, key, nxt)
            if rc == -errno.ENOENT:
                return
            _check(rc, f"next key in {self.name}")
            key = ct.create_string_buffer(nxt.raw, self.layout.key_size)
            yield nxt.raw

    def items(self) -> Iterator[tuple[bytes, bytes | list[bytes]]]:
        for key in self.keys():
            value = self.lookup(key)
            if value is not None:
                yield key, value

    def items_batched(self, chunk: int = 8192) -> Iterator[tuple[bytes, bytes]]:
        """Every (key, value) of a hash map, ``chunk`` entries per BPF_MAP_LOOKUP_BATCH (a
        50,000-entry connection table in a few syscalls, not 100,000); one lookup per key
        where the kernel has no batch for this map type. Not for per-CPU maps."""
        if self.per_cpu:
            raise ValueError(f"{self.name}: batched reads of per-CPU maps are not supported")
        key_size, value_size = self.layout.key_size, self.layout.value_size
        keys = ct.create_string_buffer(key_size * chunk)
        values = ct.create_string_buffer(value_size * chunk)
        # the batch token: a bucket number for hash maps, at most a key's size for any map
        token_size = max(key_size, 8)
        in_batch, out_batch = ct.create_string_buffer(token_size), ct.create_string_buffer(
            token_size)
        first = True
        while True:
            count = ct.c_uint32(chunk)
            rc = _libbpf().bpf_map_lookup_batch(self.fd, None if first else in_batch,
                                                out_batch, keys, values, ct.byref(count), None)
            if first and rc in (-errno.EINVAL, -errno.ENOTSUP, -errno.EOPNOTSUPP) \
                    and count.value == 0:
                yield from self.items()  # type: ignore[misc]  # not per-CPU: bytes values
                return
            if rc < 0 and rc != -errno.ENOENT:
                _check(rc, f"lookup batch in {self.name}")
            raw_keys, raw_values = keys.raw, values.raw
            for index in range(count.value):
                yield (raw_keys[index * key_size:(index + 1) * key_size],
                       raw_values[index * value_size:(index + 1) * value_size])
            if rc == -errno.ENOENT:
                return
            first = False
            ct.memmove(in_batch, out_batch, token_size)

    def delete_many(self, keys: Sequence[bytes]) -> int:
        """Remove these keys (those already gone are skipped); how many were removed."""
        removed = 0
        for key in keys:
            removed += self.delete(key)
        return removed

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __repr__(self) -> str:
        return f"PinnedMap({self.name!r}, id={self.id}, {self.layout})"


class Program:
    """A loaded program opened by fd (from its pin)."""

    def __init__(self, fd: int, name: str, path: Path | None = None) -> None:
        info = _prog_info(fd)
        self.fd = fd
        self.name = name
        self.path = path
        self.id: int = info.id
        self.prog_type: int = info.type  # BPF_PROG_TYPE_*: 3 SCHED_CLS, 6 XDP
        self.tag: str = bytes(info.tag).hex()

    @classmethod
    def open(cls, path: Path) -> Program:
        fd = _obj_get(path)
        try:
            return cls(fd, path.name, path)
        except BaseException:
            os.close(fd)
            raise

    def map_ids(self) -> list[int]:
        """Ids of the maps the program uses (what the verifier bound it to)."""
        count = _prog_info(self.fd).nr_map_ids
        ids = (ct.c_uint32 * count)()
        _prog_info(self.fd, ids)
        return list(ids)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __repr__(self) -> str:
        return f"Program({self.name!r}, id={self.id})"


class Datapath:
    """One generation's programs and maps, opened from their pins. Close it (or use ``with``);
    closing drops this process's fds only, the pins keep everything loaded."""

    def __init__(self, pin_dir: Path, generation: Generation, programs: dict[str, Program],
                 maps: dict[str, PinnedMap]) -> None:
        self.pin_dir = pin_dir
        self.generation = generation
        self.programs = programs
        self.maps = maps

    def persistent_map_names(self) -> list[str]:
        """Maps of this generation that live in maps/ (kept across compiles)."""
        return [name for name, pinned in self.maps.items()
                if _pinned_map_id(self.pin_dir / "maps" / name) == pinned.id]

    def close(self) -> None:
        for program in self.programs.values():
            program.close()
        for pinned in self.maps.values():
            pinned.close()

    def __enter__(self) -> Datapath:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _pinned_map_id(path: Path) -> int | None:
    """The id of the map pinned at ``path``, None when nothing is pinned there."""
    try:
        fd = _obj_get(path)
    except OSError:
        return None
    try:
        return _map_info(fd).id
    finally:
        os.close(fd)


# --- namespaces and generations ----------------------------------------------------------------

def netns_cookie(netns: str | None = None) -> int:
    """The cookie of the named network namespace (/run/netns/NAME), or of this process's."""
    if netns is None:
        return current_netns_cookie()
    # flags=0: never create the namespace (pyroute2's default would)
    with create_socket(netns, socket.AF_UNIX, socket.SOCK_DGRAM, flags=0) as sock:
        raw = sock.getsockopt(socket.SOL_SOCKET, SO_NETNS_COOKIE, 8)
    return int.from_bytes(raw, "little")


def netns_pin_dir(netns: str | None = None, root: Path = BPFFS_ROOT) -> Path:
    """The pin folder of a namespace (named, or this process's), created when missing. The
    bpffs must be mounted (bpffs.ensure_bpffs)."""
    return pin_dir_for(netns_cookie(netns), root)


def list_generations(pin_dir: Path) -> list[Generation]:
    """The complete generations in ``pin_dir``, oldest first."""
    found = []
    for entry in pin_dir.iterdir() if pin_dir.exists() else ():
        match = _GENERATION_RE.match(entry.name)
        if match and entry.is_dir():
            found.append(Generation(int(match.group(1)), match.group(2) or "", entry))
    return sorted(found, key=lambda generation: generation.number)


def _next_generation_number(pin_dir: Path) -> int:
    numbers = [generation.number for generation in list_generations(pin_dir)]
    for entry in pin_dir.iterdir():
        if entry.name.startswith(_TMP_PREFIX):
            numbers.append(int(entry.name[len(_TMP_PREFIX):len(_TMP_PREFIX) + 6]))
    return max(numbers, default=0) + 1


def retire_generations(pin_dir: Path, keep: Generation,
                       attached_ids: set[int] | frozenset[int] = frozenset()) -> list[Generation]:
    """Unpin every generation but ``keep`` (and leftovers of interrupted compiles); return the
    ones removed. A generation with a program in ``attached_ids`` is refused (LoaderError):
    unpinning its prog arrays would empty them under the running program."""
    removed = []
    for generation in list_generations(pin_dir):
        if generation.number == keep.number:
            continue
        progs = generation.path / "prog"
        live = [p.name for p in progs.iterdir() if _pinned_prog_id(p) in attached_ids]
        if live:
            raise LoaderError(f"generation {generation.number} is still attached: {live}")
        remove_tree(generation.path)
        removed.append(generation)
    for entry in pin_dir.iterdir():
        if entry.name.startswith(_TMP_PREFIX):
            remove_tree(entry)
    return removed


def attached_generation(pin_dir: Path, attached_ids: set[int] | frozenset[int]
                        ) -> Generation | None:
    """The newest generation with a program among ``attached_ids`` (what the kernel runs);
    after a crash between a compile and its attach, that is not the newest generation."""
    for generation in reversed(list_generations(pin_dir)):
        if any(_pinned_prog_id(path) in attached_ids
               for path in (generation.path / "prog").iterdir()):
            return generation
    return None


def _pinned_prog_id(path: Path) -> int | None:
    try:
        fd = _obj_get(path)
    except OSError:
        return None
    try:
        return _prog_info(fd).id
    finally:
        os.close(fd)


# --- compile and open --------------------------------------------------------------------------

def _cflags(pin_dir: Path, include_dirs: Sequence[Path | str],
            defines: Mapping[str, str | int | None]) -> list[str]:
    maps_dir = str(pin_dir / "maps")
    if '"' in maps_dir or "\\" in maps_dir:
        raise ValueError(f"pin folder unusable in a C string: {maps_dir}")
    flags = [
        f'-DBPFT_PIN_MAPS="{maps_dir}"',
        "-DBPFT_MAP(_type,_key,_leaf,_name,_max)="
        "BPF_TABLE_PINNED(_type,_key,_leaf,_name,_max,BPFT_PIN_MAPS \"/\" #_name)",
        "-DBPFT_MAP_F(_type,_key,_leaf,_name,_max,_flags)="
        "BPF_TABLE_PINNED(_type,_key,_leaf,_name,_max,BPFT_PIN_MAPS \"/\" #_name,_flags)",
    ]
    flags += [f"-I{directory}" for directory in include_dirs]
    flags += [f"-D{name}" if value is None else f"-D{name}={value}"
              for name, value in defines.items()]
    return flags


def _module_maps(module: int) -> Iterator[tuple[str, int, MapLayout]]:
    """(name, fd, declared layout) of every map of a compiled bcc module."""
    lib = _libbcc()
    for index in range(lib.bpf_num_tables(module)):
        fd = lib.bpf_table_fd_id(module, index)
        if fd < 0:  # declared "extern" or not created
            continue
        declared = MapLayout(lib.bpf_table_type_id(module, index),
                             lib.bpf_table_key_size_id(module, index),
                             lib.bpf_table_leaf_size_id(module, index),
                             lib.bpf_table_max_entries_id(module, index),
                             lib.bpf_table_flags_id(module, index))
        yield lib.bpf_table_name(module, index).decode(), fd, declared


def compile_datapath(source: str, pin_dir: Path, *, functions: Mapping[str, ProgKind],
                     include_dirs: Sequence[Path | str] = (),
                     defines: Mapping[str, str | int | None] | None = None,
                     tail_calls: Mapping[str, Sequence[str]] | None = None,
                     label: str = "") -> Datapath:
    """Compile ``source`` with bcc, load ``functions``, fill prog arrays, pin everything as a
    new generation in ``pin_dir`` and return it opened. Persistent maps (``BPFT_MAP``) that are
    pinned already are reused, not recreated. Nothing is attached.

    ``tail_calls``: prog array name -> function names, slot i gets the i-th (functions not in
    ``functions`` are loaded as tc programs). ``label``: kept in the generation's name (e.g.
    the Shape hash), ``[A-Za-z0-9_-]``, up to 64 characters (bpffs refuses dots).
    """
    if not _LABEL_RE.match(label):
        raise ValueError(f"bad generation label {label!r}")
    tail_calls = tail_calls or {}
    persistent = pin_dir / "maps"
    persistent.mkdir(mode=0o700, exist_ok=True)
    pinned_before = {entry.name for entry in persistent.iterdir()}
    number = _next_generation_number(pin_dir)
    final = pin_dir / (f"gen-{number:06d}-{label}" if label else f"gen-{number:06d}")
    staging = pin_dir / f"{_TMP_PREFIX}{number:06d}"
    module = None
    try:
        try:
            # creates the maps (opening the pinned ones); programs are loaded below
            module = BPF(text=source.encode(), cflags=_cflags(pin_dir, include_dirs, defines or {}))
        except Exception as error:  # bcc raises bare Exception on compile errors
            raise LoaderError(f"bcc could not compile the datapath: {error}") from error
        maps = list(_module_maps(module.module))
        for name, fd, declared in maps:
            info = _map_info(fd)
            found = MapLayout(info.type, info.key_size, info.value_size, info.max_entries,
                              info.map_flags)
            if found != declared:
                raise MapLayoutError(f"map {name}: pinned {found}, the C declares {declared}; "
                                     "give a map whose layout changed a new name")
        loaded = {}
        wanted = dict(functions)
        for names in tail_calls.values():
            for name in names:
                wanted.setdefault(name, ProgKind.TC)
        for name, kind in wanted.items():
            try:
                loaded[name] = module.load_func(name.encode(), kind.value).fd
            except Exception as error:  # the verifier's log went to stderr
                raise LoaderError(f"loading {name}: {error}") from error
        for table, names in tail_calls.items():
            prog_array = module.get_table(table.encode())
            for slot, name in enumerate(names):
                prog_array[ct.c_int(slot)] = ct.c_int(loaded[name])
        os.mkdir(staging, 0o700)
        os.mkdir(staging / "prog", 0o700)
        os.mkdir(staging / "map", 0o700)
        for name, fd, _ in maps:
            _obj_pin(fd, staging / "map" / name)
        for name, fd in loaded.items():
            _obj_pin(fd, staging / "prog" / name)
        os.rename(staging, final)
    except BaseException:
        remove_tree(staging)
        # maps this failed compile created: a fixed C may declare them differently
        for entry in persistent.iterdir():
            if entry.name not in pinned_before:
                entry.unlink()
        raise
    finally:
        if module is not None:
            module.cleanup()  # closes bcc's fds; the pins hold programs and maps
    log.info("compiled generation %d (%s) in %s", number, label, pin_dir)
    datapath = open_datapath(pin_dir, number)
    if datapath is None:
        raise LoaderError(f"generation {number} vanished from {pin_dir}")
    return datapath


def open_datapath(pin_dir: Path, number: int | None = None) -> Datapath | None:
    """Open a generation's pinned programs and maps without compiling: the newest one, or
    ``number``. None when the folder holds no complete generation."""
    generations = list_generations(pin_dir)
    if number is not None:
        generations = [g for g in generations if g.number == number]
    if not generations:
        return None
    generation = generations[-1]
    programs: dict[str, Program] = {}
    maps: dict[str, PinnedMap] = {}
    try:
        for path in sorted((generation.path / "prog").iterdir()):
            programs[path.name] = Program.open(path)
        for path in sorted((generation.path / "map").iterdir()):
            maps[path.name] = PinnedMap.open(path)
    except BaseException:
        Datapath(pin_dir, generation, programs, maps).close()
        raise
    return Datapath(pin_dir, generation, programs, maps)


# --- tc attach ---------------------------------------------------------------------------------

class TcHooks:
    """rtnetlink to the clsact hooks of one network namespace: the named one (/run/netns/NAME)
    or this process's (an agent after ``ip netns exec``). Reuse one for several operations:
    opening it into a named namespace forks a helper (tens of ms); the operations take well
    under a millisecond each. Use as a context manager."""

    def __init__(self, netns: str | None = None) -> None:
        # flags=0: never create the namespace (pyroute2's default would)
        self._ipr = IPRoute(netns=netns, flags=0) if netns is not None else IPRoute()

    def __enter__(self) -> TcHooks:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._ipr.close()

    def _ifindex(self, ifname: str) -> int:
        found = self._ipr.link_lookup(ifname=ifname)
        if not found:
            raise LoaderError(f"no interface {ifname}")
        return found[0]

    def attach(self, program: Program, ifname: str, hook: Hook) -> None:
        """Put ``program`` on ``hook`` of ``ifname`` (clsact added when missing), replacing
        atomically the program bpftables' filter there ran before."""
        ifindex = self._ifindex(ifname)
        try:
            self._ipr.tc("add", "clsact", ifindex)
        except NetlinkError as error:
            if error.code != errno.EEXIST:
                raise
        self._ipr.tc("replace-filter", "bpf", ifindex, FILTER_HANDLE, fd=program.fd,
                     name=program.name, parent=hook.value, prio=FILTER_PREF, classid=1,
                     direct_action=True)

    def detach(self, ifname: str, hook: Hook) -> bool:
        """Remove bpftables' filter from ``hook`` of ``ifname``; False when there was none."""
        try:
            self._ipr.tc("del-filter", "bpf", self._ifindex(ifname), FILTER_HANDLE,
                         parent=hook.value, prio=FILTER_PREF)
        except NetlinkError as error:
            if error.code in (errno.ENOENT, errno.EINVAL):  # no clsact, or no such filter
                return False
            raise
        return True

    def remove_clsact(self, ifname: str) -> bool:
        """Delete the clsact qdisc of ``ifname`` with every filter on it; False when absent."""
        try:
            self._ipr.tc("del", "clsact", self._ifindex(ifname))
        except NetlinkError as error:
            if error.code in (errno.ENOENT, errno.EINVAL):
                return False
            raise
        return True

    def attach_xdp(self, program: Program, ifname: str) -> None:
        """Run ``program`` at XDP on ``ifname`` (native mode where the driver has it), in
        place of the one there before: the kernel swaps them atomically."""
        self._ipr.link("set", index=self._ifindex(ifname), xdp_fd=program.fd)

    def detach_xdp(self, ifname: str) -> None:
        self._ipr.link("set", index=self._ifindex(ifname), xdp_fd=-1)

    def xdp_attached(self) -> dict[str, int]:
        """Interface -> id of the XDP program it runs, for those that run one."""
        found = {}
        for link in self._ipr.get_links():
            xdp = link.get_attr("IFLA_XDP")
            prog_id = xdp.get_attr("IFLA_XDP_PROG_ID") if xdp is not None else None
            if prog_id:
                found[link.get_attr("IFLA_IFNAME")] = prog_id
        return found

    def attached(self) -> list[Attachment]:
        """Every bpf filter on the clsact hooks of the namespace's interfaces."""
        attachments = []
        for link in self._ipr.get_links():
            ifindex, ifname = link["index"], link.get_attr("IFLA_IFNAME")
            for hook in Hook:
                try:
                    filters = list(self._ipr.get_filters(index=ifindex, parent=hook.value))
                except NetlinkError as error:
                    if error.code in (errno.ENOENT, errno.EINVAL):  # no clsact here
                        continue
                    raise
                for message in filters:
                    options = _bpf_filter_options(message)
                    if message.get_attr("TCA_KIND") != "bpf" or _TCA_BPF_ID not in options:
                        continue
                    attachments.append(Attachment(
                        ifname, ifindex, hook,
                        struct.unpack("=I", options[_TCA_BPF_ID][:4])[0],
                        options.get(_TCA_BPF_NAME, b"").rstrip(b"\0").decode(),
                        message["info"] >> 16 == FILTER_PREF
                        and message["handle"] == FILTER_HANDLE))
        return attachments


def attach_tc(program: Program, ifname: str, hook: Hook, netns: str | None = None) -> None:
    """:meth:`TcHooks.attach` in a one-off session."""
    with TcHooks(netns) as hooks:
        hooks.attach(program, ifname, hook)


def detach_tc(ifname: str, hook: Hook, netns: str | None = None) -> bool:
    """:meth:`TcHooks.detach` in a one-off session."""
    with TcHooks(netns) as hooks:
        return hooks.detach(ifname, hook)


def remove_clsact(ifname: str, netns: str | None = None) -> bool:
    """:meth:`TcHooks.remove_clsact` in a one-off session."""
    with TcHooks(netns) as hooks:
        return hooks.remove_clsact(ifname)


def attached_tc(netns: str | None = None) -> list[Attachment]:
    """:meth:`TcHooks.attached` in a one-off session."""
    with TcHooks(netns) as hooks:
        return hooks.attached()


def _bpf_filter_options(message: object) -> dict[int, bytes]:
    """Raw attributes of a bpf filter's TCA_OPTIONS, by type (pyroute2 drops ID and TAG)."""
    options = message.get_attr("TCA_OPTIONS")  # type: ignore[attr-defined]
    if options is None:
        return {}
    raw = bytes(options.data[options.offset + 4:options.offset + options.length])
    found, at = {}, 0
    while at + 4 <= len(raw):
        length, kind = struct.unpack_from("=HH", raw, at)
        if length < 4:
            break
        found[kind & 0x3FFF] = raw[at + 4:at + length]
        at += (length + 3) & ~3
    return found
