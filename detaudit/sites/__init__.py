"""The alert census of a torch build, read from its shared libraries (``detaudit sites``)."""
