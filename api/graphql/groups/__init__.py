"""GraphQL: groups."""
