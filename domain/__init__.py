"""The business rules of retailgis, shared by the GraphQL API and the admin."""
