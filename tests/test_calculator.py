"""The GSM8k calculator: exact arithmetic, nothing but arithmetic."""

import pytest

from tasks.calculator import apply, complete, evaluate


@pytest.mark.parametrize(
    "expr, want",
    [
        ("2+3*4", "14"),  # * before +: 2 + 12
        ("(2+3)*4", "20"),
        ("10-4-3", "3"),  # left-associative: (10-4)-3, not 10-(4-3)=9
        ("24/4/2", "3"),  # (24/4)/2
        ("2*3/4", "1.5"),
        ("-3", "-3"),
        ("-(2+3)*-2", "10"),  # (-5) * (-2)
        ("5 - -2", "7"),
        ("--3", "3"),
        ("+8", "8"),  # real GSM8k annotations write '<<+8=8>>'
        ("16-3-4", "9"),
        ("9*2", "18"),
    ],
)
def test_precedence_and_unary_minus(expr, want):
    assert evaluate(expr) == want


@pytest.mark.parametrize(
    "expr, want",
    [
        ("2.5*2", "5"),  # integer result: no ".0"
        ("2-.5", "1.5"),  # leading-dot decimals occur in GSM8k ('2-.5=1.5')
        ("0.1+0.2", "0.3"),  # exact rationals: no 0.30000000000000004
        ("1/3", "0.333333"),  # 6 decimals
        ("2/3", "0.666667"),  # rounded, not truncated
        ("1/8", "0.125"),  # trailing zeros stripped
        ("0.20*10", "2"),
        ("-1/4", "-0.25"),
        ("-0.0000001", "0"),  # rounds to zero: no "-0"
        ("1,000/4", "250"),  # thousands separators are ignored
        ("1,450,000 + 1", "1450001"),
        ("3.", "3"),
        (" 7 * 6 ", "42"),
    ],
)
def test_decimals_and_commas(expr, want):
    assert evaluate(expr) == want


@pytest.mark.parametrize(
    "expr",
    [
        "1/0",
        "5/(2-2)",
        "2**3",  # power is not arithmetic GSM8k needs, and '**' must not reach Python
        "__import__('os').system('true')",
        "a+1",
        "x_1*2",
        "1e5",
        "3%2",
        "2^3",
        "",
        "   ",
        "(1",
        "1)",
        "()",
        "2 3",
        "1+",
        "*2",
        ".",
        "1.2.3",
        "1" * 201,  # over the 200-character limit
        "9" * 16,  # 9.99e15 > 1e15
        "100000000*100000000",
        "1\n+1",  # only plain spaces are allowed
    ],
)
def test_rejects_everything_else(expr):
    assert evaluate(expr) is None


def test_deep_nesting_does_not_crash():
    assert evaluate("(" * 99 + "1" + ")" * 99) == "1"
    assert evaluate("-" * 199 + "1") == "-1"  # 199 minus signs: odd -> negative


def test_complete_inside_open_annotation():
    assert complete("She has 48 apples and gives half away: <<48/2=") == "24"
    assert complete("<<16-3-4=") == "9"
    assert complete("<<48/2=24>>24 then <<24*3=") == "72"


def test_complete_outside_annotation_returns_none():
    assert complete("She has 48 apples =") is None  # no '<<'
    assert complete("<<48/2=24>>24 so x =") is None  # last '<<' already closed
    assert complete("<<48/2") is None  # not right after '='
    assert complete("<<48/2=24") is None  # result already written
    assert complete("<<apples=") is None  # not arithmetic
    assert complete("") is None


def test_apply_fixes_wrong_results_only():
    text = "He makes 3 * 4 = <<3*4=13>>13 dollars, <<13+2=15>>15 in all, <<x=5>>5.\n#### 15"
    # The annotation result is corrected; the repeated number after '>>' and the final
    # answer are left as generated (in-the-loop decoding would have changed them).
    assert apply(text) == "He makes 3 * 4 = <<3*4=12>>13 dollars, <<13+2=15>>15 in all, <<x=5>>5.\n#### 15"
    assert apply("no annotations here") == "no annotations here"
    assert apply("<<1/0=7>>") == "<<1/0=7>>"  # unevaluable: left alone
    assert apply("<<1,000*2=2000>>") == "<<1,000*2=2000>>"
