"""Tests of detaudit/catalog/."""
