"""Audit every node type of a Slurm cluster: batch scripts, submission, waiting, collection."""
