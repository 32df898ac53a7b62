"""The per-namespace agent: owns the rule set, runs the commands, enforces them in eBPF.

One agent per network namespace, listening on the abstract socket of shim.protocol (which is
per namespace by nature) and started by the first command that finds none. Each connection
carries one request, served in its own thread:

- only root may ask (the peer's credentials, SO_PEERCRED); others get iptables' own
  permission error;
- a command first takes the xtables lock like iptables-legacy does (the caller's lock file,
  ``-w``/``-W`` waiting, the same error when it is held), then the agent's state lock, so
  writers are serialised with each other and with real iptables on the machine;
- a command that changes the rule set is enforced (compile only when the Shape changed, else
  map writes), journaled, and only then visible to the next command; if the datapath cannot
  run it, nothing changes and the caller is told why.

Environment: BPFTABLES_DATAPATH=off runs without eBPF (the rule set and commands only: for
tests of command semantics); BPFTABLES_STATE_ROOT moves the state folders;
BPFTABLES_CT_MAX_ENTRIES compiles in another connection table size (tests of a full table).
In a namespace with hardware links (a machine's own, not a container's or a test's) the
datapath runs only with BPFTABLES_ENFORCE_HOST=1: taking a machine's NICs over is an explicit
step.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import struct
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bpf.bpffs import current_netns_cookie
from iptparse.grammar.restore import Restorer
from iptparse.model import Ruleset, Table
from iptparse.printer import table_save_lines
from shim.commands import Effect, Outcome, permission_denied, run
from shim.protocol import AGENT_SOCKET, MessageTooLarge, max_request, receive_message, send_message
from shim.state import STATE_ROOT, StateStore, state_folder
from shim.xtables_lock import XtablesLock

log = logging.getLogger("bpftables.agent")

_UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid
DEFAULT_LOCKFILE = "/run/xtables.lock"
# How long a caller has to send its whole request once connected (a client that connects and
# then stalls, or sends half a frame, must not hold a handler for ever);
# BPFTABLES_REQUEST_TIMEOUT overrides. Executing the request has no limit (-w waits).
REQUEST_TIMEOUT_S = 10.0
# A non-root caller only ever gets the permission error, which needs argv and the first
# table line of a restore: its request is not buffered beyond this.
MAX_UNPRIVILEGED_REQUEST = 1 << 20
# Connections served at once; more wait in the listen backlog until a handler is free.
MAX_HANDLERS = 64


def request_timeout() -> float:
    return float(os.environ.get("BPFTABLES_REQUEST_TIMEOUT", REQUEST_TIMEOUT_S))


class KernelIpsets:
    """The namespace's ipsets, asked of the kernel the first time a rule names one (iptables
    asks while parsing ``-m set``: a set that does not exist is a parameter problem)."""

    def __init__(self) -> None:
        self._names: frozenset[str] | None = None

    def __contains__(self, name: object) -> bool:
        if self._names is None:
            from pyroute2.ipset import IPSet

            try:
                with IPSet() as ipset:
                    self._names = frozenset(message.get_attr("IPSET_ATTR_SETNAME")
                                            for message in ipset.list())
            except Exception:  # no ip_set module: no set exists
                log.info("ipsets cannot be listed; taking none to exist", exc_info=True)
                self._names = frozenset()
        return name in self._names


@dataclass
class RequestHost:
    """One command's view of the agent (shim.commands.CommandHost)."""

    agent: Agent
    cwd: str
    lockfile: str
    lock: XtablesLock | None = None
    holds_state: bool = False
    waited: list[str] = field(default_factory=list)
    ipsets: KernelIpsets = field(default_factory=lambda: KernelIpsets())

    @property
    def ruleset(self) -> Ruleset:
        return self.agent.ruleset

    @property
    def restorer(self) -> Restorer:
        return self.agent.restorer

    def counted(self, table: str) -> Table:
        with self.agent.state_lock:
            return self.agent.counted(table)

    def take_lock(self, wait: float | None, interval: float | None) -> list[str]:
        if self.lock is None:
            self.lock = XtablesLock(self.lockfile)
            self.waited = self.lock.acquire(wait, interval)
            # never the other way round: a state-lock holder never waits for the xtables lock
            self.agent.state_lock.acquire()
            self.holds_state = True
        return self.waited

    def release_lock(self) -> None:
        """run() ends here; the agent keeps both locks until the new rule set is enforced
        and journaled, then calls :meth:`release`."""

    def release(self) -> None:
        if self.holds_state:
            self.agent.state_lock.release()
            self.holds_state = False
        if self.lock is not None:
            self.lock.release()


