"""Hostile: writes to file descriptor 1 directly (not through sys.stdout)."""

import os

os.write(1, b"written to fd 1 at import\n")


def forward(x):
    os.write(1, b"written to fd 1 in forward\n")
    print("printed in forward")
    return x * 2
