"""Tests of detaudit record, compare and twice."""
