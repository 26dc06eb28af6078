"""The Akinon Commerce sandbox answers as the vendor document and Django REST Framework do."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from slugify import slugify
from starlette.applications import Starlette

from collsync.sandbox.commerce import create_commerce_app
from collsync.sandbox.data import (
    AKINON_EMAIL,
    AKINON_PASSWORD,
    OTHER_EMAIL,
    OTHER_PASSWORD,
    CommerceSeed,
    SeedSpec,
    akinon_product,
    generate,
)
from collsync.sandbox.server import serve_in_thread
from collsync.sandbox.transport import SandboxTransport

from . import commerce_examples as doc

COLLECTIONS = "/wishlists/user-collections/"
ITEMS = "/wishlists/user-collection-items/"
SLUG = re.compile(r"^(?P<base>[a-z0-9-]+)-(?P<suffix>[0-9a-f]{32})$")
NULLABLE = {"public_url", "next", "previous"}
"""Keys the document shows both with a value and as null."""
FREE_FORM = {"attributes", "attributes_kwargs", "extra_attributes"}
"""Product maps whose keys depend on the product."""
CREATED_DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z$")


def assert_same_shape(actual: Any, example: Any, where: str = "body") -> None:
    """Same keys and value types as the example, all the way down.

    Products may carry more keys than an example shows (the document's examples disagree with
    each other there), product attribute maps only have to be maps, and an empty list on either
    side only has to be a list.
    """
    if where.rsplit(".", 1)[-1] in NULLABLE and None in (actual, example):
        return
    assert type(actual) is type(example), f"{where}: {actual!r} is not like {example!r}"
    if isinstance(example, dict) and where.rsplit(".", 1)[-1] not in FREE_FORM:
        missing = example.keys() - actual.keys()
        extra = actual.keys() - example.keys()
        assert not missing, f"{where}: missing {sorted(missing)}"
        assert not extra or where.endswith(".product"), f"{where}: unexpected {sorted(extra)}"
        for key, value in example.items():
            assert_same_shape(actual[key], value, f"{where}.{key}")
    elif isinstance(example, list) and example and actual:
        for n, element in enumerate(actual):
            assert_same_shape(element, example[0], f"{where}[{n}]")


def doc_seed() -> CommerceSeed:
    """The document's products, two users, and no collection yet (so the first one is pk 1)."""
    return CommerceSeed(
        users={AKINON_EMAIL: AKINON_PASSWORD, OTHER_EMAIL: OTHER_PASSWORD},
        products=[*doc.DOC_PRODUCTS, akinon_product(77, "SKU-77", "Kahve Fincanı")],
    )


def client_for(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=SandboxTransport(app), base_url="http://commerce")


