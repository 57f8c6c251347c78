"""A safe arithmetic calculator for GSM8k's ``<<EXPR=RESULT>>`` annotations.

GSM8k reference solutions mark every computation as ``<<48/2=24>>24``. The paper
scores GSM8k with and without a calculator: a decoder that has just produced the
``=`` of an open annotation asks :func:`complete` for the result and inserts it,
so the model never has to do the arithmetic itself.

Nothing here ever calls ``eval``/``exec`` on text: expressions are parsed by a
small recursive-descent parser over exact rationals (:class:`fractions.Fraction`),
so ``0.1+0.2`` is exactly ``0.3`` and a hostile string can at worst make
:func:`evaluate` return ``None``.

Grammar (usual precedence, left-associative, unary minus and plus)::

    expr    := term (('+' | '-') term)*
    term    := factor (('*' | '/') factor)*
    factor  := ('-' | '+') factor | primary
    primary := NUMBER | '(' expr ')'
    NUMBER  := digits with optional ',' thousands separators and an optional
               decimal part ('12', '1,000', '2.5', '.5', '3.')
"""

from __future__ import annotations

import re
from fractions import Fraction

__all__ = ["evaluate", "complete", "apply"]

MAX_EXPR_CHARS = 200
MAX_MAGNITUDE = 10**15
DECIMALS = 6

# One token at a time: a number (commas allowed inside, stripped later) or an operator.
# Anything else (letters, '_', '**' survives as two '*' and fails in the parser) stops
# the tokenizer, so the whole expression is rejected.
_TOKEN = re.compile(r"\s*(?:(?P<num>[0-9][0-9,]*(?:\.[0-9]*)?|\.[0-9]+)|(?P<op>[-+*/()]))")
_ALLOWED = re.compile(r"[0-9.,+\-*/() ]*")


class _ParseError(ValueError):
    pass


def _tokenize(expr: str) -> list[str | Fraction]:
    tokens: list[str | Fraction] = []
    pos = 0
    end = len(expr.rstrip())
    while pos < end:
        match = _TOKEN.match(expr, pos)
        if match is None:
            raise _ParseError(f"unexpected character at {pos}")
        if match.group("num") is not None:
            digits = match.group("num").replace(",", "")
            if digits.endswith("."):
                digits = digits[:-1]
            tokens.append(Fraction(digits))
        else:
            tokens.append(match.group("op"))
        pos = match.end()
    return tokens


class _Parser:
    """Recursive descent over a token list; each method consumes one grammar rule."""

    def __init__(self, tokens: list[str | Fraction]):
        self.tokens = tokens
        self.pos = 0

    def _peek(self):
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _next(self):
        token = self._peek()
        if token is None:
            raise _ParseError("unexpected end of expression")
        self.pos += 1
        return token

    def parse(self) -> Fraction:
        value = self._expr()
        if self.pos != len(self.tokens):
            raise _ParseError("trailing tokens")
        return value

    def _expr(self) -> Fraction:
        value = self._term()
        while self._peek() in ("+", "-"):
            op = self._next()
            rhs = self._term()
            value = value + rhs if op == "+" else value - rhs
        return value

    def _term(self) -> Fraction:
        value = self._factor()
        while self._peek() in ("*", "/"):
            op = self._next()
            rhs = self._factor()
            if op == "*":
                value = value * rhs
            elif rhs == 0:
                raise ZeroDivisionError
            else:
                value = value / rhs
        return value

    def _factor(self) -> Fraction:
        if self._peek() in ("-", "+"):
            # Unary plus too: real GSM8k annotations contain '<<+8=8>>'.
            sign = self._next()
            value = self._factor()
            return -value if sign == "-" else value
        return self._primary()

    def _primary(self) -> Fraction:
        token = self._next()
        if isinstance(token, Fraction):
            return token
        if token == "(":
            value = self._expr()
            if self._next() != ")":
                raise _ParseError("expected ')'")
            return value
        raise _ParseError(f"unexpected token {token!r}")


