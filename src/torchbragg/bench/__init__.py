"""Benchmarks: torchbragg against the C reference on the workloads W1–W5 (issues 7, 16)."""
