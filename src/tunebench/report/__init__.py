"""Reports: self-contained HTML (plots embedded) and Markdown, every number taken from results.json."""
