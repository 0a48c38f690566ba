"""The callback-data codec: only what it encodes decodes; nothing it encodes is over 64 bytes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import BadCallbackError
from handlers.callbacks import ACTIONS, MAX_BYTES, Press, decode, encode


@pytest.mark.parametrize(
    "data",
    [
        None,
        "",
        "mn.open",
        "mn.open:1",
        "mn.open:1:1:1",
        "MN.OPEN:1:0",
        "mn.open:-1:0",
        "mn.open:１:0",
        "mn.open:1:٣",
        "zz.top:1:0",
        "mn.open:1234567890123:0",
        "mn.open: 1:0",
        "mn.open:1:0\n",
        "rg.ok:1:0;DROP TABLE staff",
    ],
)
def test_malformed_or_unknown_data_is_refused(data: str | None) -> None:
    with pytest.raises(BadCallbackError):
        decode(data)


@given(
    action=st.sampled_from(sorted(ACTIONS)),
    obj=st.integers(0, 10**12 - 1),
    version=st.integers(0, 10**9 - 1),
)
def test_round_trip_within_telegram_limit(action: str, obj: int, version: int) -> None:
    data = encode(Press(action, obj, version))
    assert len(data.encode()) <= MAX_BYTES
    assert decode(data) == Press(action, obj, version)


@given(st.text(max_size=80))
def test_arbitrary_text_never_crashes_the_decoder(data: str) -> None:
    try:
        press = decode(data)
    except BadCallbackError:
        return
    assert encode(press) == data


def test_encode_refuses_what_telegram_would_refuse() -> None:
    with pytest.raises(ValueError):
        encode(Press("no.such", 1, 0))
    with pytest.raises(ValueError):
        encode(Press("mn.open", -1, 0))
