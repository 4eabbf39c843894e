"""Comparing loaded reports: the diff of two and the fleet table of many (never imports torch)."""