class ReplayHost:
    """Replaying the journal: no lock, no datapath, the rule set given."""

    def __init__(self, ruleset: Ruleset, cwd: str, restorer: Restorer | None = None) -> None:
        self.ruleset = ruleset
        self.cwd = cwd
        self.ipsets = KernelIpsets()
        self.restorer = restorer or Restorer()

    def counted(self, table: str) -> Table:
        return self.ruleset.table(table)

    def take_lock(self, wait: float | None, interval: float | None) -> list[str]:
        return []

    def release_lock(self) -> None:
        pass


def replay_record(ruleset: Ruleset, record: dict[str, Any],
                  restorer: Restorer | None = None) -> Ruleset:
    effect = run(record["program"], record["argv"], record.get("stdin", ""),
                 ReplayHost(ruleset, record.get("cwd", "/"), restorer))
    if effect.outcome.exit_code != 0 and effect.ruleset is None:
        log.warning("replaying %s %s failed: %s", record["program"], record["argv"],
                    effect.outcome.stderr.strip())
    return effect.ruleset if effect.ruleset is not None else ruleset


class Agent:
    def __init__(self, folder: Path, datapath: Any | None) -> None:
        self.folder = folder
        self.state_lock = threading.RLock()
        self.restorer = Restorer()  # its line cache makes kube-proxy's next restore cheap
        self.store = StateStore(folder)
        # the journal's restores share the agent's line cache: kube-proxy's syncs repeat lines
        self.ruleset = self.store.load(
            lambda ruleset, record: replay_record(ruleset, record, self.restorer))
        self.datapath = datapath  # shim.namespace.NamespaceDatapath, or None
        self.started = time.time()
        self.served = 0
        self.last_error: str | None = None
        self.stopping = threading.Event()
        self.listener: socket.socket | None = None  # main() hands it over; stop() closes it
        self.datapath_off_reason: str | None = None
        if self.datapath is not None:
            self.datapath.apply(self.ruleset)

    # --- the rule set ----------------------------------------------------------------------

    def counted(self, name: str) -> Table:
        table = self.ruleset.table(name)
        return self.datapath.counted(table) if self.datapath is not None else table

    def commit(self, request: dict[str, Any], effect: Effect) -> Outcome:
        """Enforce, journal and publish a command's new rule set (state lock held)."""
        new = effect.ruleset
        assert new is not None
        if self.datapath is not None:
            try:
                self.datapath.apply(new)
            except Exception as error:
                log.exception("the datapath refused the rule set")
                self.last_error = str(error)
                try:  # back to what runs (a half-applied Plan must not stay)
                    self.datapath.apply(self.ruleset)
                except Exception:
                    log.exception("re-applying the previous rule set failed")
                return Outcome("", f"{request['program']}: bpftables cannot enforce this rule "
                               f"set: {error}\n", 1)
            owners = self.restarted_owners(effect)
            if owners:
                self.datapath.zero_counters(owners)
            try:
                self.datapath.remove_stale_udp(self.ruleset, new)
            except Exception:  # the rules are enforced: stale flows only time out as before
                log.exception("removing UDP connections to DNAT destinations that went away")
        self.store.append({"program": request["program"], "argv": request["argv"],
                           "stdin": request.get("stdin") or "", "cwd": request.get("cwd") or "/"})
        self.ruleset = new
        return effect.outcome

    def restarted_owners(self, effect: Effect) -> list[tuple[str, str, int | None]]:
        """The counters (as the datapath names them) the command restarts at zero."""
        owners: list[tuple[str, str, int | None]] = []
        assert effect.ruleset is not None
        for scope in effect.restart:
            table = effect.ruleset.table(scope.table)
            chains = [scope.chain] if scope.chain is not None else list(table.chains)
            for name in chains:
                chain = table.chains.get(name)
                if chain is None:
                    continue
                if chain.builtin and scope.rule is None:
                    owners.append((table.name, name, None))
                if scope.policy_only:
                    continue
                if scope.rule is not None:
                    owners.append((table.name, name, scope.rule))
                else:
                    owners.extend((table.name, name, number)
                                  for number in range(1, len(chain.rules) + 1))
        return owners

    # --- requests --------------------------------------------------------------------------

    def handle(self, conn: socket.socket) -> None:
        with conn:
            try:
                _, uid, gid = _UCRED.unpack(conn.getsockopt(
                    socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size))
                conn.settimeout(request_timeout())
                try:
                    request = receive_message(
                        conn, max_request() if uid == 0 else MAX_UNPRIVILEGED_REQUEST)
                    conn.settimeout(None)
                except MessageTooLarge as error:
                    send_message(conn, {"stdout": "", "code": 1, "stderr":
                                        f"bpftables: request refused: too large ({error})\n"})
                    return
                if uid != 0:
                    problem = _malformed_run({"program": "iptables", "argv": [], **request})
                    if problem is not None:
                        send_message(conn, {"stdout": "", "code": 2, "stderr":
                                            f"bpftables: malformed request: {problem}\n"})
                        return
                    lockfile = request.get("lockfile") or DEFAULT_LOCKFILE
                    outcome = permission_denied(
                        request.get("program", "iptables"), list(request.get("argv", [])),
                        request.get("stdin") or "", lockfile, _may_open(lockfile, uid, gid))
                    send_message(conn, _reply(outcome))
                    return
                send_message(conn, self.serve(request))
            except (ConnectionError, ValueError, OSError) as error:
                log.warning("a request failed: %s", error)
            except Exception as error:  # a bug: the caller gets a message, the agent lives on
                log.exception("a request failed")
                try:
                    send_message(conn, {"stdout": "", "code": 1, "stderr":
                                        f"bpftables: internal error: {error!r}\n"})
                except OSError:
                    pass

    def serve(self, request: dict[str, Any]) -> dict[str, Any]:
        self.served += 1
        op = request.get("op")
        if op == "run":
            problem = _malformed_run(request)
            if problem is not None:
                return {"stdout": "", "stderr": f"bpftables: malformed request: {problem}\n",
                        "code": 2}
            return _reply(self.run_command(request))
        if op == "status":
            with self.state_lock:
                return {"status": self.status()}
        if op in ("import", "export"):
            try:
                return self.take_over() if op == "import" else self.hand_back()
            except Exception as error:  # nothing half-done is published: see the methods
                log.exception("%s failed", op)
                return {"error": str(error)}
        if op == "stop":
            self.stop(bool(request.get("forget")))
            return {"stopped": True}
        return {"stdout": "", "stderr": f"bpftables: unknown request {op!r}\n", "code": 2}

    def run_command(self, request: dict[str, Any]) -> Outcome:
        host = RequestHost(self, request.get("cwd") or "/",
                           request.get("lockfile") or DEFAULT_LOCKFILE)
        try:
            effect = run(request["program"], list(request["argv"]), request.get("stdin") or "",
                         host)
            if effect.ruleset is None:
                return effect.outcome
            with self.state_lock:
                return self.commit(request, effect)
        finally:
            host.release()

    def take_over(self) -> dict[str, Any]:
        """``bpftables import`` (shim.takeover): the kernel's legacy tables, counters and
        connections become bpftables', then the kernel's tables are emptied."""
        from shim import takeover

        lock = XtablesLock(DEFAULT_LOCKFILE)
        lock.acquire(None, None)  # no iptables-legacy writer between reading and emptying
        try:
            with self.state_lock:
                text = takeover.kernel_save()
                tables = takeover.saved_tables(text)
                effect = run("iptables-restore", ["--counters"], text,
                             ReplayHost(self.ruleset, "/", self.restorer))
                if effect.outcome.exit_code != 0 or effect.ruleset is None:
                    raise RuntimeError(f"the kernel's rules do not load: "
                                       f"{effect.outcome.stderr.strip()}")
                connections = takeover.kernel_connections()
                seeded = 0
                if self.datapath is not None and connections:
                    seeded = self.datapath.enforcer.add_connections(connections)
                outcome = self.commit({"program": "iptables-restore", "argv": ["--counters"],
                                       "stdin": text, "cwd": "/"}, effect)
                if outcome.exit_code != 0:
                    raise RuntimeError(outcome.stderr.strip())
                takeover.kernel_restore(takeover.empty_tables_text(tables))
        finally:
            lock.release()
        return {"tables": tables, "rules": sum(
            len(chain.rules) for name in tables
            for chain in self.ruleset.table(name).chains.values()), "connections": seeded}

    def hand_back(self) -> dict[str, Any]:
        """``bpftables export``: the rule set and its counters into the kernel's legacy
        tables; then this agent stops and forgets (programs off the links, pins and state
        removed)."""
        from shim import takeover

        lock = XtablesLock(DEFAULT_LOCKFILE)
        lock.acquire(None, None)
        try:
            with self.state_lock:
                tables = list(self.ruleset.tables)
                text = "".join(
                    line + "\n" for name in tables
                    for line in table_save_lines(self.counted(name), counters=True))
                takeover.kernel_restore(text, "--counters")
                # the programs come off the links (they would route around the kernel's
                # rules), pins and state go: this agent's work is done
                self.stop(forget=True)
        finally:
            lock.release()
        return {"tables": tables, "stopped": True}

    def status(self) -> dict[str, Any]:
        tables = {name: {"chains": len(table.chains),
                         "rules": sum(len(chain.rules) for chain in table.chains.values())}
                  for name, table in self.ruleset.tables.items()}
        return {
            "pid": os.getpid(), "uptime_s": round(time.time() - self.started, 1),
            "state_dir": str(self.folder), "requests": self.served,
            "journal_seq": self.store.seq, "snapshot_seq": self.store.snapshot_seq,
            "tables": tables, "last_error": self.last_error,
            "datapath": self.datapath.status() if self.datapath is not None else None,
            "datapath_off": self.datapath_off_reason,
        }

    def stop(self, forget: bool) -> None:
        # first: once the stop is answered, the next command must find no agent here and
        # start a new one, not reach this one on its way out
        self.stop_listening()
        with self.state_lock:
            if forget:
                if self.datapath is not None:
                    self.datapath.forget()
                for path in self.folder.iterdir():
                    path.unlink()
                self.folder.rmdir()
            else:
                self.store.flush(self.ruleset)
            self.stopping.set()


    def stop_listening(self) -> None:
        listener, self.listener = self.listener, None
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
            except OSError:
                pass
            listener.close()


