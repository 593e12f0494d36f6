"""examples/notebook.ipynb, run in a real Jupyter kernel: no error anywhere, and the HTML
tables (parsed, not compared as strings) carry the verdicts the walk-through promises."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from gradcli.docs import NOTEBOOK, run_notebook

GREEN, RED = "#1a7f37", "#cf222e"


class Marks(HTMLParser):
    """The text of an HTML output, and the colour of every ✓ and ✗ in it."""

    def __init__(self) -> None:
        super().__init__()
        self.styles: list[str] = []
        self.text = ""
        self.marks: list[tuple[str, str]] = []
        self.tags: set[str] = set()
        self.rows: list[list[str]] = []  # every table row, its cells' text

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.styles.append(dict(attrs).get("style") or "")
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th") and self.rows:
            self.rows[-1].append("")

    def handle_endtag(self, tag):
        self.styles.pop()

    def handle_data(self, data):
        self.text += data
        if self.rows and self.rows[-1] and "td" in self.tags:
            self.rows[-1][-1] += data
        for mark in "✓✗":
            if mark in data:
                self.marks.append((mark, self.styles[-1] if self.styles else ""))


@pytest.fixture(scope="module")
def cells():
    notebook = run_notebook(NOTEBOOK)
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def output_of(cells, fragment: str):
    """The outputs of the one code cell whose source holds ``fragment``."""
    found = [cell for cell in cells if fragment in cell.source]
    assert len(found) == 1, fragment
    return found[0].outputs


def html_of(cells, fragment: str) -> Marks:
    outputs = [o for o in output_of(cells, fragment) if "text/html" in o.get("data", {})]
    assert len(outputs) == 1, fragment
    marks = Marks()
    marks.feed(outputs[0]["data"]["text/html"])
    marks.close()
    assert "script" not in marks.tags and "table" in marks.tags
    return marks


def test_no_cell_fails(cells):
    for cell in cells:
        assert cell.execution_count is not None
        for output in cell.outputs:
            assert output.output_type != "error", (cell.source, output.get("evalue"))
            assert output.get("name") != "stderr", (cell.source, output.get("text"))


def coloured(marks: Marks, mark: str, colour: str) -> bool:
    found = [style for m, style in marks.marks if m == mark]
    return bool(found) and all(f"color: {colour}" in style for style in found)


def test_sigmoid_answer_is_ticked(cells):
    marks = html_of(cells, 'gradcli.activation("sigmoid"')
    assert coloured(marks, "✓", GREEN) and not [m for m, _ in marks.marks if m == "✗"]
    assert "your answer matches f'(x) in all 2 entries" in " ".join(marks.text.split())


def test_softmax_jacobian_agrees(cells):
    marks = html_of(cells, "gradcli.softmax_jacobian(")
    assert "Jacobians agree" in marks.text and coloured(marks, "✓", GREEN)
    plain = output_of(cells, 'jacobian.to_dict()["analytic"]')[0]["data"]["text/plain"]
    assert plain.startswith("[[0.0819250690649")  # p₀(1 − p₀), p = softmax(1, 2, 3)


def test_mazur_answers_are_marked(cells):
    marks = html_of(cells, "mazur = gradcli.perceptron(")
    text = " ".join(marks.text.split())
    assert "all 4 quantities you gave are right" in text
    status = {row[0]: row[1] for row in marks.rows if len(row) > 1}
    for key in ("loss", "layer2.delta", "layer2.weight", "layer1.new_weight"):
        assert status[key] == "✓ right", key
    assert coloured(marks, "✓", GREEN) and not [m for m, _ in marks.marks if m == "✗"]
    verdict = output_of(cells, "bool(mazur)")[0]["data"]["text/plain"]
    assert verdict == "(True, True, True)"


def test_the_planted_bug_is_diagnosed(cells):
    marks = html_of(cells, "found = gradcli.check(MySigmoid, x)")
    assert coloured(marks, "✗", RED)
    assert "sign flipped" in " ".join(marks.text.split())
    printed = "".join(o.get("text", "") for o in output_of(cells, "found.raise_for_status()"))
    assert printed.startswith("gradcli check: ") and "sign flipped" in printed


def test_the_fix_passes(cells):
    marks = html_of(cells, "gradcli.check(FixedSigmoid, x)")
    assert coloured(marks, "✓", GREEN) and not [m for m, _ in marks.marks if m == "✗"]


def test_the_stored_notebook_carries_no_run_specific_text():
    # `python -m gradcli.docs` stores the notebook with its outputs: running it again must not
    # rewrite it with timestamps or an object's memory address (a result's repr is one line)
    text = NOTEBOOK.read_text(encoding="utf-8")
    assert '"execution"' not in text and "iopub.execute_input" not in text
    assert " at 0x" not in text
