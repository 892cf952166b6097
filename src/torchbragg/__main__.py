"""``python -m torchbragg``: the nanoBragg-compatible command line."""
from torchbragg.cli.main import entry

entry()
