"""The report contract: report.json's schema (schema.py), the report dir's files and loading
(format.py), and its documentation page, generated from the schema (docs.py)."""
