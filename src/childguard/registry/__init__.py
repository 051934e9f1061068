"""The registry: removal requests, review tasks, reviewers' decisions and the audit log (SQL)."""
