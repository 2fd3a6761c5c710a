"""Every text the owner reads in a chat, on Discord or on the console, in Korean and English.

``KIMPBOT_LANG`` = ``ko`` (the default: a kimchi-premium bot is run by Upbit traders) or ``en``.

One typed catalogue, no string built in two places:

* A :class:`Msg` is one entry: the Korean and the English template, ``str.format`` style with
  named fields (``Msg("{coin} 체결", "{coin} filled")``). Entries live in area files of this
  package (``common``, ``chat``, ``events``, ...), as module-level constants with UPPER names;
  each is registered by its key (``<area>.<NAME>``) so tests can check every entry.
* Calling it, ``FILLED(coin="BTC")``, gives a :class:`Text`: the entry and its arguments, rendered
  *late*, in the reader's language, by ``str(text)`` / ``text.render(lang)``. An event carries its
  Text so the log keeps English while the chat shows Korean.
* Arguments are formatted at render time in the same language: a nested Text, or a display value
  from :mod:`kimpbot.i18n.units` (``krw(81153000)`` shows ``81,153,000원`` in Korean and
  ``81,153,000 KRW`` in English, ``qty(x, step)`` to the venue's step, ``kst(ms)`` in KST).

The process language is set once from the settings (:func:`set_lang`, by the Bot); a block of code
can render in another language with :func:`using`.
"""

from __future__ import annotations

import contextlib
import string
import unicodedata
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Iterator

LANGS = ("ko", "en")
DEFAULT_LANG = "ko"
MONO_WIDTH = 36   # a monospace line on a phone: at most this many cells (Hangul counts 2)

_lang = DEFAULT_LANG
_render_lang: ContextVar[str | None] = ContextVar("kimpbot_render_lang", default=None)
REGISTRY: dict[str, "Msg"] = {}


def set_lang(lang: str) -> None:
    """The process language (from ``KIMPBOT_LANG``, validated by the config)."""
    global _lang
    if lang not in LANGS:
        raise ValueError(f"language {lang!r}: one of {', '.join(LANGS)}")
    _lang = lang


def lang() -> str:
    """The language being rendered now: the one of an enclosing render, else the process's."""
    return _render_lang.get() or _lang


@contextlib.contextmanager
def using(lang_: str) -> Iterator[None]:
    if lang_ not in LANGS:
        raise ValueError(f"language {lang_!r}: one of {', '.join(LANGS)}")
    tok = _render_lang.set(lang_)
    try:
        yield
    finally:
        _render_lang.reset(tok)


def fields(template: str) -> set[str]:
    """The named fields of a template (``{qty}``, ``{price:>8}`` -> qty, price)."""
    return {f[1] for f in string.Formatter().parse(template) if f[1]}


@dataclass(frozen=True)
class Msg:
    """One catalogue entry. ``key`` is filled in by :func:`register_area` from the constant's name."""
    ko: str
    en: str
    key: str = ""

    def __post_init__(self) -> None:
        a = {f.split(".")[0].split("[")[0] for f in fields(self.ko)}
        b = {f.split(".")[0].split("[")[0] for f in fields(self.en)}
        if a != b:   # a typo in one language would raise at render time, in front of the owner
            raise ValueError(f"catalogue entry {self.en[:40]!r}: fields differ between ko {sorted(a)} and en {sorted(b)}")

    def __call__(self, **args: Any) -> "Text":
        return Text(self, args)

    def render(self, lang_: str | None = None, **args: Any) -> str:
        return Text(self, args).render(lang_)

    def said(self, **args: Any) -> "Said":
        """This entry as a :class:`Said`: a string (English) that shows in the reader's language."""
        return Said(Text(self, args))

    def __str__(self) -> str:
        return self.render()


@dataclass(frozen=True)
class Text:
    """A catalogue entry with its arguments, rendered in the reader's language when shown."""
    msg: Msg
    args: dict[str, Any] = field(default_factory=dict)

    def render(self, lang_: str | None = None) -> str:
        use = lang_ or lang()
        with using(use):
            template = self.msg.ko if use == "ko" else self.msg.en
            return template.format(**self.args)

    def __str__(self) -> str:
        return self.render()

    def __format__(self, spec: str) -> str:
        return format(self.render(), spec)

    def __add__(self, other: Any) -> str:
        return str(self) + str(other)

    def __radd__(self, other: Any) -> str:
        return str(other) + str(self)


class Said(str):
    """A catalogue text that is also its English string.

    For reasons that code matches, logs and stores as strings (the risk checks' refusals): as a
    ``str`` it is the English text, so ``startswith``, ``json`` and the log see what they always
    did; shown to the owner — a field of another template, :func:`render`, :class:`Joined` — it is
    rendered in the reader's language."""

    text: "Text"

    def __new__(cls, text: "Text") -> "Said":
        self = super().__new__(cls, text.render("en"))
        self.text = text
        return self

    def __format__(self, spec: str) -> str:
        return format(self.text.render(), spec)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Said, (self.text,))


@dataclass(frozen=True)
class Joined:
    """Parts (Texts, Saids, strings) joined by ``sep``, each rendered in the reader's language."""
    parts: tuple[Any, ...]
    sep: str = "; "

    def __str__(self) -> str:
        return self.sep.join(render(p) for p in self.parts)

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


def render(x: Any, lang_: str | None = None) -> str:
    """A Text, a Msg, a Said or a plain string, as the reader sees it."""
    if isinstance(x, Said):
        return x.text.render(lang_)
    if isinstance(x, (Text, Msg)):
        return x.render(lang_)
    if lang_ is not None:
        with using(lang_):
            return str(x)
    return str(x)


def register_area(area: str, namespace: dict[str, Any]) -> None:
    """Give every ``Msg`` constant of an area module its key and list it in :data:`REGISTRY`.
    Call at the bottom of the area module: ``register_area("chat", globals())``."""
    for name, v in list(namespace.items()):
        if isinstance(v, Msg) and name.isupper():
            key = f"{area}.{name}"
            if key in REGISTRY and REGISTRY[key] is not v:
                raise ValueError(f"catalogue key {key} defined twice")
            object.__setattr__(v, "key", key)
            REGISTRY[key] = v


def cell_width(line: str) -> int:
    """Cells a line takes in a monospace font: East Asian wide/full-width characters (Hangul) take 2."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 0 if unicodedata.combining(ch) else 1
               for ch in line)


def too_wide(block: str, width: int = MONO_WIDTH) -> list[str]:
    """The lines of a monospace block wider than a phone shows without wrapping."""
    return [ln for ln in block.splitlines() if cell_width(ln) > width]


def pad(s: str, width: int, right: bool = False) -> str:
    """Pad to ``width`` cells (``str.ljust`` counts Hangul as 1 and breaks columns)."""
    gap = max(0, width - cell_width(s))
    return (" " * gap + s) if right else (s + " " * gap)


def all_areas() -> None:
    """Import every area module (tests walk the whole catalogue)."""
    import importlib
    import pkgutil

    for m in pkgutil.iter_modules(__path__):  # type: ignore[name-defined]
        if not m.name.startswith("_"):
            importlib.import_module(f"{__name__}.{m.name}")
