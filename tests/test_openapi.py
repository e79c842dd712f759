"""backend/openapi.yaml and the application's routes agree both ways."""

from __future__ import annotations

from pathlib import Path

import yaml

from backend.app import init_app, route_table
from backend.config import load_config

SPEC = Path(__file__).resolve().parent.parent / "backend" / "openapi.yaml"


def documented() -> set[tuple[str, str]]:
    spec = yaml.safe_load(SPEC.read_text())
    return {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }


def test_every_route_is_documented_and_every_documented_route_exists():
    app = init_app(load_config(env={}), "postgresql://unused/none", background=False)
    routes = set(route_table(app))
    assert routes - documented() == set(), "routes missing from openapi.yaml"
    assert documented() - routes == set(), "documented routes the app does not have"


def test_spec_is_well_formed():
    spec = yaml.safe_load(SPEC.read_text())
    assert spec["openapi"].startswith("3.")
    refs = set()

    def walk(node):
        if isinstance(node, dict):
            if "$ref" in node:
                refs.add(node["$ref"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(spec)
    for r in refs:
        section, name = r.split("/")[-2:]
        assert name in spec["components"][section], f"dangling $ref {r}"
