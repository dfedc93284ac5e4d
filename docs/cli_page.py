"""Write the command-line reference (docs/cli.md) from the argparse definitions.

``docs/conf.py`` calls :func:`write_cli_page` at every build, so the page is
never edited by hand and cannot drift from ``skmitm --help``. The generated
file is ignored by git.
"""

import argparse
import os
import tempfile
from pathlib import Path

INTRO = """\
# Command line

`skmitm COMMAND` (or `python -m skmitm COMMAND`) runs the toolkit without
writing Python. This page is generated from the command line's own argument
definitions at every documentation build, so it lists exactly what
`skmitm COMMAND --help` prints. Paths to data and models are given as options;
[Data and models](data_and_models.md) says where to get them.

Exit codes: 0 on success, 2 for bad usage or bad input (a missing folder, an
unreadable image, an empty gallery); errors are printed on stderr.
"""


def _build_parser():
    from skmitm.__main__ import build_parser

    return build_parser()


def _subcommands(parser):
    """[(name, one-line help, sub-parser)] of every sub-command, in definition order."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                found.append((name, helps.get(name) or "", sub))
    return found


def _expand_help(action, prog):
    """An action's help text with ``%(default)s`` and friends filled in, as argparse prints it."""
    if not action.help:
        return ""
    params = dict(vars(action), prog=prog)
    for name in list(params):
        if params[name] is argparse.SUPPRESS:
            del params[name]
        elif hasattr(params[name], "__name__"):
            params[name] = params[name].__name__
    if params.get("choices") is not None:
        params["choices"] = ", ".join(str(c) for c in params["choices"])
    return action.help % params


def _cell(text):
    return " ".join(str(text).split()).replace("|", "\\|")


def _invocation(action):
    if not action.option_strings:
        return f"`{action.metavar or action.dest}`"
    if action.nargs == 0:
        return ", ".join(f"`{o}`" for o in action.option_strings)
    metavar = action.metavar or (action.dest.upper() if action.choices is None else "{" + ",".join(
        str(c) for c in action.choices) + "}")
    if action.nargs in ("+", "*"):
        metavar = f"{metavar} [{metavar} ...]"
    return ", ".join(f"`{o} {metavar}`" for o in action.option_strings)


def _options_table(parser):
    rows = []
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        choices = ", ".join(f"`{c}`" for c in action.choices) if action.choices is not None else ""
        rows.append(f"| {_invocation(action)} | {_cell(_expand_help(action, parser.prog))} | {choices} |")
    if not rows:
        return []
    return ["| argument | meaning | choices |", "| --- | --- | --- |", *rows, ""]


def _usage(parser):
    return ["```text", parser.format_usage().strip(), "```", ""]


def _section(parser, level):
    lines = _usage(parser)
    if parser.description:
        lines += [parser.description.strip(), ""]
    lines += _options_table(parser)
    if parser.epilog:
        lines += ["```text", parser.epilog.strip("\n"), "```", ""]
    for name, help_text, sub in _subcommands(parser):
        lines += [f"{'#' * level} `{sub.prog}`", ""]
        if help_text:
            lines += [help_text[0].upper() + help_text[1:] + ".", ""]
        lines += _section(sub, level + 1)
    return lines


def render_cli_page(parser=None):
    """The Markdown text of the command-line page for ``parser`` (default: skmitm's)."""
    parser = parser if parser is not None else _build_parser()
    return INTRO + "\n" + "\n".join(_section(parser, 2)).rstrip() + "\n"


def write_cli_page(path, parser=None):
    """Write the page to ``path`` when its text changed (atomically); return the path."""
    path = Path(path)
    text = render_cli_page(parser)
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return path
    fd, tmp = tempfile.mkstemp(prefix=".cli-", suffix=".md", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)
    return path
