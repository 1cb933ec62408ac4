"""mkdocs hooks for the docs build: the site shows the version of the package it documents.

The version is read from pyproject.toml, so a release needs no edit here; it
appears in the header next to the site name and in the footer.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def on_config(config: Any, **kwargs: Any) -> Any:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    version = project["version"]
    config["site_name"] = f"{config['site_name']} {version}"
    licence = project.get("license", {}).get("text", "")
    config["copyright"] = f"agentkit {version} · {licence} licence"
    return config
