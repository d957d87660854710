"""CORS: browsers on the configured origins may call the API; others get no CORS grant."""


def test_only_configured_origins_are_granted(app, make_app):
    client = make_app(
        CORS_ORIGINS="https://app.example.com, https://admin.example.com"
    ).test_client()
    preflight = client.options(
        "/api/v1/projects",
        headers={
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Content-Type",
        },
    )
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert (
        "ETag"
        in client.get("/health", headers={"Origin": "https://admin.example.com"}).headers[
            "Access-Control-Expose-Headers"
        ]
    )
    foreign = client.get("/health", headers={"Origin": "https://evil.example.com"})
    assert "Access-Control-Allow-Origin" not in foreign.headers


def test_no_origin_is_granted_by_default(client):
    response = client.get("/health", headers={"Origin": "https://app.example.com"})
    assert "Access-Control-Allow-Origin" not in response.headers
