"""The scanner: dispatch mode, signatures, matching, static linter, program runner."""
