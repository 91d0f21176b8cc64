"""What a webhook request looked like before our reverse proxies rewrote it."""

from __future__ import annotations

import re
from collections.abc import Mapping

_DEFAULT_PORTS = {"http": "80", "https": "443"}
# A DNS name or IPv4 address, or a bracketed IPv6 address, with an optional port.
_HOST = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """Return the value of header ``name`` in any letter case, or None.

    HTTP header names are case-insensitive but a plain ``dict`` is not. When the
    same name appears in two cases with different values the header is ambiguous
    and treated as absent.
    """
    wanted = name.lower()
    values = {value.strip() for key, value in headers.items() if key.lower() == wanted}
    if len(values) != 1:
        return None
    return values.pop()


def public_url(
    *,
    scheme: str,
    host: str,
    path: str,
    query_string: bytes,
    headers: Mapping[str, str],
    public_base_url: str | None,
    trusted_proxy_hops: int,
) -> str:
    """Return the URL the sender posted to, which is the URL it signed.

    Behind a TLS-terminating proxy the application sees another scheme and host
    than the sender used, so the URL is rebuilt in this order:

    1. ``public_base_url`` (e.g. ``https://hooks.example.com``), when configured,
       wins. It is the address registered with the sender and needs no trust in
       request headers.
    2. With ``trusted_proxy_hops`` = N > 0, ``X-Forwarded-Proto`` and
       ``X-Forwarded-Host`` are read. Every proxy appends to these lists, so the
       N-th value from the right was written by the outermost of our N proxies,
       the one the sender connected to; values further left came from the client
       and are ignored. A header with fewer than N values, or with an invalid
       value, is ignored.
    3. Otherwise the request's own scheme and host are used. Forwarded headers are
       ignored because any client can send them.

    ``Forwarded`` (RFC 7239) is not read: trusting a header our proxies do not
    write would let the client choose its value.

    ``path`` is the path as received, still percent-encoded, including any mount
    prefix the application server sees; ``query_string`` is the raw query. A
    default port (``:443`` for https, ``:80`` for http) is dropped from the host
    because senders sign the URL without it.
    """
    if trusted_proxy_hops < 0:
        raise ValueError("trusted_proxy_hops must not be negative")

    if not path.startswith("/"):
        path = "/" + path
    query = query_string.decode("utf-8", "replace")
    suffix = f"{path}?{query}" if query else path

    if public_base_url:
        return public_base_url.rstrip("/") + suffix

    if trusted_proxy_hops:
        forwarded_scheme = _forwarded(headers, "X-Forwarded-Proto", trusted_proxy_hops)
        if forwarded_scheme is not None:
            forwarded_scheme = forwarded_scheme.lower()
            if forwarded_scheme in _DEFAULT_PORTS:
                scheme = forwarded_scheme
        forwarded_host = _forwarded(headers, "X-Forwarded-Host", trusted_proxy_hops)
        if forwarded_host is not None and _HOST.fullmatch(forwarded_host):
            host = forwarded_host

    scheme = scheme.lower()
    return f"{scheme}://{_without_default_port(scheme, host)}{suffix}"


def _forwarded(headers: Mapping[str, str], name: str, hops: int) -> str | None:
    """Return the value our outermost trusted proxy appended to header ``name``."""
    value = header_value(headers, name)
    if value is None:
        return None
    values = [item.strip() for item in value.split(",")]
    if len(values) < hops:
        return None
    return values[-hops] or None


def _without_default_port(scheme: str, host: str) -> str:
    name, colon, port = host.rpartition(":")
    # An IPv6 address without a port ends in "]" and has colons of its own.
    if colon and not host.endswith("]") and port == _DEFAULT_PORTS.get(scheme):
        return name
    return host