async def log_in(
    client: httpx.AsyncClient, email: str = AKINON_EMAIL, password: str = AKINON_PASSWORD
) -> str:
    """Session login; later unsafe requests carry the CSRF header. Returns the token."""
    response = await client.post("/users/login/", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    client.headers["X-CSRFToken"] = client.cookies["csrftoken"]
    return str(response.json()["key"])


async def create(client: httpx.AsyncClient, name: str, status: str | None = None) -> Any:
    body = {"name": name} if status is None else {"name": name, "status": status}
    response = await client.post(COLLECTIONS, json=body)
    assert response.status_code == 201, response.text
    return response.json()["results"][0]


@pytest.fixture
def app() -> Starlette:
    return create_commerce_app(generate(SeedSpec(collections=5, products=20)).commerce)


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as c:
        await log_in(c)
        yield c


@pytest.fixture
def doc_app() -> Starlette:
    return create_commerce_app(doc_seed())


@pytest.fixture
async def doc_client(doc_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(doc_app) as c:
        await log_in(c)
        yield c


def product_pks(app: Starlette) -> list[int]:
    return list(app.state.sandbox.data.products)


# -- the document's examples --------------------------------------------------------------------


async def test_create_answers_the_documented_list_envelope(doc_client: httpx.AsyncClient) -> None:
    first = await doc_client.post(COLLECTIONS, json={"name": "Older"})
    response = await doc_client.post(COLLECTIONS, json=doc.CREATE_REQUEST)

    assert response.status_code == 201
    body = response.json()
    assert_same_shape(body, doc.CREATE_RESPONSE)
    assert body["count"] == 2
    new, old = body["results"]
    assert (new["name"], new["status"]) == ("Test Collection", "public")
    assert old["pk"] == first.json()["results"][0]["pk"] < new["pk"]
    assert new["public_url"] == f"/wishlists/user-collection/{new['slug']}/"


async def test_created_slug_is_the_name_slug_with_a_random_suffix(
    doc_client: httpx.AsyncClient,
) -> None:
    one = await create(doc_client, "Yaz İndirimi Seçkisi")
    two = await create(doc_client, "Yaz İndirimi Seçkisi")

    match = SLUG.match(one["slug"])
    assert match is not None, one["slug"]
    assert match["base"] == slugify("Yaz İndirimi Seçkisi") == "yaz-indirimi-seckisi"
    assert one["slug"] != two["slug"]  # duplicate names are allowed; slugs stay unique


async def test_slug_suffixes_replay_with_the_same_slug_seed() -> None:
    slugs = []
    for slug_seed in (7, 7, 8):
        async with client_for(create_commerce_app(doc_seed(), slug_seed=slug_seed)) as c:
            await log_in(c)
            slugs.append((await create(c, "Kış"))["slug"])
    assert slugs[0] == slugs[1] != slugs[2]


async def test_create_can_answer_the_plain_object() -> None:
    app = create_commerce_app(doc_seed(), create_response="object")
    async with client_for(app) as c:
        await log_in(c)
        response = await c.post(COLLECTIONS, json=doc.CREATE_REQUEST)
    assert response.status_code == 201
    assert_same_shape(response.json(), doc.RETRIEVE_RESPONSE)
    assert response.json()["name"] == "Test Collection"


async def test_list_matches_the_documented_example(doc_client: httpx.AsyncClient) -> None:
    await create(doc_client, "Test Collection")  # status defaults to private

    response = await doc_client.get(COLLECTIONS)

    assert response.status_code == 200
    assert_same_shape(response.json(), doc.LIST_RESPONSE)
    only = response.json()["results"][0]
    assert (only["pk"], only["status"], only["public_url"]) == (1, "private", None)


async def test_patch_and_retrieve_match_the_documented_examples(
    doc_client: httpx.AsyncClient,
) -> None:
    created = await create(doc_client, "Test Collection")

    patched = await doc_client.patch(f"{COLLECTIONS}{created['pk']}/", json=doc.PATCH_REQUEST)
    retrieved = await doc_client.get(f"{COLLECTIONS}{created['pk']}/")

    assert patched.status_code == 200
    assert_same_shape(patched.json(), doc.PATCH_RESPONSE)
    assert (patched.json()["name"], patched.json()["status"]) == ("Public Collection", "public")
    assert patched.json()["slug"] == created["slug"]  # a rename keeps the slug
    assert retrieved.status_code == 200
    assert_same_shape(retrieved.json(), doc.RETRIEVE_RESPONSE)
    assert retrieved.json() == patched.json()


async def test_add_item_matches_the_documented_example(doc_client: httpx.AsyncClient) -> None:
    await create(doc_client, "Test Collection")

    response = await doc_client.post(ITEMS, json=doc.ADD_ITEM_REQUEST)

    assert response.status_code == 201
    body = response.json()
    assert_same_shape(body, doc.ADD_ITEM_RESPONSE)
    assert body["product"]["name"] == "2-Li Aile Çerçevesi 13x18cm"
    assert body["note"] == "Test Note"
    assert CREATED_DATE.match(body["created_date"]), body["created_date"]
    # Inside a collection, an item looks like the create example's item (same product there).
    other = {"product_id": 10, "usercollection_id": 1, "note": "Product note 1"}
    assert (await doc_client.post(ITEMS, json=other)).status_code == 201
    items = (await doc_client.get(f"{COLLECTIONS}1/")).json()["items"]
    assert [i["product"]["pk"] for i in items] == [3239, 10]
    assert items[0]["pk"] == body["pk"]
    assert_same_shape(items[1], doc.CREATE_RESPONSE["results"][0]["items"][0])


async def test_remove_item_answers_204_and_the_item_is_gone(
    doc_client: httpx.AsyncClient,
) -> None:
    await create(doc_client, "Test Collection")
    item = (await doc_client.post(ITEMS, json=doc.ADD_ITEM_REQUEST)).json()

    removed = await doc_client.delete(f"{ITEMS}{item['pk']}/")
    again = await doc_client.delete(f"{ITEMS}{item['pk']}/")

    assert (removed.status_code, removed.content) == (204, b"")
    assert (await doc_client.get(f"{COLLECTIONS}1/")).json()["items"] == []
    assert again.status_code == 404


async def test_delete_collection_answers_204_and_forgets_it(doc_client: httpx.AsyncClient) -> None:
    created = await create(doc_client, "Gidecek", "public")
    await doc_client.post(ITEMS, json={"product_id": 10, "usercollection_id": created["pk"]})

    deleted = await doc_client.delete(f"{COLLECTIONS}{created['pk']}/")

    assert (deleted.status_code, deleted.content) == (204, b"")
    assert (await doc_client.get(f"{COLLECTIONS}{created['pk']}/")).status_code == 404
    assert (await doc_client.get(created["public_url"])).status_code == 404
    assert (await doc_client.get(COLLECTIONS, params={"product_id": 10})).json()["count"] == 0


async def test_public_collection_by_slug_needs_no_login(
    doc_app: Starlette, doc_client: httpx.AsyncClient
) -> None:
    created = await create(doc_client, "Test Coll", "public")
    await doc_client.post(
        ITEMS, json={"product_id": 30, "usercollection_id": created["pk"], "note": "test note"}
    )

    async with client_for(doc_app) as anonymous:
        response = await anonymous.get(created["public_url"])

    assert response.status_code == 200
    assert_same_shape(response.json(), doc.PUBLIC_RESPONSE)
    assert response.json()["items"][0]["product"]["pk"] == 30


async def test_private_or_unknown_public_slug_is_not_found(doc_client: httpx.AsyncClient) -> None:
    created = await create(doc_client, "Gizli")

    private = await doc_client.get(f"/wishlists/user-collection/{created['slug']}/")
    unknown = await doc_client.get("/wishlists/user-collection/no-such-slug/")

    assert (private.status_code, private.json()) == (404, {"detail": "Not found."})
    assert (unknown.status_code, unknown.json()) == (404, {"detail": "Not found."})


# -- login, authentication, CSRF ------------------------------------------------------------------


async def test_login_answers_a_token_and_sets_session_and_csrf_cookies(app: Starlette) -> None:
    async with client_for(app) as c:
        response = await c.post(
            "/users/login/", json={"email": AKINON_EMAIL, "password": AKINON_PASSWORD}
        )
    assert response.status_code == 200
    assert re.fullmatch(r"[0-9a-f]{40}", response.json()["key"])
    cookies = {h.split("=", 1)[0]: h for h in response.headers.get_list("set-cookie")}
    assert set(cookies) == {"osessionid", "csrftoken"}
    assert "HttpOnly" in cookies["osessionid"]
    assert "HttpOnly" not in cookies["csrftoken"]  # scripts must read it to send X-CSRFToken


async def test_login_accepts_form_data_and_a_custom_session_cookie() -> None:
    app = create_commerce_app(doc_seed(), session_cookie="sessionid")
    async with client_for(app) as c:
        response = await c.post(
            "/users/login/", data={"email": AKINON_EMAIL, "password": AKINON_PASSWORD}
        )
        listed = await c.get(COLLECTIONS)
    assert response.status_code == 200
    assert "sessionid" in c.cookies
    assert "osessionid" not in c.cookies
    assert listed.status_code == 200


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"email": AKINON_EMAIL, "password": "wrong"},
            {"non_field_errors": ["Unable to log in with provided credentials."]},
        ),
        ({"password": AKINON_PASSWORD}, {"email": ["This field is required."]}),
        (
            {},
            {"email": ["This field is required."], "password": ["This field is required."]},
        ),
    ],
)
async def test_login_refusals(app: Starlette, body: dict[str, str], expected: Any) -> None:
    async with client_for(app) as c:
        response = await c.post("/users/login/", json=body)
    assert (response.status_code, response.json()) == (400, expected)
    assert "osessionid" not in response.cookies