def _format(value: Fraction) -> str:
    """GSM8k style: '6', '-3', '2.5', '0.333333' (at most 6 decimals, zeros stripped).

    Rounding is half away from zero on the exact rational, so the text never carries
    binary floating-point noise.
    """
    scaled = abs(value) * 10**DECIMALS
    units = int(scaled)  # floor for non-negative values
    if scaled - units >= Fraction(1, 2):
        units += 1
    sign = "-" if value < 0 and units != 0 else ""
    whole, frac = divmod(units, 10**DECIMALS)
    if frac == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac:0{DECIMALS}d}".rstrip("0")


def evaluate(expr: str) -> str | None:
    """Evaluates an arithmetic expression and formats the result as GSM8k writes it.

    Accepted characters: digits, '.', ',' (thousands separators, ignored), ``+ - * /``,
    parentheses and spaces; ``*`` and ``/`` bind tighter than ``+`` and ``-``, and a
    unary ``-`` negates (a unary ``+`` is accepted too, as real GSM8k annotations
    such as ``<<+8=8>>`` use it). The value is computed exactly over rationals and written
    as an integer without '.0' when it is one, else rounded (half away from zero) to
    at most 6 decimals with trailing zeros stripped: ``evaluate("48/2") == "24"``,
    ``evaluate("10/4") == "2.5"``, ``evaluate("1/3") == "0.333333"``.

    Returns:
      The result string, or ``None`` for anything else: other characters (letters,
      ``_``, ``**``), bad syntax, division by zero, an empty or longer than 200
      characters input, or a result whose magnitude exceeds 1e15.
    """
    if not isinstance(expr, str) or not expr.strip() or len(expr) > MAX_EXPR_CHARS:
        return None
    # A whitelist first: cheap, and makes the guarantee obvious to a reader.
    if _ALLOWED.fullmatch(expr) is None:
        return None
    try:
        value = _Parser(_tokenize(expr)).parse()
    except (_ParseError, ZeroDivisionError, RecursionError, ValueError):
        return None
    if abs(value) > MAX_MAGNITUDE:
        return None
    return _format(value)


def complete(text: str) -> str | None:
    """The string a decoder should insert after it has just produced the '=' of ``<<EXPR=``.

    ``text`` must end inside an open annotation: its last ``<<`` has no ``>>`` after it
    and the text ends right after ``=``. Then the answer is ``evaluate(EXPR)``, with
    EXPR everything between that ``<<`` and the final ``=``.

    Returns:
      The result to insert (e.g. ``complete("... <<48/2=") == "24"``), or ``None`` when
      the text is not at that point or EXPR does not evaluate (the decoder then goes
      on sampling as usual).
    """
    if not text.endswith("="):
        return None
    start = text.rfind("<<")
    if start < 0 or ">>" in text[start:]:
        return None
    return evaluate(text[start + 2 : -1])


# EXPR holds no '=' or angle brackets; RESULT runs to the closing '>>'.
_ANNOTATION = re.compile(r"<<(?P<expr>[^<>=]*)=(?P<result>[^<>]*)>>")


def apply(text: str) -> str:
    """Offline calculator: rewrites every ``<<EXPR=RESULT>>`` with RESULT := evaluate(EXPR).

    Annotations whose EXPR does not evaluate are left unchanged, as is all text outside
    the ``<<...>>`` markers (including the number GSM8k repeats right after ``>>`` and
    the final ``#### N``).

    This is for scoring existing generations only. True calculator-in-the-loop decoding
    changes the tokens that follow an inserted result too (the model conditions on the
    correct number from then on); that is done by the decoder through :func:`complete`,
    and cannot be recovered from a finished text.
    """

    def fix(match: re.Match) -> str:
        result = evaluate(match.group("expr"))
        if result is None:
            return match.group(0)
        return f"<<{match.group('expr')}={result}>>"

    return _ANNOTATION.sub(fix, text)
