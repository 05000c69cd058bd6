"""Readers of Jira's other export formats: XML search results, the site backup, and the CSV export's extras."""
