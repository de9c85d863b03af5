"""Source-level preprocessing of graphflow scripts before they reach CEL.

graphflow scripts are CEL (https://cel.dev) with a few conveniences from the ArchAstro script
language: ``$`` is the node's input, a script may hold several statements (one per line, or
separated by ``;``), ``let name = expr`` binds a value for later statements, and
``unwrap(value, default)`` falls back to ``default`` when ``value`` is missing or null.

No library translates this dialect, so this module does it by hand with a small regex tokenizer:
it never evaluates anything, it only rewrites tokens (``$`` → ``_in_``; ``unwrap(a.b, d)`` → a
``has()`` guard) and measures the source (bracket depth, comprehension nesting, list-literal sizes)
so the cost guard in :mod:`graphflow.scripts.program` can bound evaluation before it starts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "INPUT_NAME",
    "MEMORY_ROOTS",
    "ROOTS",
    "Path",
    "Shape",
    "Statement",
    "Token",
    "split_statements",
    "tokenize",
]

#: The CEL identifier that ``$`` is rewritten to.
INPUT_NAME = "_in_"
#: The automation's memory and its last completed runs, as scripts name them → the ``env`` key
#: the engine passes each under (absent outside an automation's run: they read as null).
MEMORY_ROOTS = {"memory": "__graphflow_memory__", "previous_runs": "__graphflow_previous_runs__"}
#: Names a field chain may start from.
ROOTS = frozenset({INPUT_NAME, "env", "nodes", *MEMORY_ROOTS})

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>[ \t\r\f]+)
  | (?P<comment>//[^\n]*)
  | (?P<nl>\n)
  | (?P<string>[bB]?[rR](?:'''.*?'''|\"\"\".*?\"\"\"|'[^'\n]*'|"[^"\n]*")
        |[bB]?(?:'''(?:\\.|[^\\])*?'''|\"\"\"(?:\\.|[^\\])*?\"\"\"|'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*"))
  | (?P<number>0[xX][0-9a-fA-F]+[uU]?|\d*\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+|\d+[uU]?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<dollar>\$)
  | (?P<op>==|!=|<=|>=|&&|\|\||[-+*/%<>!?:.,;()\[\]{}=])
    """,
    re.VERBOSE | re.DOTALL,
)

#: Names the translator itself introduces; a script may not use them.
_INTERNAL = re.compile(r"_p\d+|_in_|_unwrap_")

_OPENERS = {"(": ")", "[": "]", "{": "}"}
_CLOSERS = {")", "]", "}"}
#: Tokens after which a newline cannot end a statement.
_CONTINUES_AFTER = {
    "(",
    "[",
    "{",
    ",",
    ".",
    "?",
    ":",
    "=",
    "+",
    "-",
    "*",
    "/",
    "%",
    "==",
    "!=",
    "<",
    ">",
    "<=",
    ">=",
    "&&",
    "||",
    "!",
}
#: Tokens before which a newline cannot end a statement (a line starting with an operator).
_CONTINUES_BEFORE = {
    ")",
    "]",
    "}",
    ",",
    ".",
    "?",
    ":",
    "+",
    "*",
    "/",
    "%",
    "==",
    "!=",
    "<",
    ">",
    "<=",
    ">=",
    "&&",
    "||",
}
_COMPREHENSIONS = {"all", "exists", "exists_one", "map", "filter"}
#: Calls whose result or work can grow with the square of their inputs (``join``/``replace``
#: with a long separator or replacement, a regex built from input).
_GROWTHS = {"join", "replace", "matches"}


@dataclass(frozen=True, slots=True)
class Token:
    """One lexical token: its kind (``string``, ``ident``, ``op``…), text and offset."""

    kind: str
    text: str
    pos: int


@dataclass(frozen=True, slots=True)
class Shape:
    """What the cost guard needs to know about a statement's source.

    ``tokens`` counts the statement's tokens (a bound on its CEL AST's size), ``calls`` its
    ``split`` calls (the one helper whose result's JSON is larger than its input's) and
    ``growths`` the operations whose output can be the square of their
    input (comprehensions, ``join``, ``replace``, ``matches``).
    """

    bracket_depth: int
    comprehension_depth: int
    comprehensions: int
    largest_list_literal: int
    concatenations: int
    loop_variables: frozenset[str]
    tokens: int = 0
    calls: int = 0
    growths: int = 0


