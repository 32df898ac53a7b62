"""The bpf filesystem bpftables pins its programs and maps on, and one folder per namespace.

Where: ``ip netns exec`` gives each command a private mount namespace with a fresh /sys, so
/sys/fs/bpf is empty there and a bpffs mounted from inside dies with the command. bpftables
therefore uses its own bpffs at /run/bpftables/bpffs, mounted once in the host's mount
namespace: mounts there propagate into every ``ip netns exec`` (which makes / a slave of the
host), and the pins outlive any agent.

Which folder: one per network namespace, named after the namespace's cookie
(``SO_NETNS_COOKIE``, a 64-bit number the kernel never hands out twice until reboot). The
namespace's inode number would do too, but the kernel reuses inode numbers of deleted
namespaces, and a new namespace must not find (and trust) the pins of a dead one. bpffs lives
in memory, so nothing stale survives a reboot either.

This module imports neither bcc nor pyroute2; bpf/loader.py adds the namespace-by-name
variant (it needs a socket created inside that namespace).
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import subprocess
from pathlib import Path

log = logging.getLogger(__name__)

BPFFS_ROOT = Path("/run/bpftables/bpffs")
# getsockopt(SOL_SOCKET, SO_NETNS_COOKIE): Linux >= 5.14; not in Python's socket module.
SO_NETNS_COOKIE = 71
PIN_DIR_PREFIX = "net-"
_HOST_MOUNT_NS = Path("/proc/1/ns/mnt")


def is_bpffs(path: Path) -> bool:
    """Whether ``path`` is the mount point of a bpf filesystem in this mount namespace."""
    target = os.path.realpath(path)
    with open("/proc/self/mountinfo", encoding="utf-8") as mountinfo:
        for line in mountinfo:
            fields = line.split()
            # mount ID, parent ID, major:minor, root, mount point, options, [optional...] - type
            mount_point = fields[4].replace("\\040", " ")
            fstype = fields[fields.index("-") + 1]
            if mount_point == target and fstype == "bpf":
                return True
    return False


def _host_mount_namespace() -> Path | None:
    """/proc/1/ns/mnt when this process is in another mount namespace (inside ``ip netns
    exec``); None when it is the same one or cannot be told (pid 1 not readable)."""
    try:
        host = os.readlink(_HOST_MOUNT_NS)
    except OSError:
        return None
    return _HOST_MOUNT_NS if host != os.readlink("/proc/self/ns/mnt") else None


def ensure_bpffs(root: Path = BPFFS_ROOT) -> Path:
    """Mount a bpffs (mode 0700) at ``root`` unless one is there; return ``root``.

    Idempotent and safe against a concurrent caller (an flock beside the mount point). The
    mount is made in the host's mount namespace (via nsenter) when this process is in a
    private one and may enter the host's; otherwise in this process's mount namespace, which
    is the host's when called from the shim or a test, as it should be.
    """
    if is_bpffs(root):
        return root
    root.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    lock_path = root.parent / f".{root.name}.lock"
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_bpffs(root):
            return root
        root.mkdir(mode=0o700, exist_ok=True)
        argv = ["mount", "-t", "bpf", "-o", "mode=0700", "bpf", str(root)]
        host = _host_mount_namespace()
        if host is not None:
            argv = ["nsenter", f"--mount={host}", "--", *argv]
        log.info("mounting bpffs: %s", " ".join(argv))
        subprocess.run(argv, check=True, capture_output=True, timeout=30)
    if not is_bpffs(root):
        raise OSError(f"bpffs mounted at {root} is not visible in this mount namespace")
    return root


def current_netns_cookie() -> int:
    """The cookie of the network namespace this process is in."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        raw = sock.getsockopt(socket.SOL_SOCKET, SO_NETNS_COOKIE, 8)
    return int.from_bytes(raw, "little")


def pin_dir_for(cookie: int, root: Path = BPFFS_ROOT) -> Path:
    """The pin folder of the namespace with ``cookie``, created (0700) when missing."""
    if not is_bpffs(root):
        raise FileNotFoundError(f"no bpffs at {root}; call ensure_bpffs() first")
    path = root / f"{PIN_DIR_PREFIX}{cookie}"
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        pass
    else:
        # mkdir's mode is filtered by the umask; the folder must be root's alone.
        os.chmod(path, 0o700)
    return path


def remove_tree(path: Path) -> None:
    """Unpin ``path``, or everything under it, and remove the folders (bpffs has no recursive
    rmdir). Unpinning drops a reference only: what an attached filter still uses stays loaded."""
    if not path.exists():
        return
    if not path.is_dir():
        path.unlink()
        return
    for entry in path.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            remove_tree(entry)
        else:
            entry.unlink()
    path.rmdir()
