"""The nanoBragg-compatible command line: argv scanning, file loading, report, outputs."""
