"""The guest agent: inside one VM, runs its due system updates and reports them (issue 12)."""
