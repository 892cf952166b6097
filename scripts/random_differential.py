#!/usr/bin/env python
"""Wrapper: ``python -m torchbragg.parity.random_differential`` (see its docstring)."""
import sys

from torchbragg.parity.random_differential import main

if __name__ == "__main__":
    sys.exit(main())
