"""Named like numpy: must not shadow the installed numpy for this probe or the worker."""

FAKE = True
