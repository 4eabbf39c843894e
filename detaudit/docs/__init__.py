"""The docs side: docstring parser, check-docs, OpInfo discovery (parent and worker sides)."""
