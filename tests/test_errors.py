"""The helpers that keep user-facing messages to one short line."""

from cae_denoise.errors import QUOTED_VALUE_LIMIT, one_line, shorten


def test_shorten_keeps_short_values_and_cuts_long_ones_to_the_limit():
    assert shorten("gaussian:25") == "gaussian:25"
    long_value = "camera:" + "9" * 100_000
    short = shorten(long_value)
    assert len(short) <= QUOTED_VALUE_LIMIT
    assert short.startswith("camera:999") and short.endswith("(100,007 characters)")


def test_shorten_puts_a_multi_line_value_on_one_line():
    assert shorten("a\nb\t c", limit=20) == "a b c"


def test_one_line_names_the_type_of_an_empty_error():
    assert one_line(ValueError()) == "ValueError"
    assert len(one_line(ValueError("x" * 500))) == 200
