"""GraphQL: tokens."""
