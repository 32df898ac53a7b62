"""A small CNI runtime: a network configuration list run plugin by plugin the way libcni does
(``AddNetworkList``, ``CheckNetworkList``, ``DelNetworkList``), with the plugins started inside a
"node" network namespace so that whatever ``iptables`` comes first in their PATH acts on the node.

The protocol, as containernetworking/cni's libcni speaks it (spec 1.0.0):

- each plugin gets the list's ``name`` and ``cniVersion`` injected into its own object, the
  previous plugin's result as ``prevResult`` (ADD) or the cached result of the whole ADD (CHECK,
  DEL), and a ``runtimeConfig`` holding the runtime's capability arguments it declared in
  ``capabilities``;
- the environment says what to do: CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME,
  CNI_PATH (where the plugins and the IPAM plugins they call are);
- ADD runs the plugins in order, CHECK in order, DEL in reverse order;
- a plugin that fails exits non-zero with a JSON error object on stdout.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PLUGIN_DIR = "/usr/lib/cni"

log = logging.getLogger(__name__)


class CniError(Exception):
    """A plugin failed: its exit code and the error it printed."""

    def __init__(self, plugin: str, command: str, code: int, out: str, err: str) -> None:
        super().__init__(f"{plugin} {command} exited {code}: {out.strip() or err.strip()}")
        self.plugin = plugin
        self.command = command
        self.code = code
        self.out = out
        self.err = err


@dataclass(frozen=True)
class Attachment:
    """One container's interface on one network (what libcni calls RuntimeConf)."""

    container_id: str
    netns_path: str
    ifname: str = "eth0"
    capability_args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CniRuntime:
    """Runs plugins from ``plugin_dir`` inside ``node_netns`` (a name under /var/run/netns),
    with ``path_first`` ahead of the usual PATH (where the plugins find ``iptables``) and
    ``env`` added to the plugins' otherwise clean environment."""

    node_netns: str
    path_first: tuple[str, ...] = ()
    plugin_dir: str = PLUGIN_DIR
    env: dict[str, str] = field(default_factory=dict)
    timeout: float = 120

    def _environment(self) -> dict[str, str]:
        path = ":".join((*self.path_first, "/usr/local/sbin", "/usr/local/bin", "/usr/sbin",
                         "/usr/bin", "/sbin", "/bin"))
        # a clean environment, as a container runtime gives its plugins
        return {**self.env, "PATH": path}

    def run(self, argv: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """A program found the way the plugins find theirs (``iptables-save``, say), in the
        node namespace with the plugins' PATH and environment."""
        return subprocess.run(["ip", "netns", "exec", self.node_netns, *argv], input=stdin,
                              capture_output=True, text=True, timeout=self.timeout,
                              env=self._environment(), check=False)

    def invoke(self, command: str, plugin: dict[str, Any], attachment: Attachment) -> str:
        """Run one plugin with its full configuration on stdin; its stdout when it succeeds."""
        plugin_type = plugin["type"]
        start = time.monotonic()
        done = subprocess.run(
            ["ip", "netns", "exec", self.node_netns, os.path.join(self.plugin_dir, plugin_type)],
            input=json.dumps(plugin), capture_output=True, text=True, timeout=self.timeout,
            env={**self._environment(), "CNI_COMMAND": command,
                 "CNI_CONTAINERID": attachment.container_id, "CNI_NETNS": attachment.netns_path,
                 "CNI_IFNAME": attachment.ifname, "CNI_PATH": self.plugin_dir},
            check=False)
        log.info("%s %s in %s: exit %d after %.1f s", plugin_type, command, self.node_netns,
                 done.returncode, time.monotonic() - start)
        if done.returncode != 0:
            raise CniError(plugin_type, command, done.returncode, done.stdout, done.stderr)
        return done.stdout

    def add(self, conflist: dict[str, Any], attachment: Attachment) -> dict[str, Any]:
        """ADD through every plugin in order; the last plugin's result (libcni caches it)."""
        result: dict[str, Any] | None = None
        for plugin in conflist["plugins"]:
            out = self.invoke("ADD", plugin_config(conflist, plugin, result, attachment),
                              attachment)
            result = json.loads(out)
        assert result is not None, "a network configuration list has at least one plugin"
        return result

    def check(self, conflist: dict[str, Any], attachment: Attachment,
              result: dict[str, Any]) -> None:
        """CHECK through every plugin in order, each given the cached result of the ADD."""
        for plugin in conflist["plugins"]:
            self.invoke("CHECK", plugin_config(conflist, plugin, result, attachment), attachment)

    def delete(self, conflist: dict[str, Any], attachment: Attachment,
               result: dict[str, Any] | None) -> None:
        """DEL through every plugin in reverse order, each given the cached result of the ADD."""
        for plugin in reversed(conflist["plugins"]):
            self.invoke("DEL", plugin_config(conflist, plugin, result, attachment), attachment)


def legacy_path_dir(folder: Path) -> Path:
    """``folder`` holding iptables, iptables-save, iptables-restore (and the ip6tables ones)
    as links to iptables 1.8.9 legacy: a node whose rules are the kernel's own."""
    folder.mkdir(parents=True, exist_ok=True)
    for family in ("iptables", "ip6tables"):
        for suffix in ("", "-save", "-restore"):
            (folder / f"{family}{suffix}").symlink_to(f"/usr/sbin/{family}-legacy{suffix}")
    return folder


def plugin_config(conflist: dict[str, Any], plugin: dict[str, Any],
                  prev_result: dict[str, Any] | None, attachment: Attachment) -> dict[str, Any]:
    """One plugin's stdin as libcni's buildOneConfig and injectRuntimeConfig make it."""
    config = {**plugin, "name": conflist["name"], "cniVersion": conflist["cniVersion"]}
    if prev_result is not None:
        config["prevResult"] = prev_result
    runtime = {name: attachment.capability_args[name]
               for name, wanted in plugin.get("capabilities", {}).items()
               if wanted and name in attachment.capability_args}
    if runtime:
        config["runtimeConfig"] = runtime
    return config
