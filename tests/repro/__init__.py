"""Tests of detaudit/repro/."""
