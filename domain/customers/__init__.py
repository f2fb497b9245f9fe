"""Customer archive services: update within rights, proposals, lifecycle, presentation."""