async def test_no_credentials_answers_401_with_a_token_challenge(app: Starlette) -> None:
    async with client_for(app) as c:
        response = await c.get(COLLECTIONS)
    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication credentials were not provided."}
    assert response.headers["WWW-Authenticate"] == "Token"


async def test_unknown_token_or_session_answers_401(app: Starlette) -> None:
    async with client_for(app) as c:
        token = await c.get(COLLECTIONS, headers={"Authorization": "Token " + "0" * 40})
        c.cookies.set("osessionid", "not-a-session")
        session = await c.get(COLLECTIONS)
    assert (token.status_code, token.json()) == (401, {"detail": "Invalid token."})
    assert token.headers["WWW-Authenticate"] == "Token"
    assert session.status_code == 401
    assert session.json() == {"detail": "Authentication credentials were not provided."}


async def test_token_authentication_needs_no_csrf(app: Starlette) -> None:
    async with client_for(app) as c:
        key = await log_in(c)
    async with client_for(app) as fresh:  # no cookies at all
        headers = {"Authorization": f"Token {key}"}
        response = await fresh.post(COLLECTIONS, json={"name": "Token ile"}, headers=headers)
    assert response.status_code == 201
    assert response.json()["results"][0]["name"] == "Token ile"


@pytest.mark.parametrize(
    ("header", "detail"),
    [
        (None, "CSRF Failed: CSRF token missing."),
        ("wrong-token", "CSRF Failed: CSRF token incorrect."),
    ],
)
async def test_session_writes_need_the_csrf_header(
    client: httpx.AsyncClient, header: str | None, detail: str
) -> None:
    del client.headers["X-CSRFToken"]
    headers = {} if header is None else {"X-CSRFToken": header}

    refused = await client.post(COLLECTIONS, json={"name": "CSRF"}, headers=headers)
    read = await client.get(COLLECTIONS)  # safe methods need no CSRF

    assert (refused.status_code, refused.json()) == (403, {"detail": detail})
    assert read.status_code == 200
    assert read.json()["count"] == 0  # the refused write created nothing


