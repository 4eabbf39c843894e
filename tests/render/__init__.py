"""Tests of detaudit/render/."""
