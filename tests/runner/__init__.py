"""Tests of detaudit/runner/."""
