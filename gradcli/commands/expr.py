"""``gradcli expr EXPRESSION... --at NAME=VALUE[,…] [--wrt NAMES] [--order 1|2]``"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Annotated

import typer

from gradcli.answers import Outline, parse_answers
from gradcli.commands.options import (
    TEXT_FORMATS,
    Common,
    MinDigitsOpt,
    computing_command,
    expect_option,
)
from gradcli.commands.pictures import (
    HeightOpt,
    PlotOpt,
    PlotRequest,
    RangeOpt,
    WidthOpt,
    plot_request,
)
from gradcli.commands.registry import CommandInfo, Example, GradcliCommand
from gradcli.errors import InputError, no_such_option, shown, suggest
from gradcli.parsing import parse_number
from gradcli.render import OutputFormat
from gradcli.results.listing import Listing, ListingTable

if TYPE_CHECKING:
    from gradcli.core.expr import ExprRequest
    from gradcli.expr.language import Parsed
    from gradcli.results.curve import Curve, PlotOnly
    from gradcli.results.expr import ExprResult
    from gradcli.settings import Settings

# gradcli.expr.language is imported where it is used: its dataclasses cost every other
# command ~15 ms of start-up.

MAX_EXPRESSIONS = 16
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_OPTION_LIKE = re.compile(r"^--?[A-Za-z][\w-]*(=.*)?$")
# a number as typed, well formed or not (1.2.3, 1e, +-1): parse_number explains what is wrong;
# anything else (e, -e, e+1, pi/6, sqrt(2)) is a constant formula
_NUMBER_LIKE = re.compile(
    r"^\s*[+-]*(\d[\d.eE+-]*|\.[\d.eE+-]*)\s*$|^\s*[+-]?(nan|inf|infinity)\s*$", re.IGNORECASE
)


class ExprCommand(GradcliCommand):
    """Reads an argument that starts with ``-`` (``-x^2``, ``-sqrt(x)``) as an expression.

    Click would otherwise split ``-sqrt(x)`` into short options and take its ``q`` for
    ``-q`` (quiet). A leading space makes it a plain argument; the parser ignores it.
    """

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        takes_value: dict[str, bool] = dict.fromkeys(ctx.help_option_names, False)
        for param in self.params:
            for name in (*getattr(param, "opts", []), *getattr(param, "secondary_opts", [])):
                if name.startswith("-"):
                    takes_value[name] = not getattr(param, "is_flag", False)
        shielded: list[str] = []
        tokens = iter(args)
        for token in tokens:
            if token == "--":
                shielded += [token, *tokens]
                break
            name = token.split("=", 1)[0]
            if name in takes_value:
                shielded.append(token)
                if takes_value[name] and "=" not in token:
                    shielded += list(itertools.islice(tokens, 1))  # its value, as it is
            elif token.startswith("-") and len(token) > 1:
                shielded.append(" " + token)
            else:
                shielded.append(token)
        return super().parse_args(ctx, shielded)


def expr_listing() -> Listing:
    """The functions (with their domains) and constants the language knows, one table per
    kind; no torch, no SymPy."""
    from gradcli.expr.functions import ALIASES, KINDS
    from gradcli.expr.language import CONSTANTS, FUNCTIONS

    aliases: dict[str, list[str]] = {}
    for alias, name in ALIASES.items():
        aliases.setdefault(name, []).append(alias)
    tables = []
    for kind, title in KINDS.items():
        rows = [
            (f.signature, f.domain, f.summary + _also(aliases.get(f.name)))
            for f in FUNCTIONS.values()
            if f.kind == kind
        ]
        tables.append(ListingTable(title, ("name", "domain", "meaning"), rows))
    constants = [(name, "", f"{value!r}") for name, value in CONSTANTS.items()]
    tables.append(ListingTable("Constants", ("name", "", "value"), constants))
    entries = [
        {
            "name": f.name,
            "kind": f.kind,
            "arguments": f.counts_text,
            "domain": f.domain,
            "torch": f.has_torch_form,
            "aliases": aliases.get(f.name, []),
            "meaning": f.summary,
        }
        for f in FUNCTIONS.values()
    ]
    entries += [
        {"name": name, "kind": "constant", "arguments": "0", "domain": "", "torch": True,
         "aliases": [], "meaning": repr(value)}
        for name, value in CONSTANTS.items()
    ]  # fmt: skip
    return Listing("expr", entries, tables)


def _also(names: list[str] | None) -> str:
    """The other names a function answers to (arcsin, arsinh…), where it lists none."""
    if not names:
        return ""
    return f"; also {', '.join(names)}"


def split_top_level(text: str) -> list[str]:
    """Split on commas outside parentheses: ``x=max(1,2),y=3`` → two items."""
    items, depth, current = [], 0, []
    for char in text:
        if char == "," and depth == 0:
            items.append("".join(current))
            current = []
            continue
        depth += (char == "(") - (char == ")")
        current.append(char)
    items.append("".join(current))
    return [item.strip() for item in items if item.strip()]


def parse_point(items: list[str]) -> tuple[dict[str, float], dict[str, str]]:
    """``--at`` items (repeated and/or comma lists) → values and the text written for each."""
    values: dict[str, float] = {}
    written: dict[str, str] = {}
    from gradcli.expr.notation import variable_name

    for item in (piece for option in items for piece in split_top_level(option)):
        name, sep, text = (part.strip() for part in item.partition("="))
        name = variable_name(name)  # --at σ=1 is --at sigma=1
        if not sep or not name:
            raise InputError(f"--at {shown(item)} must look like NAME=VALUE, e.g. --at x=1,y=2")
        if not _NAME.match(name):
            raise InputError(f"--at {shown(item)}: {shown(name)} is not a variable name")
        if name in values:
            raise InputError(f"--at gives the variable '{name}' twice")
        if not text:
            raise InputError(f"--at {shown(item)} has no value")
        values[name] = parse_value(text, name)
        written[name] = text
    return values, written


def parse_value(text: str, name: str) -> float:
    """A number (gradcli's parser: finite, plain ASCII) or a constant formula like ``pi/4``."""
    if _NUMBER_LIKE.match(text):
        return parse_number(text, f"--at {name}")
    from gradcli.expr.language import parse_constant

    return parse_constant(text, f"--at {name}")


def parse_wrt(text: str, variables: list[str]) -> list[str]:
    from gradcli.expr.notation import variable_name

    names = [variable_name(name.strip()) for name in text.split(",")]
    if not all(names):
        raise InputError(f"--wrt {shown(text)} must be a comma list of variable names")
    for name in names:
        if name not in variables:
            raise InputError(
                f"--wrt '{name}' is not a variable of the expression{suggest(name, variables)}; "
                f"its variables: {', '.join(variables)}"
            )
    repeated = [name for name in names if names.count(name) > 1]
    if repeated:
        raise InputError(f"--wrt names '{repeated[0]}' twice")
    return names


def check_point(
    variables: list[str], values: dict[str, float], optional: str | None = None
) -> None:
    """Every variable (but ``optional``, the plotted one) has a value, and every value
    belongs to a variable."""
    from gradcli.expr.language import CONSTANTS, FUNCTIONS

    for name in values:
        if name not in variables and (name in CONSTANTS or name in FUNCTIONS):
            kind = "a constant" if name in CONSTANTS else "a function"
            raise InputError(f"--at {name}: '{name}' is {kind} of the language, not a variable")
        if name not in variables:
            where = "s" if len(variables) > 1 else ""
            raise InputError(
                f"--at gives a value for '{name}', which is not in the expression"
                f"{suggest(name, variables)}; its variable{where}: {', '.join(variables)}"
            )
    missing = [name for name in variables if name not in values and name != optional]
    if missing:
        raise InputError(
            f"no value for the variable '{missing[0]}'; add --at {missing[0]}=VALUE "
            f"(every variable needs one: {', '.join(variables)})"
        )


def parse_expressions(options: Sequence[str], texts: list[str]) -> list[Parsed]:
    from gradcli.expr.language import parse

    texts = [text.strip() for text in texts]
    for text in texts:
        if text in options:
            raise InputError(f"'{text}' comes after '--', where every argument is an expression")
        if _OPTION_LIKE.match(text) and text.startswith("--"):
            raise InputError(no_such_option(text, options, "expr"))
    if not texts:
        raise InputError("no expression given; for example: gradcli expr 'x^2*sin(y)' --at x=1,y=2")
    if len(texts) > MAX_EXPRESSIONS:
        raise InputError(f"{len(texts)} expressions; the limit is {MAX_EXPRESSIONS}")
    several = len(texts) > 1
    return [
        parse(text, f"expression {i}" if several else "expression")
        for i, text in enumerate(texts, 1)
    ]


def check_plot(parsed: list[Parsed], order: int, chosen: list[str], fmt: OutputFormat) -> None:
    """``--plot`` draws one expression and its first derivative along one variable."""
    if fmt is OutputFormat.latex:
        raise InputError("--plot draws a picture; --format latex has no room for it: drop one")
    if len(parsed) > 1:
        raise InputError(f"--plot draws one expression and its derivative; got {len(parsed)}")
    if order == 2:
        raise InputError("--plot draws f and its first derivative; drop --order 2 or --plot")
    torchless = _torchless(parsed[0])
    if torchless:
        raise InputError(
            f"--plot checks the plotted f' against torch's autograd, and torch has no form of "
            f"{', '.join(torchless)}: drop --plot (the table checks it against the finite "
            "differences and the precise value)"
        )
    if len(chosen) > 1:
        raise InputError(
            f"--plot draws f along one variable, and {shown(parsed[0].text)} has "
            f"{', '.join(chosen)}: choose one with --wrt {chosen[0]} and fix the others with "
            f"--at (e.g. --at {chosen[1]}=1)"
        )


def parse_order(text: str) -> int:
    if text.strip() not in ("1", "2"):
        raise InputError(f"--order {shown(text)} must be 1 (gradient/Jacobian) or 2 (Hessian)")
    return int(text)


def check_views(
    parsed: list[Parsed], order: int, steps: bool, graph: bool, fmt: OutputFormat
) -> None:
    """--steps and --graph: the formats and requests each can show."""
    if fmt is OutputFormat.dot and not graph:
        raise InputError("--format dot writes the computation graph: add --graph")
    if steps and fmt is OutputFormat.csv:
        raise InputError("--steps has no CSV form; use --format table, json or latex")
    if not graph:
        return
    if fmt in (OutputFormat.csv, OutputFormat.latex):
        form = "CSV" if fmt is OutputFormat.csv else "LaTeX"
        raise InputError(f"--graph has no {form} form; use --format table, json or dot")
    if len(parsed) > 1:
        raise InputError(f"--graph draws the graph of one expression; got {len(parsed)}")
    if order == 2:
        raise InputError("--graph shows the first derivative's backward pass; drop --order 2")
    torchless = _torchless(parsed[0])
    if torchless:
        raise InputError(
            f"--graph checks every node against torch's autograd, and torch has no form of "
            f"{', '.join(torchless)}: drop --graph"
        )


def _torchless(parsed: Parsed) -> list[str]:
    """The functions of a formula torch has no form of (LambertW, Ei…)."""
    from gradcli.expr.functions import FUNCTIONS
    from gradcli.expr.language import Call, walk

    return sorted(
        {n.name for n in walk(parsed.tree) if isinstance(n, Call)}
        - {name for name, f in FUNCTIONS.items() if f.has_torch_form}
    )


def check_graph_size(result: ExprResult, fmt: OutputFormat) -> None:
    """The terminal draws graphs up to TERMINAL_NODES; DOT and JSON take larger ones."""
    from gradcli.results.graph import TERMINAL_NODES

    count = len(result.graph.nodes) if result.graph is not None else 0
    if count > TERMINAL_NODES and fmt is OutputFormat.table:
        raise InputError(
            f"the graph has {count:,} nodes, more than the terminal view draws "
            f"({TERMINAL_NODES}); use --format dot (Graphviz text, e.g. | dot -Tsvg > "
            "graph.svg) or --json"
        )


@computing_command(formats=(*TEXT_FORMATS, OutputFormat.latex, OutputFormat.dot))
def expr(
    ctx: typer.Context,
    expressions: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="EXPRESSION...",
            help="Formulas such as 'x^2*sin(y)' (quote them); several give the Jacobian."
            " See --list for the functions.",
            show_default=False,
        ),
    ] = None,
    at: Annotated[
        list[str] | None,
        typer.Option(
            "--at",
            metavar="NAME=VALUE[,NAME=VALUE...]",
            help="The point: a value for every variable (repeatable; pi/4 style values work).",
            show_default=False,
        ),
    ] = None,
    wrt: Annotated[
        str | None,
        typer.Option(
            "--wrt",
            metavar="NAME[,NAME...]",
            help="Differentiate with respect to these, in this order [default: every variable,"
            " alphabetically].",
            show_default=False,
        ),
    ] = None,
    order: Annotated[
        str,
        typer.Option("--order", metavar="1|2", help="1: gradient or Jacobian; 2: the Hessian."),
    ] = "1",
    expect: expect_option(
        "the derivative", "f = each expression's value, grad, jacobian or hessian"
    ) = None,
    steps: Annotated[
        bool,
        typer.Option(
            "--steps",
            help="Work each derivative out step by step, every rule named and every step"
            " checked against SymPy.",
        ),
    ] = False,
    graph: Annotated[
        bool,
        typer.Option(
            "--graph",
            help="The computation graph: every node's value, local derivatives and adjoint"
            " (gradcli's reverse sweep, checked against autograd); --format dot for Graphviz.",
        ),
    ] = False,
    min_digits: MinDigitsOpt = None,
    list_: Annotated[
        bool, typer.Option("--list", help="List the functions and constants of the language.")
    ] = False,
    plot: PlotOpt = False,
    x_range: RangeOpt = None,
    width: WidthOpt = None,
    height: HeightOpt = None,
    *,
    common: Common,
) -> int:
    """Derivatives of any formula: symbolic (SymPy) vs autograd vs finite differences."""
    if list_:
        if common.output.format in (OutputFormat.latex, OutputFormat.dot):
            form = "LaTeX" if common.output.format is OutputFormat.latex else "DOT"
            raise InputError(f"--list has no {form} form; use --format table, json or csv")
        return common.output.show(expr_listing())
    picture = plot_request(plot, x_range, width, height, common.output)
    options = [opt for param in ctx.command.params for opt in getattr(param, "opts", [])]
    result = expr_result(
        expressions or [],
        at or [],
        wrt,
        order,
        expect or [],
        steps,
        graph,
        min_digits,
        common.settings,
        common.output.format,
        picture,
        options,
    )
    return common.output.show(result)


