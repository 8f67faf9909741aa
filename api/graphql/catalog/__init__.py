"""GraphQL: catalog."""
