"""A message as a small document (title, sections of paragraphs and bullets), rendered to a plain
text and an HTML part by two Jinja2 templates. The domain decides what each role is told; the
templates only decide how it looks, and HTML is autoescaped so no value can inject markup."""

from dataclasses import dataclass, field
from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined, Template, select_autoescape


@dataclass(frozen=True)
class Section:
    heading: str | None = None
    paragraphs: tuple[str, ...] = ()
    bullets: tuple[str, ...] = ()


@dataclass(frozen=True)
class Document:
    language: str
    subject: str
    greeting: str | None
    sections: tuple[Section, ...] = field(default_factory=tuple)
    closing: str | None = None


@dataclass(frozen=True)
class Rendered:
    text: str
    html: str


@cache
def _templates() -> tuple[Template, Template]:
    """Compiled once: the templates ship with the code, so Jinja2 need not check their files for
    changes at every message (`auto_reload`)."""
    environment = Environment(
        loader=PackageLoader("services.notifications", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    return environment.get_template("message.txt"), environment.get_template("message.html")


def render(document: Document) -> Rendered:
    text, html = _templates()
    return Rendered(text=text.render(doc=document).strip() + "\n", html=html.render(doc=document))
