"""Record a run's aten ops to a trace, and compare two traces: why two runs differ."""
