"""GraphQL: rollouts."""