def _may_open(path: str, uid: int, gid: int) -> bool:
    """Whether a caller (uid, gid) could open the lock file for reading, as iptables does
    (O_CREAT: a missing file would have to be created in a folder only root may write)."""
    try:
        status = os.stat(path)
    except OSError:
        return False
    if status.st_uid == uid:
        return bool(status.st_mode & 0o400)
    if status.st_gid == gid:
        return bool(status.st_mode & 0o040)
    return bool(status.st_mode & 0o004)


def _malformed_run(request: dict[str, Any]) -> str | None:
    """What is wrong with a ``run`` request's fields (None: nothing); the commands send them
    right, anyone else connecting to the socket may not."""
    argv = request.get("argv")
    if not isinstance(request.get("program"), str):
        return "program must be a string"
    if not isinstance(argv, list) or not all(isinstance(word, str) for word in argv):
        return "argv must be a list of strings"
    for key in ("stdin", "cwd", "lockfile"):
        if request.get(key) is not None and not isinstance(request[key], str):
            return f"{key} must be a string"
    return None


def _reply(outcome: Outcome) -> dict[str, Any]:
    return {"stdout": outcome.stdout, "stderr": outcome.stderr, "code": outcome.exit_code}


# environment variable -> the datapath limit (bpf/include/consts.h) it overrides
LIMIT_VARIABLES = {"BPFTABLES_CT_MAX_ENTRIES": "CT_MAX_ENTRIES"}


