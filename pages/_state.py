"""What a user chose on a page, kept where Streamlit never drops it.

Streamlit forgets a widget's value on any run that does not draw the widget (another page, a run
stopped early, an exception, a login redirect), and a widget drawn again without its value shows its
minimum or first option: a setup would silently become the widgets' minimums. So each choice lives
in a session-state key the app owns (``owned_key(widget key)``): the widget key is filled from it
just before the widget is drawn, on every run, and the user's change is copied back into it by the
widget's on_change. Code that sets a choice (a preset, a shared link, another page's "send to")
writes the owned key only, with ``remember``; the widget shows it on its next draw.

Usage: ``st.slider("x", 0, 10, **bind("page_x", default=3))`` (no ``value=``: the default is
given to ``bind``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import streamlit as st

_OWNED = "_owned."


def owned_key(key: str) -> str:
    """The session-state key that holds the user's choice for the widget keyed ``key``."""
    return _OWNED + key


def remember(key: str, value: Any) -> None:
    """Set the choice for the widget keyed ``key``: it shows this on its next draw."""
    st.session_state[owned_key(key)] = value


def remember_all(values: Mapping[str, Any]) -> None:
    for key, value in values.items():
        remember(key, value)


def recall(key: str, default: Any = None) -> Any:
    """The user's choice for the widget keyed ``key`` (``default`` before there is one)."""
    return st.session_state.get(owned_key(key), default)


def owned_values() -> dict[str, Any]:
    """Every choice held, by widget key."""
    return {k[len(_OWNED) :]: v for k, v in st.session_state.items() if isinstance(k, str) and k.startswith(_OWNED)}


def chosen(key: str) -> bool:
    """Whether a choice is held for the widget keyed ``key``."""
    return owned_key(key) in st.session_state


def forget(keys: Iterable[str]) -> None:
    for key in keys:
        st.session_state.pop(owned_key(key), None)


def bind(
    key: str,
    default: Any = None,
    on_change: Callable[[], None] | None = None,
    options: Sequence[Any] | None = None,
) -> dict[str, Any]:
    """The ``key`` and ``on_change`` arguments of a widget whose value the app owns.

    Fills the widget's key from the owned choice (or ``default`` the first time) right before the
    widget is drawn, and copies the user's change back before ``on_change`` runs. With ``options``
    (a selectbox's, a multiselect's), a held choice no longer among them falls back to ``default``
    (a multiselect's list keeps the values still offered)."""
    ss = st.session_state
    owned = owned_key(key)
    if owned not in ss and default is not None:
        ss[owned] = default
    if options is not None and owned in ss:
        held = ss[owned]
        if isinstance(held, list):
            ss[owned] = [v for v in held if v in options]
        elif held not in options:
            if default is None or default in options:
                ss[owned] = default
            else:
                ss.pop(owned)
    if owned in ss:
        ss[key] = ss[owned]
    elif key in ss:
        del ss[key]  # no choice yet: the widget shows its own default

    def changed() -> None:
        ss[owned] = ss[key]
        if on_change is not None:
            on_change()

    return {"key": key, "on_change": changed}
