"""The OpenAPI document: valid, complete, and true to the running app."""

from __future__ import annotations

import re

import pytest
from openapi_spec_validator import validate

API_PREFIX = "/api/v1"
WRITE_METHODS = {"post", "put", "patch", "delete"}
PUBLIC_OPERATIONS = {
    ("post", "/api/v1/auth/register"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/refresh"),
}
MAINTENANCE_EXEMPT = {
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/refresh"),
    ("post", "/api/v1/auth/logout"),
    ("put", "/api/v1/admin/flags/{name}"),
}
# Writes that take no body.
BODYLESS = {
    ("post", "/api/v1/auth/logout"),
    ("post", "/api/v1/jobs/{job_id}/cancel"),
    (
        "post",
        "/api/v1/projects/{project_id}/workspaces/{workspace_id}/documents/{document_id}"
        "/versions/{version_id}/restore",
    ),
    ("post", "/api/v1/links/{token}/join"),
}
# Operations with two success answers: 201 (a membership created) or 200 (an existing one).
TWO_SUCCESSES = {("post", "/api/v1/links/{token}/join"): ["200", "201"]}
CONVERTER = re.compile(r"<(?:(?P<converter>[^:<>]+):)?(?P<name>[^<>]+)>")
ERROR_REF = "#/components/schemas/Error"


@pytest.fixture(scope="module")
def spec(app) -> dict:
    response = app.test_client().get("/api/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


def operations(spec: dict):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in {"get", "put", "post", "patch", "delete"}:
                yield method, path, operation


def resolve(spec: dict, obj: dict) -> dict:
    while "$ref" in obj:
        node = spec
        for part in obj["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        obj = node
    return obj


def body_schema(spec: dict, method: str, path: str) -> dict:
    body = spec["paths"][path][method]["requestBody"]
    return resolve(spec, body["content"]["application/json"]["schema"])


def openapi_path(rule: str) -> str:
    return CONVERTER.sub(lambda m: "{" + m["name"] + "}", rule)


def api_routes(app) -> set[tuple[str, str]]:
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(API_PREFIX):
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                routes.add((method.lower(), openapi_path(rule.rule)))
    return routes


def test_the_document_is_valid_openapi_3(spec):
    validate(spec)
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["title"] == "collab"
    assert spec["info"]["version"] == "v1"


def test_every_api_route_is_documented_and_nothing_else(app, spec):
    documented = {(method, path) for method, path, _ in operations(spec)}
    routes = api_routes(app)
    assert len(routes) >= 30
    assert routes - documented == set(), "routes missing from the document"
    assert documented - routes == set(), "documented operations the app does not serve"


def test_path_parameters_are_documented_with_their_types(app, spec):
    converters = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(API_PREFIX):
            for match in CONVERTER.finditer(rule.rule):
                converters[(openapi_path(rule.rule), match["name"])] = match["converter"]
    assert converters
    for (path, name), converter in converters.items():
        item = spec["paths"][path]
        params = item.get("parameters", [])
        for method, operation in item.items():
            if method != "parameters":
                params = params + operation.get("parameters", [])
        param = next(p for p in map(lambda p: resolve(spec, p), params) if p["name"] == name)
        assert param["in"] == "path" and param["required"] is True
        if converter == "uuid":
            assert param["schema"] == {"type": "string", "format": "uuid"}


def test_bearer_security_scheme(spec):
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    for method, path, operation in operations(spec):
        if (method, path) in PUBLIC_OPERATIONS:
            assert not operation.get("security"), (method, path)
        else:
            assert operation.get("security") == [{"bearerAuth": []}], (method, path)


def test_documented_security_matches_behaviour(spec, client):
    """An anonymous call is refused with 401 exactly where the document asks for a token."""
    ids = {
        "project_id",
        "workspace_id",
        "document_id",
        "version_id",
        "user_id",
        "session_id",
        "job_id",
        "link_id",
    }
    for method, path, operation in operations(spec):
        url = path.replace("{name}", "maintenance_mode")
        for name in ids:
            url = url.replace("{" + name + "}", "00000000-0000-4000-8000-000000000000")
        kwargs = {"json": {}} if method in {"post", "put", "patch"} else {}
        response = getattr(client, method)(url, **kwargs)
        if operation.get("security"):
            assert response.status_code == 401, (method, path, response.json)
        else:
            assert response.status_code == 422, (method, path, response.json)


def test_request_bodies_have_json_schemas(spec):
    bodies = 0
    for method, path, operation in operations(spec):
        if method in {"post", "put", "patch"} and (method, path) not in BODYLESS:
            body = operation.get("requestBody")
            assert body is not None, (method, path)
            assert body["required"] is True, (method, path)
        body = operation.get("requestBody")
        if body is None:
            continue
        bodies += 1
        schema = resolve(spec, body["content"]["application/json"]["schema"])
        assert schema["type"] == "object" and schema["properties"], (method, path)
        # Unknown fields are rejected, and the document says so.
        assert schema["additionalProperties"] is False, (method, path)
    assert bodies >= 15


def test_request_schemas_carry_the_validation_rules(spec):
    schemas = spec["components"]["schemas"]
    register = schemas["Register"]
    assert set(register["required"]) == {"email", "username", "password"}
    assert register["properties"]["username"]["pattern"] == "^[A-Za-z0-9_.-]{3,32}$"
    assert register["properties"]["password"]["minLength"] == 8
    assert register["properties"]["password"]["maxLength"] == 256
    assert register["properties"]["password"]["writeOnly"] is True
    create = body_schema(spec, "post", "/api/v1/projects")
    assert create["required"] == ["name"]
    name = create["properties"]["name"]
    assert (name["minLength"], name["maxLength"]) == (1, 100)
    assert create["properties"]["description"]["maxLength"] == 2000
    assert create["properties"]["is_public"]["type"] == "boolean"
    flag_update = body_schema(spec, "put", "/api/v1/admin/flags/{name}")
    assert flag_update["properties"]["enabled"]["type"] == "boolean"
    assert flag_update["required"] == ["enabled"]


def test_success_responses_have_json_schemas(spec):
    for method, path, operation in operations(spec):
        success = sorted(code for code in operation["responses"] if code.startswith("2"))
        assert len(success) == 1 or success == TWO_SUCCESSES.get((method, path)), (method, path)
        for code in success:
            response = resolve(spec, operation["responses"][code])
            schema = resolve(spec, response["content"]["application/json"]["schema"])
            if schema.get("type") == "array":
                schema = resolve(spec, schema["items"])
            assert schema["properties"], (method, path)
    created = spec["paths"]["/api/v1/projects"]["post"]["responses"]["201"]
    project = resolve(spec, created["content"]["application/json"]["schema"])
    assert {"id", "name", "description", "is_public", "owner_id", "created_at"} <= set(
        project["properties"]
    )
    login = spec["paths"]["/api/v1/auth/login"]["post"]["responses"]["200"]
    token = resolve(spec, login["content"]["application/json"]["schema"])
    assert {"access_token", "refresh_token", "token_type", "expires_in"} <= set(token["properties"])


def error_responses(spec: dict, operation: dict) -> dict[str, dict]:
    return {
        code: resolve(spec, response)
        for code, response in operation["responses"].items()
        if not code.startswith("2")
    }


def test_every_error_response_uses_the_error_schema(spec):
    error = spec["components"]["schemas"]["Error"]
    assert set(error["properties"]) == {"code", "status", "message", "errors"}
    for method, path, operation in operations(spec):
        errors = error_responses(spec, operation)
        assert "default" in errors, (method, path)
        for code, response in errors.items():
            assert response["description"], (method, path, code)
            schema = response["content"]["application/json"]["schema"]
            assert schema == {"$ref": ERROR_REF}, (method, path, code)


def expected_errors(method: str, path: str, operation: dict) -> set[str]:
    """The error statuses an operation can answer, from the contract's rules."""
    where = (method, path)
    codes = {"429"}  # every API route is rate limited
    if operation.get("security"):
        codes.add("401")
    if "requestBody" in operation:
        codes |= {"400", "413", "415", "422"}
    if method in WRITE_METHODS and where not in MAINTENANCE_EXEMPT:
        codes.add("503")
    if "{project_id}" in path:
        codes.add("404")
        if method in {"put", "patch", "delete"}:
            codes.add("403")
    if path.startswith("/api/v1/admin"):
        codes.add("403")
    return codes


def test_the_errors_each_operation_can_give_are_documented(spec):
    for method, path, operation in operations(spec):
        codes = set(operation["responses"])
        missing = expected_errors(method, path, operation) - codes
        assert not missing, (method, path, missing)
        if (method, path) in MAINTENANCE_EXEMPT:
            assert "503" not in codes, (method, path)


def test_specific_error_responses(spec):
    paths = spec["paths"]
    assert "409" in paths["/api/v1/auth/register"]["post"]["responses"]
    assert "401" in paths["/api/v1/auth/login"]["post"]["responses"]
    assert "412" in paths["/api/v1/projects/{project_id}"]["patch"]["responses"]
    assert "409" in paths["/api/v1/projects/{project_id}/collaborators"]["post"]["responses"]
    assert "404" in paths["/api/v1/admin/flags/{name}"]["put"]["responses"]
    throttled = resolve(spec, paths["/api/v1/auth/login"]["post"]["responses"]["429"])
    assert {"Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining"} <= set(
        throttled["headers"]
    )


def test_a_views_own_429_or_503_keeps_its_reason_and_gains_the_request_rules(spec):
    """Views key their answers by number, the request-wide rules by text: neither may
    silently replace the other in the JSON."""
    jobs = spec["paths"]["/api/v1/jobs"]["post"]["responses"]
    assert "Too many unfinished jobs" in jobs["429"]["description"]
    assert "Rate limit exceeded" in jobs["429"]["description"]
    assert "Retry-After" in jobs["429"]["headers"]
    versions = spec["paths"][
        "/api/v1/projects/{project_id}/workspaces/{workspace_id}/documents/{document_id}/versions"
    ]["post"]["responses"]
    assert "cannot be read right now" in versions["503"]["description"]
    assert "Maintenance mode" in versions["503"]["description"]
