"""The formula language of ``gradcli expr``.

* :mod:`gradcli.expr.notation` — textbook notation (``2x``, ``sin^2(x)``, ``|x|``, ``√x``,
  ``σ``…) read into Python's expression syntax, with the text column of every character;
* :mod:`gradcli.expr.language` — the safe parser: that code → a small immutable tree (eight
  node types, :func:`~gradcli.expr.language.walk` and
  :func:`~gradcli.expr.language.to_text` to traverse and print it; no torch, no SymPy,
  nothing evaluated) — the one tree every later stage reads;
* :mod:`gradcli.expr.functions` — the function table: arguments, meaning, domain, breaks,
  torch availability, aliases (no torch, no SymPy);
* :mod:`gradcli.expr.symbolic` — the tree → a SymPy expression, and SymPy expressions → numbers
  in torch's float types;
* :mod:`gradcli.expr.torchfn` — the tree → a torch function (what autograd differentiates);
* :mod:`gradcli.expr.precise` — SymPy expressions → numbers with mpmath at 50 digits,
  one-sided limits and high-precision difference quotients;
* :mod:`gradcli.expr.accuracy`, :mod:`gradcli.expr.checking`, :mod:`gradcli.expr.stable` —
  where float64 loses digits and why, each entry's verdict against its precise value, and
  the stable forms to suggest.

The symbolic and the autograd side are built from the one tree, so both see the same formula.
"""