def datapath_limits(environ: Mapping[str, str]) -> dict[str, int]:
    """The datapath limits the environment overrides (positive integers; others ignored)."""
    limits = {}
    for variable, define in LIMIT_VARIABLES.items():
        value = environ.get(variable, "")
        if value.isdigit() and int(value) > 0:
            limits[define] = int(value)
        elif value:
            log.warning("%s=%r is not a positive integer: ignored", variable, value)
    return limits


def bind_socket() -> socket.socket | None:
    """The agent's listening socket; None when another agent already has it."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(AGENT_SOCKET)
    except OSError:
        sock.close()
        return None
    sock.listen(128)
    return sock


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bpftables-agent", description=__doc__)
    parser.add_argument("--foreground", action="store_true", help="log to stderr")
    args = parser.parse_args(argv)
    os.umask(0o077)
    listener = bind_socket()  # first: commands queue on it while we load
    if listener is None:
        return 0
    folder = state_folder(current_netns_cookie(),
                          Path(os.environ.get("BPFTABLES_STATE_ROOT", STATE_ROOT)))
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        **({"stream": sys.stderr} if args.foreground else {"filename": folder / "agent.log"}))
    datapath = None
    off_reason = "BPFTABLES_DATAPATH=off"
    if os.environ.get("BPFTABLES_DATAPATH", "on") != "off":
        from pyroute2 import IPRoute

        from shim.namespace import NamespaceDatapath, hardware_links

        with IPRoute() as ipr:
            nics = hardware_links(ipr)
        if nics and os.environ.get("BPFTABLES_ENFORCE_HOST") != "1":
            # a machine's own namespace: taking its NICs over is the operator's decision
            off_reason = (f"hardware links ({', '.join(nics)}): set BPFTABLES_ENFORCE_HOST=1 "
                          "to enforce here")
            log.warning("links %s are hardware: running without the datapath (set "
                        "BPFTABLES_ENFORCE_HOST=1 to enforce here)", ", ".join(nics))
        else:
            datapath = NamespaceDatapath(datapath_limits(os.environ))
    agent = Agent(folder, datapath)
    agent.listener = listener
    agent.datapath_off_reason = off_reason if datapath is None else None
    log.info("agent %d serving in %s (datapath %s)", os.getpid(), folder,
             "on" if datapath is not None else "off")
    agent.store.snapshot_loop(lambda: (agent.ruleset, agent.store.seq), agent.state_lock)
    if datapath is not None:
        datapath.watch_links(agent.state_lock, lambda error: log.error("links: %s", error))

    handlers = threading.BoundedSemaphore(MAX_HANDLERS)

    def handle(conn: socket.socket) -> None:
        try:
            agent.handle(conn)
        finally:
            handlers.release()

    def accept() -> None:
        while True:
            handlers.acquire()  # at the limit, callers wait in the listen backlog
            try:
                conn, _ = listener.accept()
            except OSError as error:  # out of descriptors: wait, never stop serving
                handlers.release()
                if agent.listener is None:  # stopped
                    return
                log.warning("accept failed: %s", error)
                time.sleep(0.1)
                continue
            try:
                threading.Thread(target=handle, args=(conn,), daemon=True).start()
            except RuntimeError as error:  # no thread to be had: this caller is told so
                handlers.release()
                log.warning("cannot serve a connection: %s", error)
                conn.close()

    threading.Thread(target=accept, name="accept", daemon=True).start()
    agent.stopping.wait()
    log.info("agent %d stopping", os.getpid())
    time.sleep(0.05)  # let the stop request's reply leave
    return 0


if __name__ == "__main__":
    sys.exit(main())
