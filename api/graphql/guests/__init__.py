"""GraphQL: guest agents (a guest token, scoped to one machine)."""
