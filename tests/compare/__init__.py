"""Tests of detaudit/compare/."""
