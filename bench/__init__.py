"""Benchmarks and test helpers that never run on the vehicle (``edge bench``, the local test broker).

Kept out of ``edge/`` so the daemon's package holds only what runs on the vehicle and never imports ``sim/``.
"""
