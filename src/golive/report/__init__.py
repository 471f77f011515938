"""Rendering plans, runs and journals for people: terminal, Markdown, HTML."""
