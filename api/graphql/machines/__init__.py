"""GraphQL: machines."""
