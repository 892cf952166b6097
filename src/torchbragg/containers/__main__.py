"""``python -m torchbragg.containers``."""
from __future__ import annotations

import sys

from torchbragg.containers.cli import main

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
