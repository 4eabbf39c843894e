"""Tests of detaudit/model/."""
