"""BPF_PROG_TEST_RUN cost per packet of the datapath harness (a report, not a test).

    sudo .venv/bin/python -m tests.datapath.measure [--repeat 100000] [--rounds 5]

BPF_PROG_TEST_RUN's repeats run on the previous run's output, so a NATing program would see
its own translated packet from the second run on. The harness's HCFG_UNDO flag rewrites the
packet back at the end: the NAT figures with "+undo" include that second rewrite (as large as
the first). The "single runs" column is the median of --singles runs with repeat=1 and no
undo (the kernel's timer around one run: coarser, but the real path).
"""

from __future__ import annotations

import argparse
import statistics

from bpf import structs
from tests.datapath.harness import Harness, NatRule
from tests.netns.packets import wire
from translator.model.packet import IPPROTO_TCP, TCP_ACK, TCP_SYN, Packet, address

NAT_RULES = [NatRule("DNAT", "198.18.5.5/32", "198.18.1.2", "tcp", 80, to_ports=(8080, 8080)),
             NatRule("MASQUERADE", "198.18.0.0/24", "198.18.1.1")]
CLIENT, SERVICE, SERVER, NODE = (address("198.18.0.2"), address("198.18.5.5"),
                                 address("198.18.1.2"), address("198.18.1.1"))


def _tcp(src: int, sport: int, dst: int, dport: int, flags: int) -> bytes:
    return wire(Packet(src, dst, IPPROTO_TCP, sport, dport, tcp_flags=flags))


class Bench:
    def __init__(self, harness: Harness, repeat: int, rounds: int, singles: int) -> None:
        self.harness, self.repeat, self.rounds, self.singles = harness, repeat, rounds, singles

    def repeated(self, frame: bytes, prog_fd: int | None = None) -> float:
        return statistics.median(
            self.harness.run(frame, repeat=self.repeat, prog_fd=prog_fd).duration_ns
            for _ in range(self.rounds))

    def single(self, frame: bytes, prepare: object = None) -> float:
        times = []
        for _ in range(self.singles):
            if callable(prepare):
                prepare()
            times.append(self.harness.run(frame).duration_ns)
        return statistics.median(times)


def _handshake(harness: Harness, rules: list[NatRule], flags: int) -> None:
    harness.reset()
    harness.configure(rules, flags)
    reply_dst = NODE if rules else CLIENT
    harness.run(_tcp(CLIENT, 40000, SERVICE if rules else SERVER, 80, TCP_SYN))
    harness.run(_tcp(SERVER, 8080 if rules else 80, reply_dst, 40000, TCP_SYN | TCP_ACK))
    harness.run(_tcp(CLIENT, 40000, SERVICE if rules else SERVER, 80, TCP_ACK))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--singles", type=int, default=2000)
    args = parser.parse_args()
    harness = Harness()
    bench = Bench(harness, args.repeat, args.rounds, args.singles)
    rows: list[tuple[str, float, float | None]] = []
    syn_service = _tcp(CLIENT, 40000, SERVICE, 80, TCP_SYN)
    ack_service = _tcp(CLIENT, 40000, SERVICE, 80, TCP_ACK)
    ack_reply = _tcp(SERVER, 8080, NODE, 40000, TCP_ACK)

    harness.reset()
    rows.append(("empty tc program", bench.repeated(syn_service, harness.empty_fd),
                 statistics.median(harness.run(syn_service, prog_fd=harness.empty_fd).duration_ns
                                   for _ in range(args.singles))))

    _handshake(harness, [], structs.HCFG_UNDO)
    plain_original = _tcp(CLIENT, 40000, SERVER, 80, TCP_ACK)
    plain_reply = _tcp(SERVER, 80, CLIENT, 40000, TCP_ACK)
    rows.append(("established, no NAT, original (1 lookup)", bench.repeated(plain_original),
                 bench.single(plain_original)))
    rows.append(("established, no NAT, reply (2 lookups)", bench.repeated(plain_reply),
                 bench.single(plain_reply)))

    _handshake(harness, NAT_RULES, structs.HCFG_UNDO)
    original_nat = bench.repeated(ack_service)
    reply_nat = bench.repeated(ack_reply)
    harness.configure(NAT_RULES)
    rows.append(("established, DNAT+MASQ, original +undo", original_nat,
                 bench.single(ack_service)))
    rows.append(("established, DNAT+MASQ, reply +undo", reply_nat, bench.single(ack_reply)))

    harness.reset()
    harness.configure(NAT_RULES, structs.HCFG_NO_CONFIRM | structs.HCFG_UNDO)
    no_insert = bench.repeated(syn_service)
    harness.configure(NAT_RULES, structs.HCFG_NO_CONFIRM)
    rows.append(("new flow, DNAT+MASQ, no insert +undo", no_insert, bench.single(syn_service)))
    harness.configure(NAT_RULES, structs.HCFG_FORGET | structs.HCFG_UNDO)
    forget = bench.repeated(syn_service)
    harness.configure(NAT_RULES)
    rows.append(("new flow, DNAT+MASQ, 2 inserts (+2 deletes +undo)", forget,
                 bench.single(syn_service, prepare=harness.clear_connections)))
    harness.reset()

    print(f"{'path':52s} {'repeat':>9s} {'single runs':>12s}   (ns/packet)")
    for name, repeated, single in rows:
        single_text = f"{single:12.0f}" if single is not None else f"{'':12s}"
        print(f"{name:52s} {repeated:9.1f} {single_text}")
    print(f"repeat={args.repeat} (median of {args.rounds} rounds); single runs: median of "
          f"{args.singles} runs with repeat=1")


if __name__ == "__main__":
    main()
