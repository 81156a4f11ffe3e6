"""Addresses: the gateway's keys, whether a host is loopback, and the public base URL of hosted images."""

from __future__ import annotations

import ipaddress
import os
from typing import Any
from urllib.parse import urlsplit

from imageshim._core.errors import ConfigurationError

__all__ = ["gateway_keys", "is_loopback", "normalise_public_url", "origin"]


def gateway_keys() -> list[str]:
    return [k.strip() for k in os.environ.get("IMAGESHIM_GATEWAY_KEYS", "").split(",") if k.strip()]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def normalise_public_url(url: str) -> str:
    """``https://images.example.com[/prefix]`` without a trailing ``/`` or ``/v1``; ConfigurationError
    when it is not an absolute http(s) URL."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigurationError(
            f"public URL {url!r} is not an absolute http(s) URL such as https://images.example.com",
            key="--public-url",
        )
    base = url.strip().rstrip("/")
    return base[: -len("/v1")] if base.endswith("/v1") else base


def origin(scheme: str, host: str, port: Any) -> str:
    host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" if port == default else f"{scheme}://{host}:{port}"