# -- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, {"name": ["This field is required."]}),
        ({"name": "   "}, {"name": ["This field may not be blank."]}),
        ({"name": None}, {"name": ["This field may not be null."]}),
        ({"name": "x" * 256}, {"name": ["Ensure this field has no more than 255 characters."]}),
        ({"name": "ok", "status": "hidden"}, {"status": ['"hidden" is not a valid choice.']}),
        (
            {"name": "", "status": "x"},
            {"name": ["This field may not be blank."], "status": ['"x" is not a valid choice.']},
        ),
    ],
)
async def test_create_validation_messages(
    client: httpx.AsyncClient, body: dict[str, Any], expected: Any
) -> None:
    response = await client.post(COLLECTIONS, json=body)
    assert (response.status_code, response.json()) == (400, expected)


async def test_create_keeps_a_255_character_name_and_defaults_to_private(
    client: httpx.AsyncClient,
) -> None:
    created = await create(client, "ş" * 255)
    assert (created["name"], created["status"], created["public_url"]) == (
        "ş" * 255,
        "private",
        None,
    )


async def test_patch_validates_like_create_and_changes_only_what_it_is_sent(
    client: httpx.AsyncClient,
) -> None:
    created = await create(client, "Eski Ad", "public")
    url = f"{COLLECTIONS}{created['pk']}/"

    blank = await client.patch(url, json={"name": ""})
    bad_status = await client.patch(url, json={"status": "secret"})
    renamed = await client.patch(url, json={"name": "Yeni Ad"})

    assert (blank.status_code, blank.json()) == (400, {"name": ["This field may not be blank."]})
    assert bad_status.json() == {"status": ['"secret" is not a valid choice.']}
    assert renamed.status_code == 200
    assert (renamed.json()["name"], renamed.json()["status"]) == ("Yeni Ad", "public")


