"""A small parser for Drive v3's `q` search language, enough for what clients here send.

Supported terms, combined with `and`, `or`, `not` and parentheses:

    name = 'x'   name != 'x'   name contains 'x'   mimeType = 'x'   mimeType != 'x'
    trashed = true|false   'folderId' in parents
    appProperties has { key='k' and value='v' }   (also `properties has {…}`)

Anything else raises `QueryError`, which the emulator answers like Drive: 400 "Invalid Value".
Drive's `name contains` matches word prefixes; here it is a plain case-insensitive substring
match (a superset), which is fine for a stand-in.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from emulators.state import DriveFile

Predicate = Callable[[DriveFile], bool]


class QueryError(ValueError):
    """The `q` parameter is not a query this emulator understands."""


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^'\\]|\\.)*')
      | (?P<op>!=|=|<=|>=|<|>|\{|\}|\(|\))
      | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
    )""",
    re.VERBOSE,
)


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise QueryError(f"unexpected input at {position}: {text[position : position + 20]!r}")
        position = match.end()
        if match.group("string") is not None:
            raw = match.group("string")[1:-1]
            tokens.append(("string", re.sub(r"\\(.)", r"\1", raw)))
        elif match.group("op") is not None:
            tokens.append(("op", match.group("op")))
        else:
            tokens.append(("word", match.group("word")))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.position = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise QueryError("unexpected end of query")
        self.position += 1
        return token

    def expect(self, kind: str, value: str | None = None) -> str:
        got_kind, got_value = self.take()
        matches = got_kind == kind and (value is None or got_value.lower() == value.lower())
        if not matches:
            raise QueryError(f"expected {value or kind}, got {got_value!r}")
        return got_value

    def at_word(self, word: str) -> bool:
        token = self.peek()
        return token is not None and token[0] == "word" and token[1].lower() == word

    def parse(self) -> Predicate:
        predicate = self.disjunction()
        if self.peek() is not None:
            raise QueryError(f"unexpected {self.peek()!r}")
        return predicate

    def disjunction(self) -> Predicate:
        parts = [self.conjunction()]
        while self.at_word("or"):
            self.take()
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else (lambda f: any(p(f) for p in parts))

    def conjunction(self) -> Predicate:
        parts = [self.negation()]
        while self.at_word("and"):
            self.take()
            parts.append(self.negation())
        return parts[0] if len(parts) == 1 else (lambda f: all(p(f) for p in parts))

    def negation(self) -> Predicate:
        if self.at_word("not"):
            self.take()
            inner = self.negation()
            return lambda f: not inner(f)
        if self.peek() == ("op", "("):
            self.take()
            inner = self.disjunction()
            self.expect("op", ")")
            return inner
        return self.term()

    def term(self) -> Predicate:
        kind, value = self.take()
        if kind == "string":
            self.expect("word", "in")
            self.expect("word", "parents")
            return lambda f: value in f.parents
        if kind != "word":
            raise QueryError(f"unexpected {value!r}")
        field = value
        if field in ("appProperties", "properties"):
            return self.has_property(field)
        operator = self.take()[1]
        if field == "trashed":
            flag = self.expect("word")
            if operator not in ("=", "!=") or flag.lower() not in ("true", "false"):
                raise QueryError("trashed takes = or != and true or false")
            wanted = flag.lower() == "true"
            return lambda f: (f.trashed == wanted) == (operator == "=")
        if field not in ("name", "mimeType"):
            raise QueryError(f"unsupported field {field!r}")
        literal = self.expect("string")

        def attribute(f: DriveFile) -> str:
            return f.name if field == "name" else f.mime_type

        if operator == "=":
            return lambda f: attribute(f) == literal
        if operator == "!=":
            return lambda f: attribute(f) != literal
        if operator.lower() == "contains" and field == "name":
            return lambda f: literal.lower() in f.name.lower()
        raise QueryError(f"unsupported operator {operator!r} for {field}")

    def has_property(self, field: str) -> Predicate:
        self.expect("word", "has")
        self.expect("op", "{")
        self.expect("word", "key")
        self.expect("op", "=")
        key = self.expect("string")
        self.expect("word", "and")
        self.expect("word", "value")
        self.expect("op", "=")
        wanted = self.expect("string")
        self.expect("op", "}")
        if field == "properties":
            return lambda f: False  # public `properties` are never set in the emulator
        return lambda f: f.app_properties.get(key) == wanted


def compile_query(text: str | None) -> Predicate:
    """A predicate over Drive files for `q`; an empty query matches every file."""
    if text is None or not text.strip():
        return lambda f: True
    return _Parser(text).parse()
