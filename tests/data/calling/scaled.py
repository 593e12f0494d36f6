"""Pairs in the inputs convention whose backward takes the same keyword arguments."""

FACTORS = {"double": 2.0, "triple": 3.0}


def forward(x, scale=1.0):
    return x * scale


def backward(dout, x, scale=1.0):
    return dout * scale


def forward_mode(x, mode="double", negate=False):
    return x * FACTORS[mode] * (-1 if negate else 1)


def backward_mode(dout, x, **options):
    return dout * FACTORS[options.get("mode", "double")] * (-1 if options.get("negate") else 1)


def forward_keyword_only(x, *, power):
    return x**power


def forward_two(x):
    return x * x, 3 * x


def backward_two(dsquare, dtriple, x):
    return 2 * x * dsquare + 3 * dtriple
