"""Hostile: code that never returns."""

import time


def spin(x):
    while True:
        pass


def sleepy(x):
    time.sleep(3600)
    return x
