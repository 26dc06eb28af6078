"""Both clients under every sandbox fault knob: retried when safe, "outcome unknown" when not."""

from __future__ import annotations

import asyncio
import itertools

import httpx
import pytest
import stamina

from collsync.errors import (
    NotSentError,
    OutcomeUnknownError,
    RejectedError,
    ThrottledError,
    TransientError,
)
from collsync.http import Limits, ServiceClient, retry_wait
from collsync.sandbox import (
    AKINON_EMAIL,
    AKINON_PASSWORD,
    STORE_API_KEY,
    Faults,
    SandboxTransport,
    Seed,
    create_commerce_app,
    create_store_app,
    free_port,
    serve_in_thread,
)
from collsync.source import CollectionData, StoreClient
from collsync.target import AkinonClient

from .conftest import Service


async def test_store_errors_are_retried_until_reads_succeed(
    store_client: StoreClient, store: Service
) -> None:
    store.faults(error_rate=0.4, seed=3)
    pages = [p async for p in store_client.iter_collections(page_size=5)]
    assert sum(p.size for p in pages) == 30
    assert store.log.summary()["faults"]["error"] > 0


async def test_akinon_500s_and_429s_are_retried(akinon: AkinonClient, commerce: Service) -> None:
    for n in range(12):
        await akinon.create_collection(f"Liste {n}")
    commerce.faults(error_rate=0.15, throttle_rate=0.15, seed=5)
    for _ in range(8):
        assert len(await akinon.list_collections()) == 12
    faults = commerce.log.summary()["faults"]
    assert faults.get("error", 0) > 0
    assert faults.get("throttle", 0) > 0


async def test_a_lost_create_answer_is_outcome_unknown_not_failure(
    akinon: AkinonClient, commerce: Service
) -> None:
    await akinon.list_collections()  # logged in
    commerce.faults(drop_write_rate=1.0)
    with pytest.raises(OutcomeUnknownError, match="may have been applied"):
        await akinon.create_collection("Kayıp Cevap")
    commerce.faults(drop_write_rate=0.0)
    # It was created all the same, and sent once: the caller's journal decides what next.
    assert [c.name for c in await akinon.list_collections()] == ["Kayıp Cevap"]
    assert commerce.log.counts()["POST /wishlists/user-collections/"] == 1


async def test_a_lost_store_write_is_outcome_unknown(
    store_client: StoreClient, store: Service
) -> None:
    store.faults(drop_write_rate=1.0)
    with pytest.raises(OutcomeUnknownError):
        await store_client.create_collections([CollectionData(name="Kayıp", slug="kayip")])
    store.faults(drop_write_rate=0.0)
    assert await store_client.count_collections() == 31


async def test_a_500_on_a_write_is_not_resent(akinon: AkinonClient, commerce: Service) -> None:
    await akinon.list_collections()
    commerce.faults(error_rate=1.0)
    with pytest.raises(OutcomeUnknownError, match="server error 500"):
        await akinon.create_collection("Tekrar Yok")
    assert commerce.log.counts()["POST /wishlists/user-collections/"] == 1


async def test_a_clean_rejection_is_distinct_from_unknown(akinon: AkinonClient) -> None:
    from collsync.errors import RejectedError

    with pytest.raises(RejectedError) as info:
        await akinon.create_collection("x" * 300)
    assert not isinstance(info.value, TransientError)
    assert "name" in info.value.fields


async def test_an_expired_session_logs_in_again(akinon: AkinonClient, commerce: Service) -> None:
    commerce.faults(session_expiry=3)
    for n in range(7):
        await akinon.create_collection(f"Oturum {n}")
    assert len(await akinon.list_collections()) == 7
    logins = commerce.log.counts()["POST /users/login/"]
    assert 2 <= logins <= 5
    # every create was sent exactly once more than the ones refused with 401
    statuses = [
        e.status for e in commerce.log.entries if e.method == "POST" and "user-coll" in e.path
    ]
    assert statuses.count(201) == 7