def expr_result(
    expressions: list[str],
    at: list[str],
    wrt: str | None,
    order: str,
    expect: list[str],
    steps: bool,
    graph: bool,
    min_digits: int | None,
    settings: Settings,
    fmt: OutputFormat = OutputFormat.table,
    picture: PlotRequest | None = None,
    options: Sequence[str] = (),
) -> ExprResult | PlotOnly:
    """The check behind ``gradcli expr`` and ``gradcli.expr``: the options' text, every
    check made before SymPy and torch load. ``options`` are the command's option names (an
    expression that looks like one is reported as an unknown option)."""
    parsed = parse_expressions(options, expressions)
    chosen_order = parse_order(order)
    if chosen_order == 2 and len(parsed) > 1:
        raise InputError(f"--order 2 (the Hessian) takes one expression; got {len(parsed)}")
    check_views(parsed, chosen_order, steps, graph, fmt)
    from gradcli.expr.language import MAX_VARIABLES, natural_key

    variables = sorted({v for p in parsed for v in p.variables}, key=natural_key)
    if not variables:
        raise InputError(
            f"{shown(parsed[0].text)} has no variables, so there is nothing to differentiate"
        )
    if len(variables) > MAX_VARIABLES:
        raise InputError(f"{len(variables)} variables; the limit is {MAX_VARIABLES}")
    values, written = parse_point(at)
    chosen = parse_wrt(wrt, variables) if wrt is not None else variables
    if picture is not None:
        check_plot(parsed, chosen_order, chosen, fmt)
    check_point(variables, values, optional=chosen[0] if picture is not None else None)
    if expect and len(values) < len(variables):
        raise InputError(f"--expect checks the derivative at a point: add --at {chosen[0]}=VALUE")
    outline = expr_outline(len(parsed), len(chosen), chosen_order)
    expected = parse_answers(expect, outline, min_digits)
    if (steps or graph) and len(values) < len(variables):
        flag = "--steps" if steps else "--graph"
        raise InputError(f"{flag} works at a point: add --at {chosen[0]}=VALUE")

    from gradcli.core.expr import ExprRequest, expr_derivatives

    request = ExprRequest(
        expressions=tuple(parsed),
        variables=tuple(chosen),
        point={name: values[name] for name in variables if name in values},
        written={name: written[name] for name in variables if name in written},
        order=chosen_order,
        steps=steps,
        graph=graph,
    )
    curve = None if picture is None else _curve(request, picture, settings)
    if curve is not None and len(values) < len(variables):
        from gradcli.results.curve import PlotOnly

        return PlotOnly(curve, "expr")
    result = expr_derivatives(request, settings, expected)
    check_graph_size(result, fmt)
    return result if curve is None else replace(result, curve=curve)


