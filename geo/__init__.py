"""Pure GIS helpers: coordinate systems, shapes, PostGIS SQL helpers, routing engines."""
