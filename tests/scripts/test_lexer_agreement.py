"""The translator and CEL read every token the same way (hypothesis, against the CEL parser).

If the lexer took code for part of a string (or a string for code), the rewriting and the cost
guard would see a different program from the one CEL runs. For generated sources made of the
pieces where lexers disagree (raw and byte prefixes, escapes, triple quotes, comments, numbers),
the free variables CEL finds in each translated statement must be exactly the identifiers the
lexer saw outside strings.
"""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from graphflow.exceptions import ScriptError
from graphflow.scripts import compile_script
from graphflow.scripts.backend import compile_expression
from graphflow.scripts.lexer import LexError, split_statements, tokenize

_KEYWORDS = {"true", "false", "null", "in"}

_literals = st.builds(
    lambda prefix, quote, body: f"{prefix}{quote}{body}{quote}",
    st.sampled_from(["", "r", "R", "b", "B", "br", "bR", "Br", "rb", "rr", "bb"]),
    st.sampled_from(["'", '"', "'''", '"""']),
    st.text(alphabet="ab\\'\"\n x+/u0", max_size=8),
)
_pieces = st.sampled_from(
    [
        "x",
        "y",
        " ",
        "\n",
        " + ",
        " == ",
        "1",
        "1.5",
        ".5",
        "1.",
        "1e3",
        "0x1F",
        "3u",
        "[",
        "]",
        ", ",
        "// c\n",
        " //",
        "\\",
    ]
)
_sources = st.lists(_literals | _pieces, min_size=1, max_size=12).map("".join)


def _variables_seen_by_lexer(source: str) -> set[str]:
    tokens = tokenize(source)
    return {
        tok.text
        for i, tok in enumerate(tokens)
        if tok.kind == "ident" and tok.text not in _KEYWORDS and not (i and tokens[i - 1].text == ".")
    }


@settings(max_examples=1500, deadline=None)
@given(_sources)
@example(r"r'\' + x + '\'")
@example("r'\\' + x // '")
@example(r"'\\' + x + '\\'")
@example("'''a\\''' + x")
@example("br'\\' + y")
def test_translator_and_cel_agree_on_every_token(source: str) -> None:
    try:
        statements = split_statements(source)
    except LexError:
        return
    for statement in statements:
        try:
            compiled = compile_expression(statement.source)
        except ValueError:
            continue  # CEL refuses it too: nothing runs
        assert set(compiled.variables) == _variables_seen_by_lexer(statement.source), statement.source


@pytest.mark.parametrize("source", [r"r'\' + $.a + '\'", r"r'\' + [1].map(_p0, 1) + '\'"])
def test_code_cannot_hide_in_a_raw_string(source: str) -> None:
    with pytest.raises(ScriptError):
        compile_script(source)


@pytest.mark.parametrize("name", ["_p0", "_p12", "_in_", "_unwrap_"])
def test_internal_names_are_reserved(name: str) -> None:
    with pytest.raises(ScriptError, match="reserved"):
        compile_script(f"$.xs.map({name}, {name} + 1)")
    with pytest.raises(ScriptError, match="reserved"):
        compile_script(f"let {name} = 1\n{name}")


def test_compile_errors_show_what_the_user_wrote() -> None:
    with pytest.raises(ScriptError) as info:
        compile_script("$.user.name +")
    assert "_p0" not in info.value.message and "_in_" not in info.value.message
    assert "$.user.name" in info.value.message
