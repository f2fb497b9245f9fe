"""Server-rendered admin (jinja2 + htmx)."""
