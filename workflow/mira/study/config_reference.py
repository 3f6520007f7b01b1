"""The configuration reference, rendered from the schema (``workflow/schemas/*.schema.yaml``).

The schema is the one place where a config key, its type, its default, its allowed values and its
description are written; ``docs/config.md`` is generated from it, never edited by hand::

    python -m mira.study.config_reference docs/config.md           # write it
    python -m mira.study.config_reference --check docs/config.md   # exit 1 if it is out of date

Every key path is listed: nested sections as ``restore.models.dncnn.depth``, maps keyed by a name the
user chooses as ``inputs.<name>.path`` (``<modality>`` where the keys are modalities), and lists of
mappings as ``restore.train_noise.<modality>[].degradation``.

Pure: reads YAML only (through :func:`mira.config.load_schema`); no numerics, no Snakemake.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import SCHEMA_DIR, load_schema

GENERATOR = "python -m mira.study.config_reference docs/config.md"


@dataclass(frozen=True)
class Row:
    """One key of the reference.

    Attributes
    ----------
    path : str
        Dotted key path, e.g. ``synthesis.cases.train`` or ``inputs.<name>.modality``.
    type : str
        JSON-schema type in words (``integer``, ``list of string``, ``object``, ...).
    default : str
        The default as YAML flow text, ``(required)``, or ``""`` when the key is optional without one.
    allowed : str
        Allowed values: enumeration, bounds, pattern, list length; ``""`` when unrestricted.
    description : str
        The schema's ``description``, whitespace collapsed (``""`` when missing).
    leaf : bool
        True when the key has no documented sub-keys.
    """

    path: str
    type: str
    default: str
    allowed: str
    description: str
    leaf: bool


def _resolve(node: Any, root: Mapping[str, Any]) -> dict:
    """Follow local ``$ref`` pointers (``#/$defs/...``); keys beside the ``$ref`` take precedence."""
    if not isinstance(node, Mapping):
        return {}
    node = dict(node)
    seen = set()
    while "$ref" in node:
        ref = node.pop("$ref")
        if not ref.startswith("#/") or ref in seen:
            break
        seen.add(ref)
        target: Any = root
        for part in ref[2:].split("/"):
            target = target[part]
        node = {**target, **node}
    return node


def _flow(value: Any) -> str:
    """A value as compact YAML flow text (``{train: 32, val: 8}``, ``[ct, mri]``, ``null``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '""' if value == "" else value
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    return repr(value)


def _type(node: Mapping[str, Any], root: Mapping[str, Any]) -> str:
    kind = node.get("type")
    if kind is None:
        kind = "object" if ("properties" in node or "additionalProperties" in node) else "any"
    kinds = kind if isinstance(kind, list) else [kind]
    words = []
    for k in kinds:
        if k == "array":
            items = _resolve(node.get("items", {}), root)
            words.append(f"list of {_type(items, root)}" if items else "list")
        else:
            words.append(k)
    return " or ".join(words)


def _bounds(node: Mapping[str, Any]) -> str:
    """Numeric bounds in words: ``32..1024``, ``>= 0``, ``> 0, <= 1``."""
    if "minimum" in node and "maximum" in node:
        return f"{_flow(node['minimum'])}..{_flow(node['maximum'])}"
    low = (f"> {_flow(node['exclusiveMinimum'])}" if "exclusiveMinimum" in node
           else f">= {_flow(node['minimum'])}" if "minimum" in node else "")
    high = (f"< {_flow(node['exclusiveMaximum'])}" if "exclusiveMaximum" in node
            else f"<= {_flow(node['maximum'])}" if "maximum" in node else "")
    return ", ".join(p for p in (low, high) if p)


def _allowed(node: Mapping[str, Any], root: Mapping[str, Any]) -> str:
    parts = []
    if "enum" in node:
        parts.append("one of " + ", ".join(_flow(v) for v in node["enum"]))
    bounds = _bounds(node)
    if bounds:
        parts.append(bounds)
    if "pattern" in node:
        parts.append(f"pattern {node['pattern']}")
    if "minLength" in node:
        parts.append(f"at least {node['minLength']} character(s)")
    n_min, n_max = node.get("minItems"), node.get("maxItems")
    if n_min is not None and n_min == n_max:
        parts.append(f"{n_min} items")
    elif n_min is not None and n_max is not None:
        parts.append(f"{n_min}..{n_max} items")
    elif n_min is not None:
        parts.append(f"at least {n_min} item(s)")
    elif n_max is not None:
        parts.append(f"at most {n_max} items")
    if node.get("uniqueItems"):
        parts.append("no repeats")
    items = _resolve(node.get("items", {}), root)
    if items.get("type") != "object":
        inner = _allowed(items, root) if items else ""
        if inner:
            parts.append(f"each {inner}")
    keys = _resolve(node.get("propertyNames", {}), root)
    if "enum" in keys:
        parts.append("keys " + ", ".join(_flow(v) for v in keys["enum"]))
    return "; ".join(parts)


def _placeholder(node: Mapping[str, Any], root: Mapping[str, Any]) -> str:
    keys = _resolve(node.get("propertyNames", {}), root)
    return "<modality>" if "enum" in keys else "<name>"


def _children(path: str, node: Mapping[str, Any], root: Mapping[str, Any]) -> list[tuple[str, Any, bool]]:
    """The documented sub-keys of one key: (path, schema, required)."""
    required = set(node.get("required", ()))
    out = [(f"{path}.{k}", v, k in required) for k, v in node.get("properties", {}).items()]
    extra = _resolve(node.get("additionalProperties"), root) if isinstance(
        node.get("additionalProperties"), Mapping) else {}
    name = _placeholder(node, root)
    if extra.get("properties"):
        out += _children(f"{path}.{name}", extra, root)
    elif extra.get("type") == "array":
        items = _resolve(extra.get("items", {}), root)
        if items.get("properties"):
            out += _children(f"{path}.{name}[]", items, root)
    return out


def _clean(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _walk(path: str, node: Any, root: Mapping[str, Any], required: bool = False) -> Iterator[Row]:
    node = _resolve(node, root)
    children = _children(path, node, root)
    default = _flow(node["default"]) if "default" in node else ("(required)" if required else "")
    yield Row(path=path, type=_type(node, root), default=default, allowed=_allowed(node, root),
              description=_clean(node.get("description", "")), leaf=not children)
    for child_path, child, child_required in children:
        yield from _walk(child_path, child, root, child_required)


def iter_rows(schema: Mapping[str, Any]) -> Iterator[Row]:
    """Every key of the merged schema, depth first in schema order.

    Parameters
    ----------
    schema : mapping
        The merged schema, as :func:`mira.config.load_schema` returns it.

    Yields
    ------
    Row
        One per key path, the section itself before its sub-keys.
    """
    required = set(schema.get("required", ()))
    for key, sub in schema.get("properties", {}).items():
        yield from _walk(key, sub, schema, key in required)


def missing_descriptions(schema: Mapping[str, Any]) -> list[str]:
    """Key paths whose schema entry has no ``description`` (the reference would leave them blank)."""
    return [row.path for row in iter_rows(schema) if not row.description]


def _table(rows: Sequence[Row]) -> list[str]:
    lines = ["| key | type | default | allowed | description |", "| --- | --- | --- | --- | --- |"]
    for r in rows:
        default = f"`{r.default}`" if r.default and r.default != "(required)" else r.default
        lines.append(f"| `{r.path}` | {r.type} | {default} | {_clean(r.allowed)} | {r.description} |")
    return lines


def render(schema: Mapping[str, Any]) -> str:
    """The Markdown configuration reference of ``schema``.

    Parameters
    ----------
    schema : mapping
        The merged schema (:func:`mira.config.load_schema`).

    Returns
    -------
    str
        Markdown: an introduction, a table of the top-level keys without sub-keys, then one section
        per top-level key with sub-keys (its description, then a table of every key below it).
    """
    rows = list(iter_rows(schema))
    tops = [r for r in rows if "." not in r.path]
    lines = [
        "# Configuration reference",
        "",
        f"<!-- Generated from workflow/schemas/*.schema.yaml by `{GENERATOR}`; do not edit by hand. -->",
        "",
        "`config.yaml` (and any `--configfile`, merged over it) is checked against this schema before any",
        "job runs: an unknown key, a wrong type or a value outside the allowed ones stops the run with a",
        "message naming the key, e.g.",
        "`config key synthesis.cases.trian: unknown key (did you mean 'train'?)`.",
        "A key left out takes the default below; the schema is the only place a default is written.",
        "\"(required)\" marks a key that must be given whenever the mapping holding it is given.",
        "`<name>` stands for a name you choose, `<modality>` for one of `ct`, `mri`, `xray`, `us`, and",
        "`[]` for each entry of a list.",
        "",
        "## Top-level keys",
        "",
        *_table([r for r in tops if r.leaf]),
    ]
    for top in tops:
        if top.leaf:
            continue
        below = [r for r in rows if r.path.startswith(top.path + ".")]
        lines += ["", f"## `{top.path}`", ""]
        if top.description:
            lines += [top.description, ""]
        lines += _table(below)
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Write the reference to a file, or with ``--check`` report whether the file is current.

    Returns
    -------
    int
        0 when written or current, 1 when ``--check`` finds the file missing or different.
    """
    parser = argparse.ArgumentParser(prog="python -m mira.study.config_reference",
                                     description="Render the config reference from workflow/schemas/.")
    parser.add_argument("output", nargs="?", default="docs/config.md", help="Markdown file (docs/config.md)")
    parser.add_argument("--check", action="store_true", help="do not write; exit 1 if the file is out of date")
    parser.add_argument("--schemas", default=str(SCHEMA_DIR), help="schema folder (workflow/schemas)")
    args = parser.parse_args(argv)
    text = render(load_schema(args.schemas))
    out = Path(args.output)
    if args.check:
        current = out.read_text(encoding="utf-8") if out.is_file() else None
        if current != text:
            print(f"{out}: out of date with {args.schemas}; regenerate it with: {GENERATOR}", file=sys.stderr)
            return 1
        print(f"{out}: current")
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(f"{out}: written ({len(text.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
