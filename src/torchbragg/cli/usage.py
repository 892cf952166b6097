"""The usage text printed when required inputs are missing (docs/behaviour/cli.md §7), and the help
and version requests (``-h``/``--help``/``--version``, exit 0)."""
from __future__ import annotations

from typing import Optional, Sequence


def usage_text(adc: float = 40.0, beamsize_mm: float = 0.1, exposure: float = 1.0) -> str:
    """nanoBragg's usage text: the ``help`` rows of the flags, in their ``usage`` order.

    (The flag table is imported here, not at the top: the console script imports this module
    before its signal handlers are in place, when numpy and torch must not load yet.)"""
    from torchbragg.cli.flags import FLAGS

    lines = ["usage: nanoBragg -mat auto.mat -hkl Fs.hkl", "options:"]
    for flag in sorted((f for f in FLAGS if f.usage), key=lambda f: f.usage):
        for shown, text in flag.usage_rows:
            lines.append("\t%-16s\t%s" % (shown, text.format(adc=adc, beamsize_mm=beamsize_mm,
                                                              exposure=exposure)))
    return "\n".join(lines) + "\n"


def extensions_line() -> str:
    """The torchbragg flags in one line, printed on stderr after a usage error (stdout stays
    the C's) and after the usage text of ``--help``."""
    from torchbragg.cli.flags import FLAGS

    return "torchbragg extensions: " + " ".join(f.synopsis for f in FLAGS if f.extension)


#: exact tokens that ask for the usage text (stdout, exit 0) or the version; the C has no such
#: flags (it ignores them and, lacking inputs, prints its usage and exits 9), and no substring
#: of them is a nanoBragg flag, so only these exact tokens are taken (``-hkl`` is not ``-h``)
HELP_TOKENS = ("-h", "--help")
VERSION_TOKEN = "--version"


def contact_request(argv: Sequence[str]) -> Optional[str]:
    """``"help"`` or ``"version"`` for the first such exact token anywhere in ``argv``, else
    None.  It wins over everything else on the line (values, missing inputs, profiles)."""
    for token in argv:
        if token in HELP_TOKENS:
            return "help"
        if token == VERSION_TOKEN:
            return "version"
    return None


def help_text(prog: str = "torchbragg") -> str:
    """What ``-h``/``--help`` print: the C's usage text, then the extensions and these flags."""
    from torchbragg.cli.flags import FLAGS

    rows = "".join("\t%-16s\t%s\n" % row for f in FLAGS if f.extension for row in f.usage_rows)
    return (usage_text() + "\n" + extensions_line() + "\n" + rows
            + f"{prog} -h|--help: this text;  {prog} --version: the version (both exit 0)\n"
            f"{prog} --batch FILE: each line of FILE as one {prog} command line, in one "
            f"process;  {prog} --prepare ARGS: build the compiled kernels ARGS would use\n")


def version_text(prog: str = "torchbragg") -> str:
    from torchbragg._version import __version__

    return f"{prog} {__version__}\n"
