"""Secrets out of cassettes: every credential is replaced before a cassette is written.

Known secrets (the API key, the password) are given up front; the ones the services hand out during
the conversation (session cookie, CSRF cookie, login token) are learned from the answers as they are
recorded, and replaced wherever they appear afterwards: headers, bodies, cookies.
"""

from __future__ import annotations

import json
from typing import Any

STORE_KEY = "FILTERED-STORE-KEY"
PASSWORD = "FILTERED-PASSWORD"
TOKEN = "FILTERED-TOKEN"
SESSION = "FILTERED-SESSION"
CSRF = "FILTERED-CSRF"

SECRET_HEADERS = {"authorization", "cookie", "x-csrftoken"}


class Scrubber:
    """vcrpy ``before_record_request`` and ``before_record_response`` hooks that share secrets."""

    def __init__(self, known: dict[str, str], session_cookie: str = "osessionid") -> None:
        self.secrets = dict(known)  # secret value -> placeholder
        self.session_cookie = session_cookie

    def _scrub(self, text: str) -> str:
        for secret, placeholder in self.secrets.items():
            text = text.replace(secret, placeholder)
        return text

    def _body(self, body: Any) -> Any:
        if isinstance(body, bytes):
            return self._scrub(body.decode("utf-8")).encode("utf-8")
        if isinstance(body, str):
            return self._scrub(body)
        return body

    def request(self, request: Any) -> Any:
        for name in list(request.headers):
            if name.lower() in SECRET_HEADERS:
                request.headers[name] = "FILTERED"
        request.uri = self._scrub(request.uri)
        request.body = self._body(request.body)
        return request

    def response(self, response: dict[str, Any]) -> dict[str, Any]:
        headers: dict[str, list[str]] = response["headers"]
        for name, values in headers.items():
            if name.lower() == "set-cookie":
                headers[name] = [self._cookie(v) for v in values]
        body = response["body"]["string"]
        self._learn_token(body)
        response["body"]["string"] = self._body(body)
        for name, values in headers.items():
            headers[name] = [self._scrub(v) for v in values]
            if name.lower() == "content-length":  # the placeholders changed the body's length
                headers[name] = [str(_length(response["body"]["string"]))]
        return response

    def _cookie(self, header: str) -> str:
        pair, _, attributes = header.partition(";")
        name, _, value = pair.partition("=")
        name = name.strip()
        placeholder = SESSION if name == self.session_cookie else CSRF
        if value and value not in self.secrets:
            self.secrets[value] = placeholder
        return f"{name}={placeholder};{attributes}"

    def _learn_token(self, body: Any) -> None:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
        try:
            data = json.loads(text)
        except ValueError:
            return
        if isinstance(data, dict) and isinstance(data.get("key"), str):
            self.secrets[data["key"]] = TOKEN


def _length(body: Any) -> int:
    return len(body) if isinstance(body, bytes) else len(str(body).encode("utf-8"))
