"""A CS231n-style pair whose forward writes into its parameter dict (as batchnorm_forward
writes its running averages): each call must get a fresh copy of --kwarg param."""


def forward(x, param):
    if "seen" in param:
        raise RuntimeError("param was reused between calls")
    param["seen"] = True
    return x * param["scale"], (x, param["scale"])


def backward(dout, cache):
    _, scale = cache
    return dout * scale
