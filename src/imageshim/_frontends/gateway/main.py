"""``imageshim serve``: load the configuration, apply the command line's overrides, configure logging, run."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from imageshim._core.config import Config, load_config
from imageshim._core.errors import ConfigurationError

__all__ = ["drain_seconds", "serve"]


def drain_seconds(config: Config) -> float:
    """How long SIGTERM waits for requests in flight: ``[gateway] drain_seconds``, else the call deadline
    (``[retry] deadline``, which bounds every generation) and 5 s to write the replies."""
    if config.gateway.drain_seconds is not None:
        return config.gateway.drain_seconds
    return (config.retry.deadline or 600.0) + 5.0


def _with_overrides(config: Config, overrides: Mapping[str, Any]) -> Config:
    """``config`` with the command line's ``[gateway]`` settings, checked by the config file's rules."""
    from pydantic import ValidationError

    from imageshim._core.config import gateway_policy
    from imageshim._core.config_schema import GatewayTable

    given = {k: v for k, v in overrides.items() if v is not None}
    if not given:
        return config
    current = dataclasses.asdict(config.gateway)
    current.update(store_dir=str(current["store_dir"]), cors_origins=list(current["cors_origins"]))
    try:
        table = GatewayTable.model_validate({**current, **given})
    except ValidationError as exc:
        error = exc.errors()[0]
        flag = "--" + str(error["loc"][0]).replace("_seconds", "").replace("_", "-")
        raise ConfigurationError(f"{error['msg']} (got {error.get('input')!r})", key=flag) from None
    return dataclasses.replace(config, gateway=gateway_policy(table.model_dump()))


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    config: str | None = None,
    public_url: str | None = None,
    **overrides: Any,
) -> None:
    """Run the gateway until interrupted. ``overrides``: ``[gateway]`` settings from the command line
    (None: as configured). The first SIGTERM/SIGINT drains (requests in flight finish, for up to
    :func:`drain_seconds`); a second one exits at once."""
    from imageshim._frontends.gateway.app import create_app, gateway_keys, is_loopback, normalise_public_url
    from imageshim._frontends.gateway.memory import tune
    from imageshim._frontends.gateway.observe import configure_logging
    from imageshim._frontends.gateway.runtime import Runtime
    from imageshim._frontends.gateway.server import run

    loaded = _with_overrides(load_config(config), {**overrides, "public_url": public_url})
    policy = loaded.gateway
    keys = gateway_keys()
    if not keys and not is_loopback(host):
        raise ConfigurationError(
            f"Refusing to serve on {host} without authentication: set IMAGESHIM_GATEWAY_KEYS (comma-separated "
            "bearer keys) or bind to 127.0.0.1"
        )
    if policy.public_url is not None:
        normalise_public_url(policy.public_url)  # a usage error before anything starts
    configure_logging(policy.log_format)
    tune()  # large blocks go back to the system when freed (see .memory)
    runtime = Runtime()
    app = create_app(loaded, keys=keys, runtime=runtime)
    run(app, runtime, policy, host=host, port=port, drain_seconds=drain_seconds(loaded))
