"""BPF_PROG_TEST_RUN from Python: run a loaded program on packet bytes.

bcc 0.26 has no wrapper, so this calls the bpf(2) syscall (command 10) through ctypes with the
``test`` member of ``union bpf_attr``. For tc (sched_cls) programs the data is a whole
Ethernet frame; the kernel builds an skb around it (no real ingress device, no FIB).
"""

from __future__ import annotations

import ctypes
import os
import platform
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

BPF_PROG_TEST_RUN = 10
# bpf(2)'s syscall number per architecture.
_SYS_BPF: Mapping[str, int] = MappingProxyType({
    "x86_64": 321, "aarch64": 280, "armv7l": 386, "riscv64": 280, "s390x": 351, "ppc64le": 361})
# Room for what a program may add to the packet (encapsulation, options).
OUT_HEADROOM = 256


class _RunAttr(ctypes.Structure):
    """The ``test`` member of ``union bpf_attr`` (linux/bpf.h)."""

    _fields_ = [("prog_fd", ctypes.c_uint32), ("retval", ctypes.c_uint32),
                ("data_size_in", ctypes.c_uint32), ("data_size_out", ctypes.c_uint32),
                ("data_in", ctypes.c_uint64), ("data_out", ctypes.c_uint64),
                ("repeat", ctypes.c_uint32), ("duration", ctypes.c_uint32),
                ("ctx_size_in", ctypes.c_uint32), ("ctx_size_out", ctypes.c_uint32),
                ("ctx_in", ctypes.c_uint64), ("ctx_out", ctypes.c_uint64),
                ("flags", ctypes.c_uint32), ("cpu", ctypes.c_uint32),
                ("batch_size", ctypes.c_uint32), ("pad", ctypes.c_uint32)]


@dataclass(frozen=True, slots=True)
class RunResult:
    """The program's return value, the packet as it left, and the kernel's mean duration of
    one run in nanoseconds (over ``repeat`` runs)."""

    retval: int
    data: bytes
    duration_ns: int


class ProgRunError(OSError):
    """The bpf syscall refused the test run."""


def _syscall_number() -> int:
    machine = platform.machine()
    if machine not in _SYS_BPF:
        raise ProgRunError(f"bpf syscall number unknown for {machine}")
    return _SYS_BPF[machine]


def run_program(prog_fd: int, data: bytes, repeat: int = 1, ctx: bytes | None = None) -> RunResult:
    """Run the program ``prog_fd`` on ``data`` ``repeat`` times (state in maps carries over
    from one run to the next); the result is the last run's."""
    libc = ctypes.CDLL(None, use_errno=True)
    data_in = ctypes.create_string_buffer(data, len(data))
    data_out = ctypes.create_string_buffer(len(data) + OUT_HEADROOM)
    attr = _RunAttr(prog_fd=prog_fd, data_size_in=len(data), data_size_out=len(data_out),
                     data_in=ctypes.addressof(data_in), data_out=ctypes.addressof(data_out),
                     repeat=repeat)
    ctx_in = None
    if ctx is not None:
        ctx_in = ctypes.create_string_buffer(ctx, len(ctx))
        attr.ctx_in = ctypes.addressof(ctx_in)
        attr.ctx_size_in = len(ctx)
    libc.syscall.restype = ctypes.c_long
    result = libc.syscall(ctypes.c_long(_syscall_number()), ctypes.c_int(BPF_PROG_TEST_RUN),
                          ctypes.byref(attr), ctypes.c_uint(ctypes.sizeof(attr)))
    if result < 0:
        errno = ctypes.get_errno()
        raise ProgRunError(errno, f"BPF_PROG_TEST_RUN: {os.strerror(errno)}")
    return RunResult(attr.retval, data_out.raw[:attr.data_size_out], attr.duration)
