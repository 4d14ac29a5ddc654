"""The client's address: the peer, unless the peer is a proxy the operator named (TESSERA_TRUSTED_PROXIES).

Rate limits and lockouts are keyed on this address, so a header any client can write must not move it:
``X-Forwarded-For`` / ``Forwarded`` are read only when the connection comes from a trusted proxy, and
then right to left, skipping trusted hops, as uvicorn's ``forwarded_allow_ips`` does (``tessera serve``
passes it the same list, see ``serving.py``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_FOR = re.compile(r'for="?\[?([^\]";,]+)', re.IGNORECASE)


def networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """Parse addresses and CIDRs; a bad entry is a configuration error, raised at startup."""
    return tuple(ipaddress.ip_network(e.strip(), strict=False) for e in entries if e.strip())


def _trusted(addr: str, nets: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return any(ip in n for n in nets)


def _hops(headers: dict[str, str]) -> list[str]:
    """The forwarded chain, client first; X-Forwarded-For wins when both are sent."""
    xff = headers.get("x-forwarded-for")
    if xff:
        return [h.strip() for h in xff.split(",") if h.strip()]
    fwd = headers.get("forwarded")
    if fwd:
        return [m.group(1).strip() for m in _FOR.finditer(fwd)]
    return []


def client_address(peer: str | None, headers: dict[str, str], trusted: Sequence[Network]) -> str:
    """The address to account a request to; ``headers`` are lower-cased names."""
    addr = peer or "unknown"
    if not trusted or not _trusted(addr, trusted):
        return addr
    for hop in reversed(_hops(headers)):
        addr = hop
        if not _trusted(hop, trusted):
            break
    return addr
