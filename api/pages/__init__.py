"""Public HTML pages: a window's page, its calendar entry and the signed postpone link."""
