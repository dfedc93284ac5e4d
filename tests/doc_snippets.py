"""Reading the code snippets of the Markdown pages and checking what they print.

The convention (written out for authors in docs/contributing_docs.md):

- Every ```` ```python ```` block of README.md and docs/*.md is a complete
  program: it runs on its own, as written, in a fresh interpreter.
- A ```` ```text ```` block that follows a python block (blank lines between
  them at most) is the output the snippet prints. Every line of it must appear
  in the printed output, in the same order; printed lines it leaves out (a
  timing, a progress line) are not checked. Text must match exactly (runs of
  spaces count as one); a number written with a decimal point may differ by
  one unit of its last digit (``37.8`` matches 37.7 to 37.9), an integer must
  be equal.
- A ```` ```text ```` block right after an HTML comment
  ``<!-- output-of: examples/DIR/SCRIPT.py -->`` is what that example script
  prints, checked the same way when the examples run.
- An HTML comment ``<!-- snippet: slow -->`` right before a python block runs
  it only under ``pytest -m slow``; ``atol=X`` in that comment lets decimals
  differ by X instead.
"""

import re
from dataclasses import dataclass, field

_FENCE = re.compile(r"^(`{3,})\s*([\w+-]*)")
_COMMENT = re.compile(r"^<!--\s*(snippet|output-of):\s*(.*?)\s*-->\s*$")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


@dataclass
class Block:
    """One fenced block of a page: its language, text, first line and the comment just before it."""

    language: str
    text: str
    line: int
    comment: tuple = None
    output: "Block" = None
    options: dict = field(default_factory=dict)
    end: int = 0


def read_blocks(text):
    """The fenced blocks of Markdown ``text``, each python block linked to the text block after it."""
    lines = text.splitlines()
    blocks, i = [], 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        fence, language = match[1], match[2].lower()
        j = i + 1
        while j < len(lines) and not lines[j].startswith(fence):
            j += 1
        k = i - 1
        while k >= 0 and not lines[k].strip():
            k -= 1
        comment = _COMMENT.match(lines[k].strip()) if k >= 0 else None
        previous = blocks[-1] if blocks else None
        block = Block(language, "\n".join(lines[i + 1:j]) + "\n", i + 1,
                      comment=(comment[1], comment[2]) if comment else None)
        if block.comment and block.comment[0] == "snippet":
            block.options = _options(block.comment[1])
        if (language == "text" and previous is not None and previous.language == "python"
                and previous.output is None and block.comment is None
                and all(not s.strip() for s in lines[previous.end:i])):
            previous.output = block
        block.end = j + 1
        blocks.append(block)
        i = j + 1
    return blocks


def _options(text):
    options = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        if name == "slow" and not value:
            options["slow"] = True
        elif name == "atol" and value:
            options["atol"] = float(value)
        else:
            raise ValueError(f"unknown snippet option {part!r}; expected 'slow' or 'atol=X'")
    return options


def _pieces(line):
    """(the line's text with each number replaced by {}, the numbers as written)."""
    numbers = _NUMBER.findall(line)
    return " ".join(_NUMBER.sub("{}", line).split()), numbers


def _close(expected, actual, atol):
    if "." not in expected:
        return "." not in actual and int(expected) == int(actual)
    if atol is None:
        atol = 10.0 ** -len(expected.partition(".")[2])
    return abs(float(expected) - float(actual)) <= atol + 1e-9


def _line_matches(expected, actual, atol):
    text_e, numbers_e = _pieces(expected)
    text_a, numbers_a = _pieces(actual)
    return text_e == text_a and all(_close(e, a, atol) for e, a in zip(numbers_e, numbers_a))


def output_mismatch(expected, actual, atol=None):
    """None when every line of ``expected`` appears in ``actual`` in order (see above), else a message."""
    printed = [line for line in actual.splitlines() if line.strip()]
    position = 0
    for line in (line for line in expected.splitlines() if line.strip()):
        for i in range(position, len(printed)):
            if _line_matches(line, printed[i], atol):
                position = i + 1
                break
        else:
            return f"the page shows {line.strip()!r}, which the output lacks (after line {position}):\n{actual}"
    return None
