"""The yt-dlp cookies credential: Netscape format validated, 1 MB cap, never shown back."""

from __future__ import annotations

COOKIES = (
    "# Netscape HTTP Cookie File\n"
    ".example.com\tTRUE\t/\tTRUE\t2145916800\tSID\tcookie-secret-value-1\n"
    "#HttpOnly_.example.com\tTRUE\t/\tFALSE\t0\tHSID\tcookie-secret-value-2\n"
)


def test_cookies_round_trip_without_showing_them(client, settings, caplog):
    response = client.put(
        "/api/credentials/cookies", data=COOKIES, headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 200
    listed = {i["kind"]: i for i in client.get("/api/credentials").get_json()}
    assert listed["cookies"]["configured"] is True
    for text in (response.get_data(as_text=True), str(listed), caplog.text):
        assert "cookie-secret-value" not in text
    assert client.delete("/api/credentials/cookies").status_code == 204
    assert client.get("/api/credentials").get_json()[1]["configured"] is False


def test_malformed_cookies_are_refused_with_the_line(client, settings):
    bad = "# Netscape HTTP Cookie File\n.example.com\tTRUE\t/\tMAYBE\t0\tSID\tv\n"
    response = client.put("/api/credentials/cookies", data=bad)
    body = response.get_json()
    assert response.status_code == 400 and body["error"]["details"]["line"] == 2
    assert client.put("/api/credentials/cookies", data="# only comments\n").status_code == 400
    assert client.put("/api/credentials/cookies", data=b"\xff\xfe").status_code == 400


def test_cookies_over_one_megabyte_are_413(client, settings):
    line = ".example.com\tTRUE\t/\tFALSE\t0\tSID\t" + "v" * 1000 + "\n"
    response = client.put("/api/credentials/cookies", data=line * 1100)
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"
