"""The image routes of the gateway: one generation per intent, hosted URLs, the headers clients read.

Each image request goes: body (bounded in size and time) -> plan (every refusal before any I/O) -> intent
(join or replay the generation it repeats: :mod:`.intent`) -> admission (the client key's concurrency
limit, its room in the image store and its budget (:mod:`.budgets`: the estimate is reserved), all
before anything is paid) -> a generation task of its own (:func:`Images.generate`, which the request only
waits for: a client that leaves does not cancel it; it settles the budget when it ends) -> the reply, or at
the drain deadline a 503 that says the result is unknown. Every reply to a planned request carries the
plan's estimate (``x-imageshim-estimate-usd``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from imageshim._core.config import GatewayPolicy
from imageshim._core.errors import ImageShimError, redact
from imageshim._core.warnings import WarningRecord, logger
from imageshim._frontends import orchestrate
from imageshim._frontends.engine import Engine, Plan
from imageshim._frontends.gateway.budgets import Hold, estimate_headers
from imageshim._frontends.gateway.headers import lifecycle_headers, model_headers
from imageshim._frontends.gateway.hosting import host_images
from imageshim._frontends.gateway.intent import (
    Claim,
    Conflict,
    IntentState,
    Join,
    Limited,
    Reply,
    StateUnavailable,
    fingerprint,
    replay_seconds,
)
from imageshim._frontends.gateway.record import Generation
from imageshim._frontends.gateway.runtime import Runtime
from imageshim._frontends.gateway.store import ImageStore
from imageshim._frontends.wire import WireHandler, WireResponse, error_response

if TYPE_CHECKING:
    from imageshim._core.response import Attempt, ImagesResponse
    from imageshim._frontends.gateway.spend import Spending

__all__ = ["Answer", "Images"]

_MAX_IDEMPOTENCY_KEY = 255
#: a request begins again when the generation it joined lost its owner; this many times at most
_BEGIN_TRIES = 3
_CUT = object()


class Answer:
    """What one image request was answered, with what the access record needs."""

    def __init__(
        self,
        wire: WireResponse | Reply,
        *,
        requested_model: str | None = None,
        generation: Generation | None = None,
        intent: str | None = None,
    ) -> None:
        self.status = wire.status
        self.headers = wire.headers
        self.body = wire.body
        self.requested_model = requested_model
        self.generation = generation
        self.intent = intent


def _state_unavailable(why: str) -> WireResponse:
    return error_response(
        503,
        f"imageshim: {why}; nothing was generated, send the request again shortly.",
        code="state_unavailable",
        headers={"retry-after": "2", "x-should-retry": "true"},
    )


def _draining() -> WireResponse:
    # nothing generated: another replica (or this one, restarted) may serve it
    return error_response(
        503,
        "imageshim: this gateway is shutting down; send the request again.",
        code="gateway_shutting_down",
        headers={"retry-after": "1", "x-should-retry": "true", "connection": "close"},
    )


def _limited(limited: Limited) -> WireResponse:
    return error_response(
        429,
        f"imageshim: this client key already has {limited.limit} generations in flight (the gateway's "
        "[gateway] max_concurrency_per_key); send this request again when one has finished.",
        code="concurrency_limit_exceeded",
        headers={"retry-after": str(int(limited.retry_after + 0.999)), "x-should-retry": "true"},
    )


def _retry_count(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


def _hosts(plan: Plan) -> bool:
    """Whether any target of the plan answers URLs from base64 (the gateway then hosts the images)."""
    return any(target.url_mode is not None and target.url_mode != "native" for target in plan.targets)


class Images:
    def __init__(
        self,
        engine: Engine,
        handler: WireHandler,
        store: ImageStore,
        intents: IntentState,
        runtime: Runtime,
        policy: GatewayPolicy,
        *,
        spending: Spending | None = None,
    ) -> None:
        self.engine = engine
        self.handler = handler
        self.store = store
        self.intents = intents
        self.runtime = runtime
        self.policy = policy
        #: ``[gateway.budgets]`` (None: no key has a budget)
        self.spending = spending

    async def answer(
        self,
        method: str,
        path: str,
        body: bytes,
        *,
        owner: str,
        base_url: str,
        content_type: str | None,
        headers: Any,
    ) -> Answer:
        prepared = self.handler.prepare(method, path, body, base_url=base_url, content_type=content_type)
        if isinstance(prepared, WireResponse):
            return Answer(prepared)
        answer = await self._answer(prepared, method, path, body, owner, base_url, content_type, headers)
        answer.headers = {**answer.headers, **estimate_headers(prepared)}
        return answer

    async def _answer(
        self,
        plan: Plan,
        method: str,
        path: str,
        body: bytes,
        owner: str,
        base_url: str,
        content_type: str | None,
        headers: Any,
    ) -> Answer:
        requested = plan.request.model
        key = headers.get("idempotency-key")
        if key is not None and not (0 < len(key) <= _MAX_IDEMPOTENCY_KEY and key.isprintable()):
            return Answer(
                error_response(
                    400,
                    f"Idempotency-Key must be 1 to {_MAX_IDEMPOTENCY_KEY} printable characters.",
                    code="invalid_idempotency_key",
                    param="Idempotency-Key",
                ),
                requested_model=requested,
            )
        body_id = fingerprint(method, path, body, content_type)
        retry = _retry_count(headers.get("x-stainless-retry-count")) > 0
        for _ in range(_BEGIN_TRIES):
            draining = self.runtime.draining  # a repeat still joins its generation; nothing new starts
            try:
                begun = await self.intents.begin(
                    owner,
                    body_id,
                    key,
                    retry=retry,
                    limit=self.policy.max_concurrency_per_key,
                    claim=not draining,
                )
            except StateUnavailable as exc:
                return Answer(_state_unavailable(str(exc)), requested_model=requested)
            if begun is None:
                return Answer(_draining(), requested_model=requested)
            if isinstance(begun, Conflict):
                # 422, as draft-ietf-httpapi-idempotency-key-header says for a key reused with another
                # body: a client error no retry fixes (a 409 would be retried by status-based retriers).
                refused = error_response(
                    422, begun.message, code="idempotency_key_reused", param="Idempotency-Key"
                )
                return Answer(refused, requested_model=requested)
            if isinstance(begun, Limited):
                return Answer(_limited(begun), requested_model=requested)
            intent: str
            if isinstance(begun, Join):
                future, intent = begun.future, begun.kind
            else:
                admitted = await self._admit(begun, owner, plan, base_url)
                if isinstance(admitted, WireResponse):
                    return Answer(admitted, requested_model=requested)
                future, intent = admitted, "new"
            reply = await self._wait(future)
            if reply is _CUT:
                return Answer(self._cut(), requested_model=requested, intent=intent)
            if reply is not None:
                break
            # the generation joined had no reply (its replica went away): begin again
        else:
            return Answer(self._owner_lost(), requested_model=requested)
        assert isinstance(reply, Reply)
        headers_out = {**reply.headers, "x-imageshim-intent": intent}
        if intent != "new":
            headers_out["idempotent-replayed"] = "true"
        return Answer(
            Reply(reply.status, headers_out, reply.body),
            requested_model=requested,
            generation=reply.generation,
            intent=intent,
        )

    # ----- admission: refusals before anything is paid -------------------------------------------------
    async def _admit(
        self, claim: Claim, owner: str, plan: Plan, base_url: str
    ) -> asyncio.Future[Reply | None] | WireResponse:
        """Admit the claimed generation and start it (its future), or the refusal that ends the request.

        Whatever ends admission before the generation starts (a refusal, or an exception: a state store
        that fails, a bug) gives the claim up, so that requests that joined it get an answer and the key's
        concurrency slot is freed; a reservation already made is released (nothing was sent)."""
        started = False
        hold: Hold | None = None
        try:
            admitted = self._no_room(owner, plan) or await self._reserve(owner, plan)
            if isinstance(admitted, WireResponse):
                dropped = Reply(admitted.status, admitted.headers, admitted.body, replay_for=0.0)
                await self.intents.abandon(claim, dropped)
                return admitted
            run, hold = admitted if admitted is not None else (plan, None)
            future = self.intents.run(claim, self.generate(run, owner, base_url, hold))
            started = True
            return future
        finally:
            if not started:
                await self._given_up(claim, hold)

    async def _given_up(self, claim: Claim, hold: Hold | None) -> None:
        """After admission ended without starting the generation: release ``hold`` and answer the claim's
        joiners (the request itself gets its own answer, or the server's 500 for an exception)."""
        if hold is not None and self.spending is not None:
            await self.spending.release(hold)
        if not claim.future.done():
            failed = error_response(
                500,
                "imageshim: internal error while admitting this request; nothing was sent to the provider. "
                "The traceback is logged on the 'imageshim' logger.",
                code="imageshim_internal_error",
            )
            await self.intents.abandon(
                claim, Reply(failed.status, failed.headers, failed.body, replay_for=0.0)
            )

    def _no_room(self, owner: str, plan: Plan) -> WireResponse | None:
        if not _hosts(plan):
            return None
        room = self.store.room(owner, plan.request.n)
        if room is None:
            return None
        seconds = int(room + 0.999)
        return error_response(
            503,
            "imageshim: the gateway's image store has no room for this client key's hosted URLs until "
            f"earlier ones expire (in about {seconds} s); send the request again then, or ask for "
            "response_format='b64_json'.",
            code="hosted_store_full",
            headers={"retry-after": str(seconds), "x-should-retry": "true"},
        )

    async def _reserve(self, owner: str, plan: Plan) -> tuple[Plan, Hold] | WireResponse | None:
        """The key's budget (:class:`.spend.Spending`): the plan to run and its reservation, a refusal, or
        None (no budget)."""
        if self.spending is None:
            return None
        try:
            return await self.spending.reserve(owner, plan)
        except StateUnavailable as exc:
            return _state_unavailable(str(exc))

    def _owner_lost(self) -> WireResponse:
        return error_response(
            503,
            "imageshim: the generation this request repeats was lost with the gateway replica running it; "
            "send the request again.",
            code="generation_lost",
            headers={"retry-after": "1", "x-should-retry": "true"},
        )

    # ----- waiting: the generation outlives the request ------------------------------------------------
    async def _wait(self, future: asyncio.Future[Reply | None]) -> Reply | object | None:
        """The generation's reply (None: its owner went away without one); ``_CUT`` when the drain
        deadline passed first (the generation goes on)."""
        if not future.done():
            cut: asyncio.Future[Any] = asyncio.ensure_future(self.runtime.cut_event.wait())
            waiting: set[asyncio.Future[Any]] = {future, cut}
            try:
                await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            finally:
                cut.cancel()
            if not future.done():
                return _CUT
        return future.result()

    def _cut(self) -> WireResponse:
        return error_response(
            503,
            "imageshim: the gateway shut down before this generation finished; whether it produced (and "
            "billed) images is unknown, so it is not retried: sending it again may pay for it twice.",
            code="gateway_shutting_down",
            headers={"connection": "close"},
        )

    # ----- the generation ------------------------------------------------------------------------------
    async def generate(self, plan: Plan, owner: str, base_url: str, hold: Hold | None = None) -> Reply:
        """Run ``plan`` to its reply, and settle ``hold`` (its budget reservation) to what it is charged.
        Never raises: every outcome is a reply that can be stored and sent to each request that joins it."""
        requested = plan.request.model
        extra = {
            **model_headers(requested, None),
            **lifecycle_headers(self.engine.catalog.get(requested), self.engine.clock()),
            **estimate_headers(plan),
        }
        response: ImagesResponse | None = None
        error: BaseException | None = None
        try:
            try:
                response = await orchestrate.arun(self.engine, plan)
            except ImageShimError as exc:
                error = exc
                records = orchestrate.warnings_for(plan, exc)
                wire = self.handler.failed(exc, records)
                generation = _generation(None, 0, None, getattr(exc, "attempts", []), records)
            else:
                report = response.imageshim
                generation = _generation(
                    report.route, len(response.data), report.cost_usd, report.attempts, report.warnings
                )
                extra.update(model_headers(requested, report.route))
                wire = await self._success(plan, response, owner, base_url)
        except Exception as exc:
            error = exc
            wire = self.handler.crashed("POST", "/v1/images")
            generation = None
        if hold is not None and self.spending is not None:  # before the reply: the next request sees it
            await self.spending.settle(hold, plan, response, error)
        replay_for, wait_for = replay_seconds(
            wire.status,
            _code(wire),
            wire.headers.get("retry-after"),
            window=self.intents.window,
            ttl=self.intents.ttl,
        )
        headers = {**wire.headers, **extra}
        return Reply(wire.status, headers, wire.body, generation, replay_for=replay_for, wait_for=wait_for)

    async def _success(self, plan: Plan, response: ImagesResponse, owner: str, base_url: str) -> WireResponse:
        try:
            await host_images(response, self.store, owner, base_url, keep_bytes=bool(plan.request.stream))
        except ValueError as exc:
            # The core refuses replies that are not images before this point; if one slips through
            # anyway it is an upstream failure (502, as the wire handler answers unusable replies).
            logger.error("imageshim gateway: refused to host a provider image: %s", redact(str(exc)))
            report = self.handler.success(plan, response).headers  # what the call did still matters
            return error_response(
                502,
                f"imageshim: the provider's reply cannot be served as an image URL: {exc}",
                code="invalid_image_data",
                headers={k: v for k, v in report.items() if k.startswith("x-imageshim-")},
            )
        return self.handler.success(plan, response)


def _code(wire: WireResponse) -> str | None:
    """The ``error.code`` of an error reply (None for anything else)."""
    if wire.status < 400:
        return None
    try:
        code = wire.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None
    return code if isinstance(code, str) else None


def _generation(
    served: str | None,
    images: int,
    cost: float | None,
    attempts: Sequence[Attempt],
    records: Sequence[WarningRecord],
) -> Generation:
    targets: dict[str, int] = {}
    for attempt in attempts:
        targets[attempt.target] = targets.get(attempt.target, 0) + 1
    return Generation(
        served=served,
        images=images,
        cost_usd=cost,
        provider_calls=len(attempts),
        retries=sum(count - 1 for count in targets.values()),
        recoveries=sum(1 for attempt in attempts if attempt.recovered),
        warnings=tuple(record.category.__name__ for record in records),
    )
