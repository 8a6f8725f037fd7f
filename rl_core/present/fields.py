"""Every hyperparameter's label and help (defined once, on its config field) as the README's table
and the command line's summary."""

from __future__ import annotations

from rl_core.config import FIELD_NAMES, field_help, field_label


def fields_table() -> str:
    """Every hyperparameter's name, label and help as a Markdown table (the README holds it verbatim)."""
    rows = [
        f"| `{name}` | {field_label(name)} | {field_help(name).removesuffix(f' (`{name}`)')} |" for name in FIELD_NAMES
    ]
    return "\n".join(["| field | label | what it does |", "| --- | --- | --- |", *rows])


def fields_summary() -> str:
    """One line per hyperparameter, "name: label", for the command line's --set help."""
    return "; ".join(f"{name}: {field_label(name)}" for name in FIELD_NAMES)
