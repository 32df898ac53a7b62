"""Putting ``bpftables-multi`` where callers look for iptables: a folder of links for PATH, or
Debian's alternatives system."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from shim.multi import LINK_NAMES

log = logging.getLogger(__name__)

# Debian's iptables package registers /usr/sbin/iptables (master) with iptables-restore and
# iptables-save as its slaves; priorities there are 10 (legacy) and 20 (nft).
ALTERNATIVE_PRIORITY = 5
ALTERNATIVE_SLAVES = ("iptables-restore", "iptables-save")


def multi_path() -> Path:
    """The ``bpftables-multi`` program next to the running interpreter (the venv's bin)."""
    found = Path(sys.executable).parent / "bpftables-multi"
    if found.exists():
        return found
    which = shutil.which("bpftables-multi")
    if which is None:
        raise FileNotFoundError("bpftables-multi is not installed")
    return Path(which)


def fill_shim_dir(folder: Path, target: Path | None = None) -> list[Path]:
    """Links named iptables, iptables-save, ... to bpftables-multi in ``folder`` (replacing
    links of those names; other files are left alone and reported)."""
    target = target or multi_path()
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for name in LINK_NAMES:
        link = folder / name
        if link.is_symlink():
            link.unlink()
        elif link.exists():
            raise FileExistsError(f"{link} exists and is not a link; not replacing it")
        link.symlink_to(target)
        made.append(link)
    return made


@dataclass(frozen=True)
class Alternatives:
    """Where update-alternatives works (its defaults are the system's; tests pass others)."""

    link_dir: Path = Path("/usr/sbin")
    altdir: Path | None = None
    admindir: Path | None = None

    def _argv(self, *args: str) -> list[str]:
        argv = ["update-alternatives", "--quiet"]
        if self.altdir is not None:
            argv += ["--altdir", str(self.altdir)]
        if self.admindir is not None:
            argv += ["--admindir", str(self.admindir)]
        return argv + list(args)

    def install(self, links: Path) -> None:
        """Register bpftables as an ``iptables`` alternative. ``links``: a folder made by
        fill_shim_dir (alternatives need a path per name, for argv[0] to say which command)."""
        argv = ["--install", str(self.link_dir / "iptables"), "iptables",
                str(links / "iptables"), str(ALTERNATIVE_PRIORITY)]
        for slave in ALTERNATIVE_SLAVES:
            argv += ["--slave", str(self.link_dir / slave), slave, str(links / slave)]
        subprocess.run(self._argv(*argv), check=True)
        # registered at a low priority: selecting it is the operator's explicit step
        subprocess.run(self._argv("--set", "iptables", str(links / "iptables")), check=True)

    def remove(self, links: Path) -> None:
        subprocess.run(self._argv("--remove", "iptables", str(links / "iptables")), check=True)


def default_links_dir() -> Path:
    return Path(os.environ.get("BPFTABLES_LINKS", "/usr/local/lib/bpftables/bin"))
