"""``-m nfacct --nfacct-name NAME``: count packets in an nfacct accounting object.

Facts read off iptables-legacy 1.8.9: the name is cut to 31 bytes; an empty name is refused
by the parser; save and -L print it after two spaces, quoted like other strings
(``--nfacct-name  "a b"``).

The kernel refuses a rule naming an nfacct object that does not exist (``nfacct add NAME``
first), with ENOENT ("No chain/target/match by that name."). bpftables cannot see the kernel's
nfacct objects when it parses, so it accepts any name.
"""

from __future__ import annotations

from typing import Any

from iptparse.errors import ParameterProblem
from iptparse.extensions.base import MatchExtension, Opt, OptionCall, RuleInProgress, save_string
from iptparse.model import frozen_value

NFACCT_NAME_MAX = 32  # NUL included


@frozen_value
class NfacctOptions:
    name: str


class NfacctMatch(MatchExtension):
    name = "nfacct"
    options = (Opt("nfacct-name", mandatory=True),)

    def convert(self, opt: Opt, value: str | None, call: OptionCall) -> Any:
        assert value is not None
        if not value:
            raise ParameterProblem("Argument must have a minimum length of 1 characters\n")
        return value.encode()[: NFACCT_NAME_MAX - 1].decode(errors="ignore")

    def build(self, state: dict[str, Any], rule: RuleInProgress) -> NfacctOptions:
        return NfacctOptions(state["nfacct-name"][0])

    def save(self, options: NfacctOptions) -> str:
        return " --nfacct-name " + save_string(options.name)

    def listing(self, options: NfacctOptions, numeric: bool) -> str:
        return " nfacct-name " + save_string(options.name)


EXTENSIONS = (NfacctMatch(),)
