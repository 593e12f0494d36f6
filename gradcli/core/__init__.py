"""The computing core: torch lives here and below, terminals never do."""
