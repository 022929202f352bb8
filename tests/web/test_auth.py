def test_pages_need_login(client):
    res = client.get("/")
    assert res.status_code == 302
    assert "/login" in res.headers["Location"]


def test_login_and_logout(app, client, make):
    make.staff(email="ann@example.com", password="correct-horse-1")
    res = client.post("/login", data={"email": "ann@example.com", "password": "correct-horse-1"})
    assert res.status_code == 302
    home = client.get("/")
    assert home.status_code == 200
    assert b"ann" in home.data
    client.post("/logout")
    assert client.get("/").status_code == 302


def test_wrong_password_is_refused_and_rate_limited(app, client, make):
    make.staff(email="bob@example.com", password="correct-horse-1")
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        res = client.post("/login", data={"email": "bob@example.com", "password": "nope-nope"})
        assert res.status_code == 401
        assert b"do not match" in res.data
    # Even the right password is refused while locked out.
    res = client.post("/login", data={"email": "bob@example.com", "password": "correct-horse-1"})
    assert res.status_code == 429
    assert b"Too many failed" in res.data
    assert client.get("/").status_code == 302


def test_next_parameter_cannot_redirect_off_site(app, client, make):
    make.staff(email="cy@example.com", password="correct-horse-1")
    res = client.post("/login?next=//evil.example/x",
                      data={"email": "cy@example.com", "password": "correct-horse-1"})
    assert res.headers["Location"] == "/"
