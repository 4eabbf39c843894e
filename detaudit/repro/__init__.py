"""Reproducibility: seeding, deterministic(), bitwise first difference, env report, pytest plugin."""
