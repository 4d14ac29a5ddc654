"""How the API is served: the one uvicorn configuration, shared by ``tessera serve`` and the tests."""

from __future__ import annotations

from typing import Any

import uvicorn
from fastapi import FastAPI

from tessera.core.settings import Settings


def uvicorn_config(app: FastAPI, settings: Settings, host: str, port: int, **kw: Any) -> uvicorn.Config:
    """uvicorn trusts forwarded headers from loopback by default: only the configured proxies may set them."""
    trusted = list(settings.trusted_proxies)
    return uvicorn.Config(app, host=host, port=port, proxy_headers=bool(trusted), forwarded_allow_ips=trusted,
                          server_header=False, **kw)
