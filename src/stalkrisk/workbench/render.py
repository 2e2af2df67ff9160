"""Jinja for the workbench's pages and pack: the review pages' strict, autoescaped environment
(``report.render.strict_environment``) over the workbench's own templates."""

from __future__ import annotations

from pathlib import Path

import jinja2

from stalkrisk.report.render import strict_environment

TEMPLATES = Path(__file__).parent / "templates"


def environment() -> jinja2.Environment:
    return strict_environment(TEMPLATES)


def render(template: str, **context) -> str:
    return environment().get_template(template).render(**context)
