"""GraphQL: agents."""
