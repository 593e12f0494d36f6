"""Correct: the LinearFunction of torch.autograd.Function's documentation, bias optional.

    gradcli check examples/linear_function.py:LinearFunction --input 4x3 --input 2x3

forward(ctx, input, weight, bias=None): give two inputs and the bias keeps its default (None);
give three (--input 2) and it is checked too. The backward returns three values either way:
torch accepts a trailing None for a parameter that was not given, and so does gradcli.
"""

import torch


class LinearFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input, weight, bias=None):
        ctx.save_for_backward(input, weight, bias)
        output = input.mm(weight.t())
        if bias is not None:
            output += bias.unsqueeze(0).expand_as(output)
        return output

    @staticmethod
    def backward(ctx, grad_output):
        input, weight, bias = ctx.saved_tensors
        grad_input = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_input = grad_output.mm(weight)
        if ctx.needs_input_grad[1]:
            grad_weight = grad_output.t().mm(input)
        if bias is not None and ctx.needs_input_grad[2]:
            grad_bias = grad_output.sum(0)
        return grad_input, grad_weight, grad_bias