async def test_add_item_refusals(app: Starlette, client: httpx.AsyncClient) -> None:
    created = await create(client, "Ürünler")
    product = product_pks(app)[0]
    ok = {"product_id": product, "usercollection_id": created["pk"]}
    assert (await client.post(ITEMS, json=ok)).status_code == 201

    cases: list[tuple[dict[str, Any], Any]] = [
        (ok, {"non_field_errors": ["This product is already in the collection."]}),
        (
            {**ok, "product_id": 999999},
            {"product_id": ['Invalid pk "999999" - object does not exist.']},
        ),
        (
            {},
            {
                "product_id": ["This field is required."],
                "usercollection_id": ["This field is required."],
            },
        ),
        ({**ok, "product_id": "abc"}, {"product_id": ["A valid integer is required."]}),
        ({**ok, "usercollection_id": 1.5}, {"usercollection_id": ["A valid integer is required."]}),
    ]
    for body, expected in cases:
        response = await client.post(ITEMS, json=body)
        assert (response.status_code, response.json()) == (400, expected), body


async def test_item_note_is_optional_and_a_numeric_string_id_is_accepted(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    created = await create(client, "Notsuz")
    product = product_pks(app)[1]

    response = await client.post(
        ITEMS, json={"product_id": str(product), "usercollection_id": created["pk"]}
    )

    assert response.status_code == 201
    assert (response.json()["note"], response.json()["product"]["pk"]) == ("", product)


# -- owner scoping --------------------------------------------------------------------------------


async def test_other_users_collections_are_invisible(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    theirs = [c.pk for c in app.state.sandbox.data.collections.values() if c.owner == OTHER_EMAIL]
    assert theirs, "the seed gives the other user collections"
    pk = theirs[0]

    listed = await client.get(COLLECTIONS)
    retrieved = await client.get(f"{COLLECTIONS}{pk}/")
    patched = await client.patch(f"{COLLECTIONS}{pk}/", json={"name": "Benim"})
    deleted = await client.delete(f"{COLLECTIONS}{pk}/")
    added = await client.post(
        ITEMS, json={"product_id": product_pks(app)[5], "usercollection_id": pk}
    )

    assert listed.json()["count"] == 0
    for response in (retrieved, patched, deleted):
        assert (response.status_code, response.json()) == (404, {"detail": "Not found."})
    assert added.status_code == 400
    assert added.json() == {"usercollection_id": [f'Invalid pk "{pk}" - object does not exist.']}
    async with client_for(app) as other:
        await log_in(other, OTHER_EMAIL, OTHER_PASSWORD)
        mine = await other.get(f"{COLLECTIONS}{pk}/")
        their_item = mine.json()["items"][0]["pk"]
        assert mine.json()["name"] != "Benim"
    assert (await client.delete(f"{ITEMS}{their_item}/")).status_code == 404


async def test_seeded_collections_belong_to_their_owners() -> None:
    app = create_commerce_app()  # the default seed
    async with client_for(app) as other:
        await log_in(other, OTHER_EMAIL, OTHER_PASSWORD)
        body = (await other.get(COLLECTIONS)).json()
    assert body["count"] == 2
    names = {c["name"] for c in body["results"]}
    assert "Doğum Günü Listesi" in names
    with_items = [c for c in body["results"] if c["items"]]
    assert [len(c["items"]) for c in with_items] == [2]
    assert with_items[0]["items"][0]["note"] == "beğendim"


# -- listing: pages, filters ------------------------------------------------------------------


async def test_walking_next_with_an_oversized_page_size_returns_each_collection_once() -> None:
    app = create_commerce_app(doc_seed(), max_page_size=10)
    async with client_for(app) as c:
        await log_in(c)
        for n in range(45):
            await create(c, f"Liste {n}")
        await create(c, "Başka")
        url: str | None = f"{COLLECTIONS}?search=LISTE&page_size=1000"
        seen: list[int] = []
        pages = 0
        while url is not None:
            body = (await c.get(url)).json()
            assert len(body["results"]) <= 10
            assert body["count"] == 45
            seen += [r["pk"] for r in body["results"]]
            url, pages = body["next"], pages + 1
    assert pages == 5
    assert seen == sorted(seen, reverse=True)  # newest first
    assert len(set(seen)) == 45


async def test_page_links_are_absolute_and_keep_other_parameters(
    client: httpx.AsyncClient,
) -> None:
    for n in range(3):
        await create(client, f"Sayfa {n}")

    second = (await client.get(COLLECTIONS, params={"page_size": 1, "page": 2})).json()
    last = (await client.get(COLLECTIONS, params={"page_size": 1, "page": "last"})).json()

    assert second["next"] == "http://commerce/wishlists/user-collections/?page=3&page_size=1"
    assert second["previous"] == "http://commerce/wishlists/user-collections/?page_size=1"
    assert last["next"] is None
    assert last["results"][0]["name"] == "Sayfa 0"


@pytest.mark.parametrize("page", ["0", "9", "abc"])
async def test_invalid_page_is_not_found(client: httpx.AsyncClient, page: str) -> None:
    await create(client, "Tek")
    response = await client.get(COLLECTIONS, params={"page": page})
    assert (response.status_code, response.json()) == (404, {"detail": "Invalid page."})


async def test_an_empty_list_has_a_first_page(client: httpx.AsyncClient) -> None:
    response = await client.get(COLLECTIONS, params={"page": 1})
    assert response.json() == {"count": 0, "next": None, "previous": None, "results": []}


async def test_search_and_product_filters(app: Starlette, client: httpx.AsyncClient) -> None:
    shoes = await create(client, "Çocuk Ayakkabıları")
    await create(client, "Kış Koleksiyonu")
    product = product_pks(app)[3]
    await client.post(ITEMS, json={"product_id": product, "usercollection_id": shoes["pk"]})

    found = (await client.get(COLLECTIONS, params={"search": "ayakkabı"})).json()
    by_product = (await client.get(COLLECTIONS, params={"product_id": product})).json()
    both = (await client.get(COLLECTIONS, params={"product_id": product, "search": "kış"})).json()
    bad = await client.get(COLLECTIONS, params={"product_id": "x"})

    assert [r["name"] for r in found["results"]] == ["Çocuk Ayakkabıları"]
    assert [r["pk"] for r in by_product["results"]] == [shoes["pk"]]
    assert both["count"] == 0
    assert (bad.status_code, bad.json()) == (400, {"product_id": ["Enter a number."]})


async def test_unicode_names_round_trip_as_utf8(client: httpx.AsyncClient) -> None:
    name = "Şık Çantalar — Größe XL 夏のセール"
    created = await create(client, name)

    response = await client.get(f"{COLLECTIONS}{created['pk']}/")

    assert response.json()["name"] == name
    assert response.headers["content-type"].startswith("application/json")
    assert name.encode("utf-8") in response.content


# -- Django and DRF around the API ------------------------------------------------------------


async def test_patch_on_the_list_path_is_not_allowed(client: httpx.AsyncClient) -> None:
    response = await client.patch(COLLECTIONS, json=doc.PATCH_REQUEST)
    assert response.status_code == 405
    assert response.json() == {"detail": 'Method "PATCH" not allowed.'}


async def test_unknown_path_is_djangos_html_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/wishlists/collections/")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>Not Found</h1>" in response.text


async def test_a_known_path_without_its_slash_is_redirected(client: httpx.AsyncClient) -> None:
    response = await client.get("/wishlists/user-collections", params={"page": 1})
    assert response.status_code == 301
    assert response.headers["location"] == "/wishlists/user-collections/?page=1"


async def test_a_body_that_is_not_json_is_a_parse_error(client: httpx.AsyncClient) -> None:
    response = await client.post(
        COLLECTIONS, content=b"{name: x}", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error - ")


# -- over real HTTP -------------------------------------------------------------------------------


async def test_session_login_with_cookies_and_csrf_over_http() -> None:
    app = create_commerce_app(doc_seed())
    with serve_in_thread(app) as base_url:
        async with httpx.AsyncClient(base_url=base_url) as c:
            await log_in(c)
            csrf = c.headers.pop("X-CSRFToken")
            no_csrf_yet = await c.post(COLLECTIONS, json={"name": "HTTP"})
            created = await c.post(
                COLLECTIONS, json={"name": "HTTP üzerinden"}, headers={"X-CSRFToken": csrf}
            )
            listed = await c.get(COLLECTIONS)
    assert no_csrf_yet.status_code == 403
    assert created.status_code == 201
    assert listed.json()["count"] == 1
    assert listed.json()["results"][0]["name"] == "HTTP üzerinden"
    assert listed.json()["next"] is None
