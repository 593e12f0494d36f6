"""A helper module next to uses_helper.py (the user's own code too)."""


def scale(x, factor):
    return x * float(factor)
