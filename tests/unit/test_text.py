"""core.text: the one rule saying whether a text can be stored, used by the API, the services and
the notification parser alike."""

import pytest

from authsvc.core.text import MAX_TEXT_LENGTH, UnstorableText, check_storable, storable_copy, unstorable_reason


@pytest.mark.parametrize("text", ["", "ci pipeline", "é ü 漢字 🐳", "line\nbreak", "x" * MAX_TEXT_LENGTH])
def test_ordinary_text_is_storable(text):
    assert unstorable_reason(text) is None
    assert check_storable(text, "description") == text
    assert storable_copy(text, len(text)) == text


@pytest.mark.parametrize("text, why", [
    ("a\x00b", "NUL"), ("\ud800", "surrogate"), ("ok\udfffok", "surrogate"),
    ("\ud83d\ude00", "surrogate"),  # a pair as two code points is still not text (JSON decodes real pairs)
    ("x" * (MAX_TEXT_LENGTH + 1), f"at most {MAX_TEXT_LENGTH}"),
])
def test_what_no_column_takes_is_refused_saying_why(text, why):
    assert why in unstorable_reason(text)
    with pytest.raises(UnstorableText, match=why) as raised:
        check_storable(text, "description")
    assert raised.value.field == "description" and "'description'" in str(raised.value)


def test_a_field_may_take_less_and_none_passes():
    assert "at most 300" in unstorable_reason("x" * 301, 300)
    assert check_storable(None, "robot") is None
    assert unstorable_reason(7) == "must be a string"


def test_a_copy_for_a_record_that_must_not_fail_escapes_and_cuts():
    copy = storable_copy("a\x00b\ud800c" + "x" * 400, 300)
    assert copy.startswith("a\\u0000b\\ud800c") and len(copy) == 300
    assert unstorable_reason(copy) is None
