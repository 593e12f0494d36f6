"""Random command lines against the contract: exit 0, 1 or 2, one Error line on 2, no crash.

Hypothesis builds argv lists from numbers (tiny, huge, negative, non-finite spellings),
separators, JSON fragments, unicode look-alikes and the commands' own options, and runs
them in-process. Nothing about the numbers is asserted — only that every outcome is one of
the documented ones (an unexpected exception would be exit 3, "internal error").
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from gradcli.cli import app
from gradcli.ops.activations import ACTIVATIONS
from gradcli.ops.losses import LOSSES

NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-5, 64).map(str),
    st.sampled_from(
        ["0", "-0", "1e308", "1e-320", "5e-324", "-1e300", "1e999", "99999999999999999999", "2/3"]
    ),
)
FRAGMENTS = st.sampled_from(
    [",", ";", " ", "[", "]", "[[1,2],[3,4]]", "[1,[2]]", '{"a": 1}', "null", "true", "1,2;3",
     "σ", "−1", "١", "\x1b[31m", "\n", "", "@", "-", "none", "1x2", "2x2", "0x3", "3x", "=",
     "alpha=1", "beta=0", "layer1.weight=1", "layer2.bias=0.5", "tanh", "relu,sigmoid", "nan"]
)  # fmt: skip
OPTIONS = st.sampled_from(
    ["--x", "--weights", "--bias", "--target", "--pred", "--expect", "--param", "-T",
     "--temperature", "--dtype", "--format", "--json", "--no-numeric", "--precision", "--atol",
     "--rtol", "--layers", "--x-shape", "--seed", "--lr", "--activation", "--loss", "--reduction",
     "--engine", "--steps", "--no-bias", "-q", "--list", "-x"]
)  # fmt: skip
TOKENS = st.one_of(NUMBERS, FRAGMENTS, OPTIONS, st.text(max_size=6))
COMMANDS = st.one_of(
    st.sampled_from(sorted(ACTIVATIONS)).map(lambda name: ["activation", name]),
    st.sampled_from(sorted(LOSSES)).map(lambda name: ["loss", name]),
    st.just(["softmax-jacobian"]),
    st.just(["perceptron"]),
    st.just(["activation"]),
)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(COMMANDS, st.lists(TOKENS, max_size=10))
def test_random_command_lines_keep_the_contract(command, tokens):
    result = CliRunner().invoke(app, [*command, *tokens], env={"GRADCLI_MAX_WORK": "1e9"})
    assert not (result.exception and not isinstance(result.exception, SystemExit)), repr(
        result.exception
    )
    assert result.exit_code in (0, 1, 2), (result.exit_code, result.stderr)
    if result.exit_code == 2:
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
        assert "Traceback" not in result.stderr
    else:
        assert "Error" not in result.stderr
