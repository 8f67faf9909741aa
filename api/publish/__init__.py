"""The notice site: directory values -> Markdown pages (pure), and the MkDocs build step."""
