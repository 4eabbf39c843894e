"""Tests of detaudit/cli/."""
