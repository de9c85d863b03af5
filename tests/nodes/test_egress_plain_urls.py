"""EgressPolicy.check_url judges plain URLs without httpx, with the verdict httpx's parse gives."""

from __future__ import annotations

import string
import subprocess
import sys
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphflow.exceptions import NodeExecutionError
from graphflow.nodes.egress import _PLAIN_URL, DEFAULT_EGRESS_POLICY, EgressPolicy

POLICIES = [
    DEFAULT_EGRESS_POLICY,
    EgressPolicy(schemes=("https",)),
    EgressPolicy(allowed_ports=frozenset({443, 8443})),
    EgressPolicy(allowed_ports=frozenset({80})),
]


def verdict(policy: EgressPolicy, url: str) -> object:
    try:
        policy.check_url(url)
    except NodeExecutionError as exc:
        return exc.code, exc.message
    except Exception as exc:  # an escape would have to be the same one
        return type(exc).__name__
    return "allowed"


def verdict_by_httpx(policy: EgressPolicy, url: str) -> object:
    with mock.patch.object(EgressPolicy, "_plainly_allowed", return_value=False):
        return verdict(policy, url)


SCHEMES = ["http", "https", "HTTP", "Https", "ftp", "ws", "", "h"]
SEPARATORS = ["://", ":/", ":", "//", ":///"]
HOSTS = [
    "example.com",
    "API.Example.COM",
    "a",
    "a-b.c-d",
    "-a-",
    "a..b",
    ".",
    "",
    "localhost",
    "127.0.0.1",
    "10.0.0.1",
    "999.1.1.1",
    "1.2.3",
    "1.2.3.4.5",
    "127.1",
    "2130706433",
    "0x7f.1",
    "01.02.03.04",
    "xn--bcher-kva.example",
    "xn--a",
    "XN--a",
    "a.xn--a",
    "[::1]",
    "[fe80::1%25eth0]",
    "u@example.com",
    "u:p@example.com",
    "@example.com",
    "bücher.de",
    "ex ample.com",
    "a%41.com",
]
PORTS = ["", ":", ":0", ":00", ":80", ":443", ":0443", ":8443", ":65535", ":65536", ":99999", ":1x", ": 80"]
RESTS = [
    "",
    "/",
    "/x?y#z",
    "?q=1",
    "#f",
    "/a/../b",
    "/%zz",
    "/a b",
    "/é",
    "/\x00",
    "/\t",
    "//x",
    "/{{x}}",
    "/@evil",
    "/a\\b",
]
PADS = ["", " ", "\n"]


def test_every_combination_of_awkward_parts_gets_the_verdict_httpx_gives() -> None:
    for scheme in ("http", "https"):
        for host in HOSTS:
            for port in PORTS:
                for rest in RESTS:
                    url = f"{scheme}://{host}{port}{rest}"
                    for policy in POLICIES:
                        assert verdict(policy, url) == verdict_by_httpx(policy, url), url


URLS = st.from_regex(_PLAIN_URL, fullmatch=True) | st.builds(
    lambda pad, scheme, sep, host, port, rest: f"{pad}{scheme}{sep}{host}{port}{rest}{pad}",
    st.sampled_from(PADS),
    st.sampled_from(SCHEMES),
    st.sampled_from(SEPARATORS),
    st.sampled_from(HOSTS) | st.from_regex(r"[A-Za-z0-9.\-_@:%\[\]]{0,12}", fullmatch=True),
    st.sampled_from(PORTS) | st.from_regex(r":[0-9]{0,6}", fullmatch=True),
    st.sampled_from(RESTS) | st.text(string.printable + "é\u00a0\u2028", max_size=8),
)


@settings(max_examples=1500, deadline=None)
@given(URLS, st.sampled_from(POLICIES))
def test_generated_urls_get_the_verdict_httpx_gives(url: str, policy: EgressPolicy) -> None:
    assert verdict(policy, url) == verdict_by_httpx(policy, url)


@pytest.mark.parametrize(
    "url",
    [
        "https://api.example.com/tickets",
        "http://10.0.0.1:8080/x?y=1#z",
        "https://h:443",
        "http://h?",
    ],
)
def test_common_static_urls_take_the_plain_path(url: str) -> None:
    assert DEFAULT_EGRESS_POLICY._plainly_allowed(url)


def test_overlong_urls_are_left_to_httpx() -> None:
    url = "https://example.com/" + "a" * 70_000
    assert not DEFAULT_EGRESS_POLICY._plainly_allowed(url)
    assert verdict(DEFAULT_EGRESS_POLICY, url) == verdict_by_httpx(DEFAULT_EGRESS_POLICY, url)


def test_loading_an_http_node_does_not_import_httpx() -> None:
    code = (
        "import sys, graphflow; graphflow.load_graph({'kind': 'WorkflowGraph', 'version': 1, "
        "'name': 'g', 'start_node': 't', 'nodes': [{'kind': 'WorkflowTrigger', 'id': 't', "
        "'trigger': 'x.y', 'on_success': 'h'}, {'kind': 'WorkflowHttpRequest', 'id': 'h', "
        "'url': 'https://api.example.com/tickets'}]}); "
        "print(sorted(m for m in ('httpx', 'httpcore', 'anyio') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
