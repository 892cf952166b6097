"""Benchmarks: torchbragg against the C reference on the workloads W1–W4 (issue 7)."""
