"""The egress policy: which URLs and addresses HTTP nodes may reach.

By default nothing internal is reachable: loopback, private (RFC 1918, ULA), shared (CGNAT),
link-local, cloud metadata, multicast, reserved, broadcast and "this network" addresses are refused,
whatever encoding the host uses (``2130706433``, ``0x7f000001``, ``::ffff:127.0.0.1``, a 6to4 or
NAT64 address embedding one of them). Every address a name resolves to is checked, and the caller
connects only to an address that passed (see :class:`~graphflow.nodes.http.EgressClient`).

The host widens the policy by handing its own to the executor::

    Executor(services={"egress_policy": EgressPolicy(allow_hosts={"*.corp.example"})})

Loading a graph checks each static URL of an HTTP node, and this module stays free of httpx for
that (httpx costs ~100 ms to import): a URL plain enough (``http(s)://`` + an ASCII host name
+ an optional port + printable ASCII) is judged from a regular expression; any other is parsed by
httpx, the parser requests use. The plain form is one httpx parses to the same scheme, host, port
and (empty) credentials, so the verdict is the same; ``tests/nodes/test_egress_plain_urls.py``
checks that on generated URLs.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from graphflow.exceptions import NodeExecutionError

if TYPE_CHECKING:
    import httpx

__all__ = ["DEFAULT_EGRESS_POLICY", "EgressPolicy", "Resolver", "address_denial"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: ``resolver(host, port)`` returns the addresses ``host`` resolves to (tests inject one).
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

_HINT = "pass services={'egress_policy': EgressPolicy(...)} to the executor"
_LEGACY_IPV4 = re.compile(r"[0-9a-fA-FxX.]+")
#: ``scheme://host[:port]`` and then printable ASCII without spaces (see the module docstring).
_PLAIN_URL = re.compile(r"(https?)://([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)(?::([0-9]{1,5}))?(?:[/?#][!-~]*)?")
#: httpx validates hosts of this shape as IPv4 addresses (and refuses ``999.1.1.1``).
_IPV4_STYLE = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")
_MAX_URL_LENGTH = 65536  # httpx refuses longer URLs

# (network, reason, is_private): ``is_private`` ranges open up with ``allow_private=True``.
# Specific entries come first; the lists follow the IANA special-purpose address registries.
_V4_RULES: tuple[tuple[ipaddress.IPv4Network, str, bool], ...] = tuple(
    (ipaddress.IPv4Network(net), reason, private)
    for net, reason, private in (
        ("169.254.169.254/32", "cloud metadata service", False),
        ("100.100.100.200/32", "cloud metadata service", False),
        ("0.0.0.0/8", "unspecified ('this network')", False),
        ("127.0.0.0/8", "loopback", False),
        ("10.0.0.0/8", "private (RFC 1918)", True),
        ("172.16.0.0/12", "private (RFC 1918)", True),
        ("192.168.0.0/16", "private (RFC 1918)", True),
        ("100.64.0.0/10", "shared address space (CGNAT, RFC 6598)", True),
        ("169.254.0.0/16", "link-local", False),
        ("192.0.0.0/24", "IETF protocol assignments", False),
        ("192.0.2.0/24", "documentation", False),
        ("198.51.100.0/24", "documentation", False),
        ("203.0.113.0/24", "documentation", False),
        ("192.88.99.0/24", "6to4 relay anycast", False),
        ("198.18.0.0/15", "benchmarking", False),
        ("224.0.0.0/4", "multicast", False),
        ("255.255.255.255/32", "broadcast", False),
        ("240.0.0.0/4", "reserved", False),
    )
)
_V6_RULES: tuple[tuple[ipaddress.IPv6Network, str, bool], ...] = tuple(
    (ipaddress.IPv6Network(net), reason, private)
    for net, reason, private in (
        ("::/128", "unspecified", False),
        ("::1/128", "loopback", False),
        ("fd00:ec2::254/128", "cloud metadata service", False),
        ("64:ff9b:1::/48", "local-use NAT64", False),
        ("::/8", "reserved (IPv4-compatible and other IETF-reserved forms)", False),
        ("100::/64", "discard-only", False),
        ("2001:2::/48", "benchmarking", False),
        ("2001:10::/28", "ORCHID", False),
        ("2001:db8::/32", "documentation", False),
        ("3fff::/20", "documentation", False),
        ("fc00::/7", "unique local (private)", True),
        ("fe80::/10", "link-local", False),
        ("fec0::/10", "site-local", False),
        ("ff00::/8", "multicast", False),
    )
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def address_denial(ip: IPAddress) -> tuple[str, bool] | None:
    """Why ``ip`` is refused by default, as ``(reason, is_private)``; ``None`` when it is public.

    IPv4-mapped IPv6 addresses are judged as the IPv4 address they map; 6to4 and NAT64 addresses
    by the IPv4 address they embed; Teredo addresses are always refused.
    """
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return address_denial(ip.ipv4_mapped)
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            form, inner = embedded
            denial = address_denial(inner)
            if denial is not None:
                return f"{form} address embedding {inner}, {denial[0]}", denial[1]
            if form == "Teredo":
                return f"Teredo tunnel address (embeds {inner})", False
            return None
        for net6, reason, private in _V6_RULES:
            if ip in net6:
                return reason, private
    else:
        for net4, reason, private in _V4_RULES:
            if ip in net4:
                return reason, private
    # A backstop for anything the tables miss (unallocated IPv6 space is "reserved").
    if ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_unspecified or ip.is_reserved:
        return "reserved", False
    return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    if ip.sixtofour is not None:
        return "6to4", ip.sixtofour
    if ip.teredo is not None:
        return "Teredo", ip.teredo[1]
    if ip in _NAT64:
        return "NAT64", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def parse_address(host: str) -> IPAddress | None:
    """Return ``host`` as an IP address when it is a literal one, in any form ``inet_aton`` takes.

    ``2130706433``, ``0x7f000001``, ``0177.0.0.1`` and ``127.1`` all give ``127.0.0.1``, as the
    system resolver would. IPv6 zone ids (``fe80::1%25eth0``) are kept.
    """
    text = host.strip("[]").replace("%25", "%").rstrip(".")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    if _LEGACY_IPV4.fullmatch(text) and any(ch.isdigit() for ch in text):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(text))
        except OSError:
            return None
    return None


async def _system_resolver(host: str, port: int) -> list[str]:
    import anyio

    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True)
class EgressPolicy:
    """What HTTP nodes may reach. The default refuses every internal address.

    Attributes:
        allow_hosts: host names (exact, or ``*.example.com`` for any subdomain) trusted without
            an address check; IDN names in their ``xn--`` form.
        allow_networks: networks the host allows explicitly, e.g. ``127.0.0.1/32`` in tests
            (strings are accepted and converted).
        allow_private: also allow private ranges (RFC 1918, ULA, CGNAT); loopback, link-local
            and metadata addresses stay refused.
        schemes: the URL schemes allowed.
        allowed_ports: the ports allowed; ``None`` allows any.
        resolver: resolves host names (``anyio.getaddrinfo`` by default; tests inject one).
    """

    allow_hosts: frozenset[str] = frozenset()
    allow_networks: tuple[IPNetwork, ...] = ()
    allow_private: bool = False
    schemes: tuple[str, ...] = ("http", "https")
    allowed_ports: frozenset[int] | None = None
    resolver: Resolver | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        hosts = frozenset(h.lower().rstrip(".") for h in self.allow_hosts)
        networks: tuple[Any, ...] = tuple(ipaddress.ip_network(n) for n in self.allow_networks)
        object.__setattr__(self, "allow_hosts", hosts)
        object.__setattr__(self, "allow_networks", networks)

    def check_url(self, url: str | httpx.URL) -> None:
        """Refuse a URL whose scheme, port, credentials or host the policy does not allow.

        Addresses are checked later, by :meth:`resolve_and_check`, on every connection.

        Raises:
            NodeExecutionError: ``invalid_url`` when it does not parse or has no host,
                ``egress_denied`` when the policy refuses it (neither is retryable).
        """
        if isinstance(url, str) and self._plainly_allowed(url):
            return
        import httpx

        try:
            parsed = url if isinstance(url, httpx.URL) else httpx.URL(url.strip())
            host = parsed.host  # decodes an IDNA name, which fails on an invalid label (xn--a)
        except (httpx.InvalidURL, ValueError) as exc:  # idna's errors are UnicodeErrors
            raise _invalid(f"{str(url)[:200]!r} is not a valid URL: {exc}") from None
        if parsed.scheme not in self.schemes:
            raise _denied(
                f"scheme {parsed.scheme or '(none)'!r} is not allowed in "
                f"{str(parsed)[:200]!r}; allowed: {', '.join(self.schemes)}"
            )
        if parsed.userinfo:
            raise _denied(
                "URLs with credentials (user:password@host) are refused; send credentials in a header instead"
            )
        if not host:
            raise _invalid(f"{str(parsed)[:200]!r} has no host")
        port = parsed.port if parsed.port is not None else (443 if parsed.scheme == "https" else 80)
        if not 0 < port < 65536:  # port 0 reaches nothing: refused, not taken for the default
            raise _invalid(f"port {port} is out of range in {str(parsed)[:200]!r}")
        if self.allowed_ports is not None and port not in self.allowed_ports:
            allowed = ", ".join(map(str, sorted(self.allowed_ports)))
            raise _denied(f"port {port} is not allowed (allowed: {allowed}); {_HINT} with allowed_ports including it")

    def _plainly_allowed(self, url: str) -> bool:
        """Whether ``url`` is plain (see the module docstring) and passes; ``False`` is "ask httpx"."""
        text = url.strip()
        match = _PLAIN_URL.fullmatch(text)
        if match is None or len(text) > _MAX_URL_LENGTH:
            return False
        scheme, host, port_text = match.groups()
        if scheme not in self.schemes or host.lower().startswith("xn--"):
            return False  # httpx.URL.host decodes IDNA names, which may fail: let it
        if _IPV4_STYLE.fullmatch(host):
            try:
                ipaddress.IPv4Address(host)
            except ValueError:
                return False
        port = int(port_text) if port_text else (443 if scheme == "https" else 80)
        if not 0 < port <= 65535:
            return False
        return self.allowed_ports is None or port in self.allowed_ports

    def host_allowed(self, host: str) -> bool:
        """Whether ``host`` is in ``allow_hosts`` (exactly or through a wildcard)."""
        name = host.lower().rstrip(".")
        if name in self.allow_hosts:
            return True
        return any(p.startswith("*.") and name.endswith(p[1:]) for p in self.allow_hosts)

    async def resolve_and_check(self, host: str, port: int) -> list[str]:
        """Resolve ``host`` and return its addresses, refusing if *any* of them is not allowed.

        A literal address (in any encoding) is used as it is, without a lookup.

        Raises:
            NodeExecutionError: ``egress_denied`` (not retryable) naming the host, the address
                and how to allow it; ``dns_error`` (retryable) when the name does not resolve.
        """
        literal = parse_address(host)
        if literal is not None:
            addresses = [str(literal)]
        else:
            try:
                resolved = await (self.resolver or _system_resolver)(host, port)
            except OSError as exc:
                raise NodeExecutionError(f"cannot resolve {host!r}: {exc}", code="dns_error") from None
            addresses = list(dict.fromkeys(resolved))
            if not addresses:
                raise NodeExecutionError(f"{host!r} resolves to no address", code="dns_error")
        if not self.host_allowed(host):
            for address in addresses:
                self.check_address(host, address)
        return addresses

    def check_address(self, host: str, address: str) -> None:
        """Refuse ``address`` (that ``host`` resolved to) unless the policy allows it.

        Raises:
            NodeExecutionError: ``egress_denied``, not retryable.
        """
        ip = parse_address(address)
        if ip is None:
            raise _denied(f"{host!r} resolved to {address!r}, which is not an IP address")
        mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
        for net in self.allow_networks:
            if ip in net or (mapped is not None and mapped in net):
                return
        denial = address_denial(ip)
        if denial is None or (denial[1] and self.allow_private):
            return
        reason, private = denial
        what = f"{host!r} is" if parse_address(host) is not None else f"{host!r} resolves to"
        how = f"allow_networks=['{ip}/{ip.max_prefixlen}']"
        if parse_address(host) is None:
            how += f" or allow_hosts={{'{host}'}}"
        if private:
            how += " or allow_private=True"
        raise _denied(f"egress denied: {what} {ip} ({reason}); to allow it, {_HINT} with {how}")


def _denied(message: str) -> NodeExecutionError:
    return NodeExecutionError(message, code="egress_denied", retryable=False)


def _invalid(message: str) -> NodeExecutionError:
    return NodeExecutionError(message, code="invalid_url", retryable=False)


#: The policy used when the host gives none: only public addresses, http and https, any port.
DEFAULT_EGRESS_POLICY = EgressPolicy()
