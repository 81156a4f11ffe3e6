"""The OpenAI-compatible HTTP gateway, ``imageshim serve`` (the ``gateway`` extra).

:mod:`.app` (routes, auth, access records), :mod:`.images` (one generation per intent, admission, hosted
URLs), :mod:`.intent`, :mod:`.store` and :mod:`.hosting` (what is kept and where), :mod:`.budgets` and
:mod:`.spend` (per-client-key budgets; kept by :mod:`.budgets_local` or :mod:`.budgets_redis`),
:mod:`.headers` (what clients see), :mod:`.observe` and :mod:`.metrics` (what operators see), :mod:`.server`
and :mod:`.runtime` (uvicorn with timeouts, limits and drain), :mod:`.main` (``serve``).
"""

from imageshim._frontends.gateway.app import create_app, gateway_keys, is_loopback, normalise_public_url
from imageshim._frontends.gateway.main import serve

__all__ = ["create_app", "gateway_keys", "is_loopback", "normalise_public_url", "serve"]
