"""The formula language of ``gradcli expr``.

* :mod:`gradcli.expr.language` — the safe parser: text → a small immutable tree (no torch,
  no SymPy, nothing evaluated);
* :mod:`gradcli.expr.symbolic` — the tree → a SymPy expression, and SymPy expressions → numbers;
* :mod:`gradcli.expr.torchfn` — the tree → a torch function (what autograd differentiates).

Both builders read the one tree, so the symbolic and the autograd side see the same formula.
"""
