"""Every write, transaction and lock of fenster lives in this package."""
