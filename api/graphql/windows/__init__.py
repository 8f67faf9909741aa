"""GraphQL: windows."""
