"""Hostile: an import that never finishes."""

while True:
    pass
