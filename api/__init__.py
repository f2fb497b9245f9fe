"""Composition root: settings, database, app factory, CLI."""
