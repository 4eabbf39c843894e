"""Tests of detaudit/docs/."""
