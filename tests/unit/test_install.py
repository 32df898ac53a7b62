"""Where bpftables-multi is put for callers: argv[0] dispatch, `bpftables shim-dir`, and
Debian's update-alternatives (in a private altdir/admindir, never the system's)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from shim.install import Alternatives, fill_shim_dir
from shim.multi import LINK_NAMES, resolve, restore_reads_stdin

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("argv", "program", "args"), [
    (["/usr/sbin/iptables", "-S"], "iptables", ["-S"]),
    (["iptables-legacy-save", "-t", "nat"], "iptables-save", ["-t", "nat"]),
    (["/x/bpftables-multi", "iptables-restore", "-n"], "iptables-restore", ["-n"]),
    (["xtables-legacy-multi", "iptables-legacy", "-L"], "iptables", ["-L"]),
    (["xtables-legacy-multi"], None, []),
    (["ip6tables", "-S"], None, ["-S"]),
])
def test_called_as(argv: list[str], program: str | None, args: list[str]) -> None:
    assert resolve(argv)[0] == program
    assert resolve(argv)[2] == args


@pytest.mark.parametrize(("argv", "reads"), [
    ([], True), (["-w", "5", "--noflush", "--counters"], True), (["-T", "nat"], True),
    (["rules.v4"], False), (["-n", "/etc/iptables/rules"], False), (["-w", "-W", "100000"], True),
])
def test_restore_reads_stdin_unless_given_a_file(argv: list[str], reads: bool) -> None:
    assert restore_reads_stdin(argv) is reads


def test_shim_dir_links_every_name(tmp_path: Path) -> None:
    target = tmp_path / "bpftables-multi"
    target.write_text("#!/bin/sh\n")
    made = fill_shim_dir(tmp_path / "bin", target)
    assert sorted(link.name for link in made) == sorted(LINK_NAMES)
    assert all(link.readlink() == target for link in made)
    fill_shim_dir(tmp_path / "bin", target)  # again: the links are replaced, no error
    (tmp_path / "bin" / "iptables").unlink()
    (tmp_path / "bin" / "iptables").write_text("not ours")
    with pytest.raises(FileExistsError):
        fill_shim_dir(tmp_path / "bin", target)


@pytest.mark.skipif(shutil.which("update-alternatives") is None, reason="needs dpkg")
def test_alternatives_install_and_remove(tmp_path: Path) -> None:
    target = tmp_path / "bpftables-multi"
    target.write_text("#!/bin/sh\n")
    links = tmp_path / "links"
    fill_shim_dir(links, target)
    alternatives = Alternatives(tmp_path / "sbin", tmp_path / "alt", tmp_path / "admin")
    for folder in ("sbin", "alt", "admin"):
        (tmp_path / folder).mkdir()
    alternatives.install(links)
    for name in ("iptables", "iptables-save", "iptables-restore"):
        assert (tmp_path / "sbin" / name).resolve() == target.resolve()
        assert (tmp_path / "alt" / name).readlink() == links / name
    shown = subprocess.run(["update-alternatives", "--altdir", str(tmp_path / "alt"),
                            "--admindir", str(tmp_path / "admin"), "--query", "iptables"],
                           capture_output=True, text=True, check=True).stdout
    assert f"Value: {links / 'iptables'}" in shown
    alternatives.remove(links)
    assert not (tmp_path / "sbin" / "iptables").exists()
