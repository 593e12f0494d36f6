"""Hostile: a BaseException subclass raised while the file is imported."""


class Abort(BaseException):
    """Not an Exception: `except Exception` does not catch it."""


raise Abort("stop right here")
