"""docs/cli.md, generated from the `protst` parser so that it cannot drift from the flags:
`python -m protst_hf.cli.markdown docs/cli.md` writes it, and a test fails when the committed file is stale."""

from __future__ import annotations

import argparse
import sys

HEADER = ("# The `protst` command\n\nGenerated from the parser by `python -m protst_hf.cli.markdown docs/cli.md`: "
          "do not edit by hand. `protst COMMAND --help` prints the same.\n")


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser, str]]:
    """(name, parser, help) of each subcommand."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            return [(name, child, helps.get(name) or "") for name, child in action.choices.items()]
    return []


def _flag_rows(parser: argparse.ArgumentParser) -> list[str]:
    rows = []
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        name = ", ".join(f"`{o}`" for o in action.option_strings) or f"`{action.metavar or action.dest}`"
        if action.option_strings and action.nargs != 0:
            name += f" {action.metavar or action.dest.upper()}" if not isinstance(action.metavar, tuple) else \
                " " + " ".join(action.metavar)
        default = action.default
        shown = "" if default is None or default is False or default == argparse.SUPPRESS or action.nargs == 0 \
            else f"`{default}`"
        if action.choices and not isinstance(action.choices, dict):
            choices = ", ".join(f"`{c}`" for c in action.choices)
            shown = f"{shown} (one of {choices})" if shown else f"one of {choices}"
        needed = "required" if action.required and action.nargs not in ("*", "?", argparse.REMAINDER) else ""
        text = (action.help or "").replace("%%", "%").replace("|", "\\|").replace("\n", " ")
        rows.append(f"| {name} | {needed} | {shown} | {text} |")
    return rows


def _section(path: str, parser: argparse.ArgumentParser, summary: str) -> list[str]:
    children = _subcommands(parser)
    lines = [f"## `{path}`", ""]
    for text in dict.fromkeys(t for t in (summary, parser.description) if t):
        lines += [text[0].upper() + text[1:] + ("" if text.endswith(".") else "."), ""]
    rows = _flag_rows(parser)
    if rows:
        lines += ["| argument | | default / choices | what it does |", "|---|---|---|---|", *rows, ""]
    for name, child, summary in children:
        lines += _section(f"{path} {name}", child, summary)
    return lines


def render(parser: argparse.ArgumentParser | None = None) -> str:
    """The Markdown reference of every command and flag."""
    from . import build_parser

    parser = parser or build_parser()
    lines = [HEADER]
    for name, child, summary in _subcommands(parser):
        lines += _section(f"protst {name}", child, summary)
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    text = render()
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w") as out:
            out.write(text)
    else:
        sys.stdout.write(text)