class SimulatedClock:
    """A clock that waiting moves forward, instead of the test waiting."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.now += delay
        await asyncio.sleep(0)


async def test_the_client_rate_limit_spaces_requests_evenly(store: Service) -> None:
    clock = SimulatedClock()
    sent: list[float] = []

    inner = store.transport or httpx.AsyncHTTPTransport()

    class Stamped(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            sent.append(clock.now)
            return await inner.handle_async_request(request)

        async def aclose(self) -> None:
            await inner.aclose()

    limits = Limits(concurrency=4, rate_limit=30, attempts=5)
    async with StoreClient(
        store.base_url,
        STORE_API_KEY,
        limits=limits,
        transport=Stamped(),
        clock=clock,
        sleep=clock.sleep,
    ) as client:
        for _ in range(3):
            pages = [p async for p in client.iter_collections(page_size=1)]
            assert sum(p.size for p in pages) == 30
    # 93 requests at 30 a second: no burst, a thirtieth of a second between any two
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    assert min(gaps) >= 1 / 30 - 1e-9
    assert sent[-1] - sent[0] == pytest.approx(92 / 30)


async def test_the_concurrency_limit_is_kept(commerce: Service) -> None:
    commerce.faults(latency=0.05)
    limits = Limits(concurrency=3)
    async with AkinonClient(
        commerce.base_url,
        email=AKINON_EMAIL,
        password=AKINON_PASSWORD,
        limits=limits,
        transport=commerce.transport,
    ) as client:
        await client.login()
        await asyncio.gather(*(client.create_collection(f"Eşzamanlı {n}") for n in range(9)))
        stamps = sorted(e.at for e in commerce.log.entries if e.method == "POST")
    # nine 50 ms requests three at a time take three rounds, not one
    assert stamps[-1] - stamps[0] >= 0.09


async def test_a_slow_answer_times_out_read_retried_write_unknown(seed: Seed) -> None:
    # Timeouts belong to sockets, so this one runs over real HTTP only.
    app = create_store_app(seed.store, faults=Faults(latency=0.5))
    limits = Limits(concurrency=2, timeout=0.2, attempts=2)
    with serve_in_thread(app) as url:
        async with StoreClient(url, STORE_API_KEY, limits=limits) as client:
            with pytest.raises(TransientError, match="timed out"):
                await client.count_collections()
            with pytest.raises(OutcomeUnknownError, match="timed out"):
                await client.create_collections([CollectionData(name="Yavaş", slug="yavas")])
        await asyncio.sleep(0.8)  # the server logs each request when it has answered it
    counts = app.state.sandbox.injector.log.counts()
    assert counts["POST /api/v1/products/collections/count"] == 2  # the read was tried again
    assert counts["POST /api/v1/products/collections/create"] == 1  # the write was not
    # ...and the store applied it although the client gave up waiting: truly "outcome unknown"
    assert "yavas" in {c["slug"] for c in app.state.sandbox.data.collections}


async def test_a_refused_connection_is_retried_even_for_a_write() -> None:
    # Nothing listens on this port: the request provably never reached a server.
    async with AkinonClient(
        f"http://127.0.0.1:{free_port()}",
        email=AKINON_EMAIL,
        password=AKINON_PASSWORD,
        limits=Limits(attempts=3),
    ) as client:
        with pytest.raises(TransientError, match="could not connect") as info:
            await client.create_collection("Bağlantı Yok")
    assert not isinstance(info.value, OutcomeUnknownError)


@pytest.mark.parametrize(
    ("error", "wait"),
    [
        (ThrottledError("429", retry_after=0.3), 0.3),  # the service's hint, exactly
        (ThrottledError("429", retry_after=None), True),  # no hint: the usual backoff
        (ThrottledError("429", retry_after=86400), False),  # longer than we wait: reported
        (NotSentError("connect refused"), True),
        (TransientError("server error 503"), True),
        (OutcomeUnknownError("lost answer to a write"), False),  # the journal decides
        (RejectedError("400"), False),
    ],
)
def test_what_is_sent_again_and_when(error: Exception, wait: bool | float) -> None:
    assert retry_wait(error, Limits()) == wait


async def test_throttling_that_never_ends_is_reported_with_the_hint() -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(429, headers={"Retry-After": "7"}))
    async with ServiceClient("http://svc", transport=transport, limits=Limits(attempts=3)) as c:
        with pytest.raises(ThrottledError) as info:
            await c.send("POST", "/x", endpoint="POST /x", idempotent=False)
    assert info.value.retry_after == 7


@pytest.mark.parametrize(
    ("header", "seconds"), [("5", 5.0), ("0", None), ("-1", None), ("soon", None), (None, None)]
)
def test_retry_after_values(header: str | None, seconds: float | None) -> None:
    from collsync.http import parse_retry_after

    assert parse_retry_after(header) == seconds


async def test_a_service_rate_limit_is_waited_out_with_retry_after(store: Service) -> None:
    store.faults(rate_limit=8)
    with stamina.set_testing(False):  # real waits: the 429s say "Retry-After: 1"
        async with StoreClient(
            store.base_url,
            STORE_API_KEY,
            transport=store.transport,
            limits=Limits(concurrency=4, attempts=4),
        ) as client:
            pages = [p async for p in client.iter_collections(page_size=2)]
    assert sum(p.size for p in pages) == 30
    assert store.log.summary()["faults"]["rate_limit"] > 0


async def test_a_service_limit_is_met_by_slowing_down_not_by_retrying_into_it(seed: Seed) -> None:
    # Eight lanes could send ~800/s; the service takes 50/s (after a burst of 50).
    app = create_commerce_app(seed.commerce, faults=Faults(rate_limit=50, latency=0.01))
    with stamina.set_testing(False):  # real Retry-After waits, as a user's run has them
        async with AkinonClient(
            "http://commerce",
            email=AKINON_EMAIL,
            password=AKINON_PASSWORD,
            transport=SandboxTransport(app),
            limits=Limits(concurrency=8, attempts=10),
        ) as client:
            await asyncio.gather(*(client.create_collection(f"Tempo {n}") for n in range(300)))
    log = [e for e in app.state.sandbox.injector.log.entries if e.method == "POST"]
    creates = [e for e in log if "user-coll" in e.path]
    assert [e.status for e in creates].count(201) == 300
    # Unpaced, ~15 in 16 would be refused (and sent again after a few milliseconds). The limit
    # is found within its first second, a burst allowance misleading the first measure (that
    # second's 429s are many, and more on a loaded machine); past it, the rate hovers at the
    # limit. (bench/RESULTS.md, "Pacing", has the numbers.)
    found = min(e.at for e in creates) + 1.0
    settled = [e.status for e in creates if e.at >= found]
    # (real Retry-After waits: under a loaded CI machine the share moves; 20-40% measured)
    assert settled.count(429) < 0.45 * len(settled), settled.count(429)
