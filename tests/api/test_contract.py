"""The API's declared contract: every operation says what it answers, and errors are RFC 9457 problems."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tessera.api.app import create_app
from tessera.api.errors import PROBLEM_JSON, error_classes
from tessera.compose import build
from tessera.core.db import Database
from tessera.core.settings import Settings

METHODS = {"get", "post", "put", "patch", "delete"}


def _app(data: Path, **overrides: Any) -> TestClient:
    settings = Settings(data_dir=data, **overrides)
    settings.ensure_dirs()
    db = Database(settings.db_url)
    db.migrate()
    db.dispose()
    return TestClient(create_app(build(settings)))


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with _app(tmp_path_factory.mktemp("contract"), rate_limit_anonymous=10**6,
              editor_token="contract-editor-token") as c:
        yield c


@pytest.fixture(scope="module")
def spec(client: TestClient) -> dict[str, Any]:
    doc: dict[str, Any] = client.get("/openapi.json").json()
    return doc


def _operations(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if method in METHODS:
                yield f"{method.upper()} {path}", op


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _typed(spec: dict[str, Any], schema: dict[str, Any]) -> bool:
    """A schema that says what comes back: a model with properties, a typed list, or a binary string."""
    schema = _resolve(spec, schema)
    if schema.get("type") == "array":
        return _typed(spec, schema.get("items", {}))
    if schema.get("type") == "string":
        return True
    return bool(schema.get("properties"))


def test_every_operation_declares_its_success_answer(spec: dict[str, Any]) -> None:
    assert sum(1 for _ in _operations(spec)) >= 60
    missing = []
    for name, op in _operations(spec):
        ok = {c: r for c, r in op["responses"].items() if c.startswith(("2", "3"))}
        declared = False
        for code, resp in ok.items():
            content = resp.get("content", {})
            if code.startswith("3") and not content:
                declared = declared or code == "304" or "Location" in resp.get("headers", {})
            for media, body in content.items():
                if media == "application/json":
                    declared = declared or _typed(spec, body.get("schema", {}))
                else:  # audio, zip, points, Turtle: a declared media type with a binary or text schema
                    declared = declared or body.get("schema", {}).get("type") == "string"
        if not declared:
            missing.append(name)
    assert not missing, f"operations without a declared success schema or media type: {missing}"


def test_every_operation_declares_problem_answers(spec: dict[str, Any]) -> None:
    for name, op in _operations(spec):
        errors = {c: r for c, r in op["responses"].items() if c[0] in "45"}
        assert {"401", "422", "429"} <= set(errors), name
        for code, resp in errors.items():
            assert list(resp["content"]) == [PROBLEM_JSON], (name, code)
        assert "Retry-After" in errors["429"]["headers"], name
    props = _resolve(spec, {"$ref": "#/components/schemas/ValidationProblem"})["properties"]
    assert {"type", "title", "status", "detail", "code", "errors"} <= set(props)


def _problem(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].split(";")[0] == PROBLEM_JSON
    body: dict[str, Any] = r.json()
    assert body["type"] == f"/problems/{code}" and body["code"] == code and body["status"] == status
    assert body["title"] and body["detail"]
    return body


def test_errors_are_problem_details_with_their_class_type(client: TestClient) -> None:
    body = _problem(client.get("/api/items/424242"), 404, "not_found")
    assert body["instance"] == "/api/items/424242" and body["id"] == 424242  # details are extension members
    body = _problem(client.get("/api/items?limit=0"), 422, "invalid_request")
    assert body["errors"] and body["errors"][0]["loc"] == ["query", "limit"]
    _problem(client.get("/api/items", headers={"Authorization": "Bearer not-a-key"}), 401, "unauthorized")
    body = _problem(client.get("/api/items?limit=100"), 403, "page_too_large")
    assert body["max_limit"] == 50
    assert _problem(client.post("/api/schemes", json={}), 401, "unauthorized")["required_role"] == "editor"
    editor = {"Authorization": "Bearer contract-editor-token"}
    body = _problem(client.get("/api/users", headers=editor), 403, "forbidden")
    assert body["required_role"] == "admin"
    r = client.delete("/api/items")
    _problem(r, 405, "method_not_allowed")
    assert r.headers["allow"] == "GET"
    _problem(client.get("/api/no-such-thing"), 404, "not_found")


def test_problem_types_are_served(client: TestClient) -> None:
    body = _problem(client.get("/api/items/424242"), 404, "not_found")
    page = client.get(body["type"])
    assert page.status_code == 200 and page.json()["status"] == 404 and page.json()["code"] == "not_found"
    listed = {t["code"]: t for t in client.get("/problems").json()}
    for code, cls in error_classes().items():
        assert listed[code]["status"] == cls.status and listed[code]["type"] == cls.problem_type()
    assert {"invalid_request", "rate_limited", "forbidden", "too_large", "bad_range"} <= set(listed)
    _problem(client.get("/problems/no_such_problem"), 404, "not_found")


def test_rate_limit_is_a_problem_with_retry_after(tmp_path: Path) -> None:
    with _app(tmp_path, rate_limit_anonymous=1) as c:
        assert c.get("/api/features").status_code == 200
        r = c.get("/api/features")
        body = _problem(r, 429, "rate_limited")
        assert int(r.headers["retry-after"]) == body["retry_after"] >= 1
