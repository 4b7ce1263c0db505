"""The cheap webhook reading gives what Starlette's parser and twilio's validator give."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import quote_plus

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.datastructures import FormData, Headers
from starlette.formparsers import FormParser
from twilio.request_validator import RequestValidator

from engine._request import MAX_FIELDS, TooManyFields, read_form, signature, signed_params

FORM = Headers({"content-type": "application/x-www-form-urlencoded"})


def starlette_form(body: bytes) -> FormData:
    async def chunks() -> AsyncIterator[bytes]:
        yield body

    return asyncio.run(FormParser(FORM, chunks()).parse())


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"CallSid=CA1&From=%2B48601111222&To=+48+22", id="plus and percent"),
        pytest.param(b"a=1&&b=2&", id="empty pieces"),
        pytest.param(b"flag&=x&name=", id="no equals, no name, no value"),
        pytest.param(b"a=1=2&a=3", id="equals in a value, a repeated name"),
        pytest.param(b"Body=%C5%BC%C3%B3%C5%82w&Bad=%ZZ%C5", id="utf-8 and broken escapes"),
        pytest.param("Caller=zażółć".encode(), id="raw utf-8 bytes"),
    ],
)
def test_read_form_matches_starlette(body: bytes) -> None:
    assert read_form(body).multi_items() == starlette_form(body).multi_items()


@given(
    st.lists(
        st.sampled_from(
            [b"a", b"B", b"=", b"&", b"+", b"%", b"%2", b"%41", b"\xc5", b"\xbc", b" ", b";"]
        ),
        max_size=30,
    )
)
def test_read_form_matches_starlette_on_any_body(pieces: list[bytes]) -> None:
    body = b"".join(pieces)
    assert read_form(body).multi_items() == starlette_form(body).multi_items()


def test_read_form_refuses_what_starlette_refuses() -> None:
    with pytest.raises(TooManyFields):
        read_form(b"&".join(b"f=1" for _ in range(MAX_FIELDS + 1)))


def test_signature_matches_twilios_test_vector() -> None:
    # reference §3.1, from twilio-python's own tests
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+14158675309",
        "Digits": "1234",
        "From": "+14158675309",
        "To": "+18005551212",
    }
    form = FormData(list(params.items()))
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert signature(b"12345", url, signed_params(form)) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="


names = st.text(st.characters(codec="utf-8"), max_size=8)
values = st.text(st.characters(codec="utf-8"), max_size=12)


@given(st.lists(st.tuples(names, values), max_size=12), st.text(max_size=20))
def test_signature_matches_twilios_computation(items: list[tuple[str, str]], token: str) -> None:
    form = FormData(items)
    url = "https://calls.example.com/voice/dial?flow=salon&step=on.open.1"
    expected = RequestValidator(token).compute_signature(url, form)
    assert signature(token.encode("utf-8"), url, signed_params(form)) == expected


@given(st.lists(st.tuples(names, values), max_size=12))
def test_a_signed_form_reads_back_to_the_same_signature(items: list[tuple[str, str]]) -> None:
    body = "&".join(f"{quote_plus(n)}={quote_plus(v)}" for n, v in items).encode()
    url = "https://calls.example.com/voice"
    expected = RequestValidator("token").compute_signature(url, FormData(items))
    assert signature(b"token", url, signed_params(read_form(body))) == expected