@dataclass(frozen=True, slots=True)
class Path:
    """A field chain such as ``$.user.name`` hoisted out of CEL into a variable.

    Attributes:
        variable: the CEL variable that replaced the chain (``_p0``, ``_p1``…).
        root: ``_in_``, ``env`` or ``nodes``.
        keys: the field names after the root.
        optional: a missing key or a non-map resolves to null instead of failing
            (the chain was the first argument of ``unwrap``).
    """

    variable: str
    root: str
    keys: tuple[str, ...]
    optional: bool

    @property
    def text(self) -> str:
        """The chain as the user wrote it (``$.user.name``)."""
        return ".".join(("$" if self.root == INPUT_NAME else self.root, *self.keys))


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement: an optional ``let`` name and the CEL source of its expression.

    ``source`` has every field chain hoisted into ``paths``. When a strict chain cannot be
    resolved (a missing key that CEL might never have evaluated, as in ``c ? $.a : $.b``) the
    evaluator runs ``fallback_source`` instead, where only ``unwrap`` chains are hoisted.
    """

    name: str | None
    source: str
    shape: Shape
    line: int
    paths: tuple[Path, ...] = ()
    fallback_source: str = ""
    fallback_paths: tuple[Path, ...] = ()


class LexError(ValueError):
    """The source could not be tokenized; ``pos`` is the offset of the bad character."""

    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.pos = pos


def tokenize(source: str) -> list[Token]:
    """Split ``source`` into tokens, dropping blanks and comments but keeping newlines."""
    tokens: list[Token] = []
    pos = 0
    end = len(source)
    match = _TOKEN_RE.match
    while pos < end:
        m = match(source, pos)
        if m is None:
            raise LexError(f"unexpected character {source[pos]!r}", pos)
        kind = m.lastgroup or ""
        if kind not in ("ws", "comment"):
            tokens.append(Token(kind, m.group(), pos))
        pos = m.end()
    return tokens


def split_statements(source: str) -> list[Statement]:
    """Tokenize, rewrite and split ``source`` into statements.

    Raises:
        LexError: on characters CEL does not have, unbalanced brackets, a misplaced ``let``, or a
            script with no expression.
    """
    tokens = tokenize(source)
    for tok in tokens:
        if tok.kind == "ident" and _INTERNAL.fullmatch(tok.text):
            raise LexError(f"'{tok.text}' is reserved for graphflow's own use; choose another name", tok.pos)
    statements: list[Statement] = []
    for group in _group(tokens):
        name: str | None = None
        body = group
        if body[0].kind == "ident" and body[0].text == "let":
            if len(body) < 4 or body[1].kind != "ident" or body[2].text != "=":
                raise LexError("a let statement reads 'let name = expression'", body[0].pos)
            name = body[1].text
            if name in ROOTS or name in ("println", "unwrap"):
                raise LexError(f"'{name}' is a reserved name and cannot be bound by let", body[1].pos)
            body = body[3:]
        plain = _rewrite(body)
        rewritten, paths = _hoist(plain, strict=True)
        fallback, fallback_paths = _hoist(plain, strict=False)
        shape = _measure(rewritten)
        clash = shape.loop_variables & (ROOTS | {"_unwrap_"})
        if clash:
            raise LexError(f"'{sorted(clash)[0]}' is reserved and cannot name a loop variable", body[0].pos)
        line = source.count("\n", 0, group[0].pos) + 1
        statements.append(Statement(name, _render(rewritten), shape, line, paths, _render(fallback), fallback_paths))
    if not statements:
        raise LexError("the script is empty: write at least one expression, such as 'true'", 0)
    if statements[-1].name is not None:
        raise LexError("a script must end with an expression, not a let statement", len(source))
    return statements


def _group(tokens: list[Token]) -> list[list[Token]]:
    """Split tokens into statements at top-level newlines and semicolons."""
    groups: list[list[Token]] = []
    current: list[Token] = []
    stack: list[str] = []
    for index, tok in enumerate(tokens):
        text = tok.text
        if tok.kind == "op":
            if text in _OPENERS:
                stack.append(_OPENERS[text])
            elif text in _CLOSERS and (not stack or stack.pop() != text):
                raise LexError(f"unbalanced {text!r}", tok.pos)
        at_top = not stack
        if tok.kind == "nl" or (text == ";" and tok.kind == "op"):
            if not at_top:
                continue
            if tok.kind == "nl" and current and _continues(current[-1], tokens, index):
                continue
            if current:
                groups.append(current)
                current = []
            continue
        current.append(tok)
    if stack:
        raise LexError(f"missing {stack[-1]!r}", tokens[-1].pos if tokens else 0)
    if current:
        groups.append(current)
    return groups


def _continues(last: Token, tokens: list[Token], index: int) -> bool:
    if last.kind == "op" and last.text in _CONTINUES_AFTER:
        return True
    for tok in tokens[index + 1 :]:
        if tok.kind == "nl":
            continue
        return tok.kind == "op" and tok.text in _CONTINUES_BEFORE
    return False


def _rewrite(tokens: list[Token]) -> list[Token]:
    """Replace ``$`` with the input identifier and expand ``unwrap(...)`` calls."""
    out: list[Token] = []
    i = 0
    n = len(tokens)
    while i < n:
        tok = tokens[i]
        if tok.kind == "dollar":
            out.append(Token("ident", INPUT_NAME, tok.pos))
        elif (
            tok.kind == "ident"
            and tok.text == "unwrap"
            and i + 1 < n
            and tokens[i + 1].text == "("
            and not (out and out[-1].text == ".")
        ):
            close = _matching(tokens, i + 1)
            args = _split_args(tokens[i + 2 : close])
            if len(args) not in (1, 2) or not args[0]:
                raise LexError("unwrap takes one or two arguments: unwrap(value, default)", tok.pos)
            value = _rewrite(args[0])
            default = _rewrite(args[1]) if len(args) == 2 else [Token("ident", "null", tok.pos)]
            out.extend(_unwrap(value, default, tok.pos))
            i = close
        else:
            out.append(tok)
        i += 1
    return out


def _matching(tokens: list[Token], open_index: int) -> int:
    depth = 0
    for j in range(open_index, len(tokens)):
        text = tokens[j].text
        if tokens[j].kind == "op":
            if text in _OPENERS:
                depth += 1
            elif text in _CLOSERS:
                depth -= 1
                if depth == 0:
                    return j
    raise LexError("missing ')'", tokens[open_index].pos)


def _split_args(tokens: list[Token]) -> list[list[Token]]:
    args: list[list[Token]] = [[]]
    depth = 0
    for tok in tokens:
        if tok.kind == "nl":
            continue
        if tok.kind == "op":
            if tok.text in _OPENERS:
                depth += 1
            elif tok.text in _CLOSERS:
                depth -= 1
            elif tok.text == "," and depth == 0:
                args.append([])
                continue
        args[-1].append(tok)
    return args if args != [[]] else []


def _unwrap(value: list[Token], default: list[Token], pos: int) -> list[Token]:
    """``unwrap(a.b, d)`` → ``(<a.b, optional> != null ? <a.b, optional> : d)``.

    A plain field chain from ``$``/``env``/``nodes`` is marked optional (kind ``optional``) so the
    hoisting pass resolves a missing key to null. Any other value becomes ``_unwrap_(value, d)``,
    which only replaces null (a missing key inside an arbitrary expression is still an error).
    """

    def t(kind: str, text: str) -> Token:
        return Token(kind, text, pos)

    chain = _field_chain(value)
    if chain is None or chain[0] not in ROOTS:
        return [t("ident", "_unwrap_"), t("op", "("), *value, t("op", ","), *default, t("op", ")")]
    marked = [Token("optional", value[0].text, pos), *value[1:]]
    return [
        t("op", "("),
        *marked,
        t("op", "!="),
        t("ident", "null"),
        t("op", "?"),
        *marked,
        t("op", ":"),
        *default,
        t("op", ")"),
    ]


def _hoist(tokens: list[Token], *, strict: bool) -> tuple[list[Token], tuple[Path, ...]]:
    """Replace field chains rooted at ``$``/``env``/``nodes`` with variables resolved in Python.

    The CEL binding converts a variable's whole value on every call; resolving ``$.a.b`` in Python
    and passing only the leaf keeps evaluation cost independent of the payload's size. Chains
    inside ``has(...)`` stay in CEL, which needs the select expression itself. With
    ``strict=False`` only optional (``unwrap``) chains are hoisted.
    """
    out: list[Token] = []
    paths: dict[tuple[str, tuple[str, ...], bool], Path] = {}
    i = 0
    n = len(tokens)
    while i < n:
        tok = tokens[i]
        is_root = tok.kind in ("ident", "optional") and tok.text in ROOTS
        if (
            not is_root
            or (out and out[-1].text == ".")
            or (len(out) >= 2 and out[-1].text == "(" and out[-2].text == "has")
        ):
            out.append(Token("ident", tok.text, tok.pos) if tok.kind == "optional" else tok)
            i += 1
            continue
        keys: list[str] = []
        j = i + 1
        while (
            j + 1 < n
            and tokens[j].text == "."
            and tokens[j + 1].kind == "ident"
            and not (j + 2 < n and tokens[j + 2].text == "(")
        ):
            keys.append(tokens[j + 1].text)
            j += 2
        optional = tok.kind == "optional"
        if (not keys and not optional) or (not optional and not strict):
            out.append(tok)
            i += 1
            continue
        key = (tok.text, tuple(keys), optional)
        path = paths.get(key)
        if path is None:
            path = paths[key] = Path(f"_p{len(paths)}", tok.text, tuple(keys), optional)
        out.append(Token("ident", path.variable, tok.pos))
        i = j
    return out, tuple(paths.values())


def _field_chain(tokens: list[Token]) -> list[str] | None:
    if not tokens or tokens[0].kind not in ("ident", "optional") or len(tokens) % 2 == 0:
        return None
    names = [tokens[0].text]
    for k in range(1, len(tokens), 2):
        if tokens[k].text != "." or tokens[k + 1].kind != "ident":
            return None
        names.append(tokens[k + 1].text)
    return names


def _render(tokens: list[Token]) -> str:
    parts: list[str] = []
    prev: Token | None = None
    for tok in tokens:
        if (
            prev is not None
            and prev.kind in ("ident", "number", "string")
            and tok.kind
            in (
                "ident",
                "number",
                "string",
            )
        ):
            parts.append(" ")
        parts.append(tok.text)
        prev = tok
    return "".join(parts)


def _measure(tokens: list[Token]) -> Shape:
    """Bracket depth, comprehension nesting and the largest list literal of a statement."""
    depth = max_depth = 0
    comp_stack: list[int] = []  # bracket depths at which open comprehensions started
    max_comp = comprehensions = 0
    list_sizes: list[int] = []  # element counts of open list literals
    largest = 0
    concatenations = 0
    loop_variables: set[str] = set()
    calls = growths = 0
    for index, tok in enumerate(tokens):
        text = tok.text
        if tok.kind != "op":
            continue
        if text == "(" and index and tokens[index - 1].kind == "ident":
            if tokens[index - 1].text == "split":
                calls += 1
            elif tokens[index - 1].text in _GROWTHS:
                growths += 1
        if text in _OPENERS:
            depth += 1
            max_depth = max(max_depth, depth)
            if (
                text == "("
                and index >= 2
                and tokens[index - 2].text == "."
                and (tokens[index - 1].text in _COMPREHENSIONS)
            ):
                comprehensions += 1
                comp_stack.append(depth)
                if index + 1 < len(tokens) and tokens[index + 1].kind == "ident":
                    loop_variables.add(tokens[index + 1].text)
                max_comp = max(max_comp, len(comp_stack))
            if text == "[":
                list_sizes.append(1)
        elif text in _CLOSERS:
            if comp_stack and comp_stack[-1] == depth:
                comp_stack.pop()
            if text == "]" and list_sizes:
                largest = max(largest, list_sizes.pop())
            depth -= 1
        elif text == "," and list_sizes:
            list_sizes[-1] += 1
        elif text == "+":
            concatenations += 1
    return Shape(
        max_depth,
        max_comp,
        comprehensions,
        largest,
        concatenations,
        frozenset(loop_variables),
        len(tokens),
        calls,
        growths + comprehensions,
    )
