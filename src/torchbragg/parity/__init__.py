"""Parity harness: compare torchbragg with a nanoBragg-compatible C program (docs/parity.md).

Modules: ``tracefmt`` (parse and normalise traces), ``compare_traces``, ``compare_images``,
``previews`` (PNG), ``report`` (markdown), ``bundle`` (report folder, env.json, sha256),
``presets``, ``sides`` (running the two programs), ``run`` (the ``run``/``trace`` commands),
``cli`` (``torchbragg-parity``).
"""