def expr_outline(expressions: int, variables: int, order: int) -> Outline:
    """f (one value per expression), then the derivative (the bare --expect): grad for one
    expression, jacobian for several, hessian for --order 2."""
    if order == 2:
        key, shape = "hessian", (variables, variables)
    elif expressions > 1:
        key, shape = "jacobian", (expressions, variables)
    else:
        key, shape = "grad", (variables,)
    return Outline({"f": (expressions,), key: shape}, main=key, command="expr")


def _curve(request: ExprRequest, picture: PlotRequest, settings: Settings) -> Curve:
    from gradcli.core.expr_plot import expr_curve

    size = (picture.width, picture.height)
    return expr_curve(request, settings, picture.x_range, size)


INFO = CommandInfo(
    name="expr",
    function=expr,
    summary="any formula: gradient, Jacobian, Hessian, three ways",
    usage="EXPRESSION... --at NAME=VALUE[,...]",
    examples=(
        Example("expr 'x^2*sin(y)' --at x=1,y=2"),
        Example("expr 'abs(x)*exp(-x^2/2)' --plot --range -3,3"),
        Example("expr 'x^2*sin(x*y)' --at x=1,y=2 --wrt x --steps"),
        Example("expr 'x*y + sin(x)' --at x=1,y=2 --graph"),
    ),
    numeric_args=True,
    command_class=ExprCommand,
)
