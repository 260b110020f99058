"""A message as a small document (title, sections of paragraphs and bullets), rendered to a plain
text and an HTML part by two Jinja2 templates. The domain decides what each role is told; the
templates only decide how it looks, and HTML is autoescaped so no value can inject markup."""

from dataclasses import dataclass, field
from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape


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
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("services.notifications", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(document: Document) -> Rendered:
    environment = _environment()
    return Rendered(
        text=environment.get_template("message.txt").render(doc=document).strip() + "\n",
        html=environment.get_template("message.html").render(doc=document),
    )
