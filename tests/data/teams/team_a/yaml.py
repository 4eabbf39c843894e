"""Named like PyYAML: must not shadow the installed yaml for this probe or the worker."""

FAKE = True
