"""The JSON grade of ``npae exercises check --json``: its schema, and a validator for it.

The schema is JSON Schema (draft 2020-12) restricted to the keywords :func:`validate`
understands: ``type`` (one name or a list; ``"integer"`` and ``"number"`` exclude
booleans), ``properties``, ``required``, ``additionalProperties`` (``false`` or a schema),
``items``, ``enum``, ``minimum`` and ``maximum``. A full validator (the ``jsonschema``
package) accepts the same documents.
"""

from __future__ import annotations

from typing import Any

__all__ = ["GRADE_SCHEMA", "validate"]

_NUMBER_OR_NULL = {"type": ["number", "null"], "minimum": 0}

_GRADIENT = {
    "type": "object",
    "required": ["passed", "max_error", "diagnosis"],
    "additionalProperties": False,
    "properties": {
        "passed": {"type": "boolean"},
        "max_error": _NUMBER_OR_NULL,
        "diagnosis": {"type": "string"},
    },
}

_EXERCISE = {
    "type": "object",
    "required": ["name", "title", "passed", "score", "max_error", "message", "case",
                 "gradients", "flags", "seconds"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string"},
        "title": {"type": "string"},
        "passed": {"type": "boolean"},
        "score": {"type": "number", "minimum": 0, "maximum": 1},
        "max_error": _NUMBER_OR_NULL,
        "message": {"type": "string"},
        "case": {"type": ["string", "null"]},
        "gradients": {"type": "object", "additionalProperties": _GRADIENT},
        "flags": {"type": "array", "items": {"type": "string"}},
        "seconds": {"type": "number", "minimum": 0},
    },
}

#: The grade, as ``npae exercises check DIR --json`` prints it. Per exercise: ``score``
#: (the fraction of its (case, gradient) checks that pass, 0 to 1), ``passed`` (all of
#: them), ``max_error`` (the worst relative error over every gradient and case, against
#: the reference and central differences; null when some gradient could not be compared:
#: missing, wrong shape, NaN, an exception), ``message`` (the diagnosis of the first
#: failing case, or a summary), ``case`` (that case, null when it passed or never ran),
#: ``gradients`` (the same per gradient, by name: ``"dW"``, ``"dx"``...), and ``flags``
#: (``"uses npae.layers.ReLU: not graded as the student's own work"``: the file uses
#: npae's own implementation; such an exercise fails unless ``allow_npae``). At the top,
#: ``mode`` says how the student's code ran (``fork``, ``spawn``: in a process of its own;
#: ``inline``: in the grader's, not tamper-proof) and ``allow_npae`` whether flagged
#: files were graded anyway.
GRADE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "npae exercises grade",
    "type": "object",
    "required": ["format", "version", "directory", "seed", "time_limit", "mode",
                 "allow_npae", "score", "max_score", "passed", "failed", "exercises"],
    "additionalProperties": False,
    "properties": {
        "format": {"enum": ["npae-exercises-grade"]},
        "version": {"enum": [2]},
        "directory": {"type": "string"},
        "seed": {"type": "integer", "minimum": 0},
        "time_limit": {"type": "number", "minimum": 0},
        "mode": {"enum": ["fork", "spawn", "inline"]},
        "allow_npae": {"type": "boolean"},
        "score": {"type": "number", "minimum": 0},
        "max_score": {"type": "integer", "minimum": 0},
        "passed": {"type": "integer", "minimum": 0},
        "failed": {"type": "integer", "minimum": 0},
        "exercises": {"type": "array", "items": _EXERCISE},
    },
}

_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def _is(value: Any, name: str) -> bool:
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, _TYPES[name])


def validate(doc: Any, schema: dict[str, Any] = GRADE_SCHEMA, path: str = "$") -> list[str]:
    """The ways ``doc`` breaks ``schema``, as ``"$.exercises[0].score: ..."`` lines
    (empty when it conforms)."""
    errors: list[str] = []
    if "enum" in schema and doc not in schema["enum"]:
        errors.append(f"{path}: {doc!r} is not one of {schema['enum']}")
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_is(doc, n) for n in names):
            return errors + [f"{path}: expected {' or '.join(names)}, got "
                             f"{type(doc).__name__}"]
    if _is(doc, "number"):
        if "minimum" in schema and doc < schema["minimum"]:
            errors.append(f"{path}: {doc} < minimum {schema['minimum']}")
        if "maximum" in schema and doc > schema["maximum"]:
            errors.append(f"{path}: {doc} > maximum {schema['maximum']}")
    if isinstance(doc, dict):
        props = schema.get("properties", {})
        errors += [f"{path}: missing {k!r}" for k in schema.get("required", []) if k not in doc]
        extra = schema.get("additionalProperties", True)
        for k, v in doc.items():
            if k in props:
                errors += validate(v, props[k], f"{path}.{k}")
            elif extra is False:
                errors.append(f"{path}: unexpected key {k!r}")
            elif isinstance(extra, dict):
                errors += validate(v, extra, f"{path}.{k}")
    if isinstance(doc, list) and "items" in schema:
        for i, v in enumerate(doc):
            errors += validate(v, schema["items"], f"{path}[{i}]")
    return errors
