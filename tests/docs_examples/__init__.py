"""The documentation's examples, executed: README.md and docs/**/*.md."""
