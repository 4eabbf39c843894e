"""The vocabulary and the report: statuses, results, the report schema and its files."""
