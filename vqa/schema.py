"""JSON Schema files shipped inside the packages, and readable validation errors."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import jsonschema


@cache
def load_schema(package: str, name: str) -> dict[str, Any]:
    """`package/schemas/name`, read through importlib so it works from an installed wheel."""
    return json.loads(resources.files(package).joinpath(f"schemas/{name}").read_text("utf-8"))


def schema_problems(instance: Any, schema: dict[str, Any], limit: int = 5) -> str | None:
    """The first problems as 'path: message; ...', or None when `instance` is valid."""
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    if not errors:
        return None
    return "; ".join(
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors[:limit]
    )
