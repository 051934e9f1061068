"""The JSON API keeps the contract /openapi.json states (issue 12, item 9): a schema-driven
fuzzer (schemathesis) sends generated requests, valid and invalid, to every route in the
schema, anonymously and with a reviewer's session, and checks each answer: no server error,
only documented statuses, bodies and content types as declared, schema-valid requests
accepted and invalid ones refused. Bounded and derandomized: the same cases every run."""

from __future__ import annotations

import atexit
import base64
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from .conftest import login, make_client
from .fixtures import make_audit, synthetic_image

schemathesis = pytest.importorskip("schemathesis")

# schemathesis reads the schema when this module is imported, so the app exists by then
_root = Path(tempfile.mkdtemp(prefix="cg-contract-"))
atexit.register(shutil.rmtree, _root, True)
_client = make_client(make_audit(_root))
_csrf = login(_client)
_cookie = "; ".join(f"{k}={v}" for k, v in _client.cookies.items())
schema = schemathesis.openapi.from_asgi("/openapi.json", _client.app)
# a photo must be an image, which no schema can say: valid cases carry a real (drawn) one
_PHOTO = base64.b64encode(synthetic_image(7)).decode("ascii")

FUZZ = settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def _with_photo(case: Any) -> None:
    body = case.body
    if (
        case.meta.generation.mode.is_positive
        and isinstance(body, dict)
        and body.get("photo_base64")
    ):
        body["photo_base64"] = _PHOTO


@schema.include(path_regex="^/api/").parametrize()
@FUZZ
def test_public_routes_keep_their_contract(case: Any) -> None:
    _with_photo(case)
    case.call_and_validate()


@schema.include(path_regex="^/review/").parametrize()
@FUZZ
def test_reviewer_routes_keep_their_contract_signed_in(case: Any) -> None:
    case.call_and_validate(headers={"Cookie": _cookie, "X-CSRF-Token": _csrf})


@schema.include(path_regex="^/review/").parametrize()
@settings(FUZZ, max_examples=10)
def test_reviewer_routes_keep_their_contract_signed_out(case: Any) -> None:
    case.call_and_validate()


def test_a_second_lifespan_still_matches(tmp_path: Path) -> None:
    # schemathesis ends the app's lifespan after each test and starts it again on the next
    # call; so may a server: the matcher's worker must come back with it
    from fastapi.testclient import TestClient

    from .conftest import drain

    app = make_client(make_audit(tmp_path)).app
    with TestClient(app):
        pass
    with TestClient(app) as again:
        r = again.post(
            "/api/requests",
            json={
                "urls": ["https://example.org/img/maria-clara-1.jpg"],
                "contact": "guardian@example.org",
                "relationship": "parent",
                "declaration": True,
            },
        )
        assert r.status_code == 201, r.text
        drain(again)
