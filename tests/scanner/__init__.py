"""Tests of detaudit/scanner/."""
