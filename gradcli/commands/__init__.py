"""Typer commands: parse the arguments, call the core, render the result."""
