"""Background jobs (imports and bulk updates): built in the imports issue."""
