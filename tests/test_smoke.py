def test_register_login_and_create_project(client):
    r = client.post(
        "/api/v1/auth/register",
        json={"email": "A@Example.com", "username": "ann", "password": "longenough"},
    )
    assert r.status_code == 201, r.json
    assert r.json["email"] == "a@example.com"
    r = client.post("/api/v1/auth/login", json={"email": "a@example.com", "password": "longenough"})
    assert r.status_code == 200, r.json
    h = {"Authorization": f"Bearer {r.json['access_token']}"}
    r = client.post("/api/v1/projects", json={"name": "P"}, headers=h)
    assert r.status_code == 201, r.json
    pid = r.json["id"]
    r = client.get(f"/api/v1/projects/{pid}", headers=h)
    assert r.status_code == 200, r.json
    assert r.json["role"] == "owner"
    r = client.get("/api/v1/projects", headers=h)
    assert r.status_code == 200 and r.headers["X-Total-Count"] == "1"
