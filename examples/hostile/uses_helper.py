"""Hostile: the error is raised in a module of the user's that this file imports."""

from hostile_helper import scale


def forward(x):
    return scale(x, "two")
