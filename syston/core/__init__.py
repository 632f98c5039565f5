"""Infrastructure every other layer builds on: settings, database, errors, logs, metrics,
request correlation, the audit trail, and every Temporal name. Imports nothing above it."""
