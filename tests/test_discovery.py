"""Static kernel discovery and ``# h2j:`` directives (no torch, no helion)."""

from __future__ import annotations

import textwrap
import tokenize
import warnings
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from h2j_lsp.discovery import (
    Directive,
    DirectiveError,
    KernelInfo,
    Parameter,
    ScanResult,
    Span,
    args_template,
    scan_source,
)


def scan(source: str) -> ScanResult:
    return scan_source(textwrap.dedent(source))


def names(source: str) -> list[str]:
    result = scan(source)
    assert result.syntax_error is None
    return [kernel.name for kernel in result.kernels]


def only_kernel(source: str) -> KernelInfo:
    result = scan(source)
    assert result.syntax_error is None
    assert len(result.kernels) == 1
    return result.kernels[0]


# --- which functions are kernels ---------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "import helion\n@helion.kernel\ndef k(x): pass\n",
        "import helion\n@helion.kernel()\ndef k(x): pass\n",
        "import helion\n@helion.kernel(static_shapes=True)\ndef k(x): pass\n",
        "import helion\n@helion.jit\ndef k(x): pass\n",
        "from helion import kernel\n@kernel\ndef k(x): pass\n",
        "from helion import kernel\n@kernel(static_shapes=False)\ndef k(x): pass\n",
        "from helion import kernel as hk\n@hk\ndef k(x): pass\n",
        "import helion as h\n@h.kernel\ndef k(x): pass\n",
        "import helion as h\n@h.kernel(config=None)\ndef k(x): pass\n",
        "import helion.language\n@helion.kernel\ndef k(x): pass\n",
        "from helion.runtime import kernel\n@kernel\ndef k(x): pass\n",
        "from helion import *\n@kernel\ndef k(x): pass\n",
        "import helion\n@(helion.kernel)\ndef k(x): pass\n",
        "import helion\nmy_kernel = helion.kernel(static_shapes=True)\n@my_kernel\ndef k(x): pass\n",
        "import helion\nk2 = helion.kernel\n@k2(static_shapes=True)\ndef k(x): pass\n",
        "import helion\nk2 = helion.kernel\n@k2\ndef k(x): pass\n",
        # A chain of aliases: a module, a name, a configured decorator, a copy of it.
        "import helion as h\nimport helion\na = h.kernel\nb = a\nc = b(static_shapes=True)\n"
        "d = c\n@d\ndef k(x): pass\n",
        "import helion\nk2: object = helion.kernel(static_shapes=True)\n@k2\ndef k(x): pass\n",
        "try:\n    import helion\nexcept ImportError:\n    pass\n@helion.kernel\ndef k(x): pass\n",
        "import helion\n@helion.kernel\nasync def k(x): pass\n",
    ],
)
def test_kernel_decorator_forms(source: str) -> None:
    assert names(source) == ["k"]


@pytest.mark.parametrize(
    "source",
    [
        "from triton import jit as kernel\n@kernel\ndef k(x): pass\n",
        "import triton\nkernel = triton.jit\n@kernel\ndef k(x): pass\n",
        "def kernel(fn):\n    return fn\n@kernel\ndef k(x): pass\n",
        "import helion.language as hl\n@hl.kernel\ndef k(x): pass\n",
        "import helion\n@helion.language.kernel\ndef k(x): pass\n",
        "import other as helion\n@helion.kernel\ndef k(x): pass\n",
        # No import: an unknown `helion` is not the helion package.
        "@helion.kernel\ndef k(x): pass\n",
        "import helion\ndef k(x): pass\n",
        "import helion\n@helion.autotune\ndef k(x): pass\n",
        # The later binding of the name wins.
        "from helion import kernel\nfrom triton import jit as kernel\n@kernel\ndef k(x): pass\n",
        "import helion\nhelion = None\n@helion.kernel\ndef k(x): pass\n",
        # Circular aliases end without a kernel (and without hanging).
        "a = b\nb = a\n@a\ndef k(x): pass\n@b(1)\ndef j(x): pass\n",
        # A class body's names are not visible in the functions defined in it.
        "import helion\nclass C:\n    kernel = helion.kernel\n    def m(self):\n"
        "        @kernel\n        def k(x): pass\n",
    ],
)
def test_other_decorators_are_not_kernels(source: str) -> None:
    assert names(source) == []


def test_nested_kernels_and_local_scopes() -> None:
    source = """\
        import helion

        class Ops:
            # h2j: args(1)
            @staticmethod
            @helion.kernel
            def method(x): pass

            k = helion.kernel(static_shapes=True)

            @k
            def aliased_in_class(x): pass

        def factory():
            from helion import kernel as local

            @local
            def inner(x):
                @helion.kernel
                def innermost(y): pass

            def kernel(fn):
                return fn

            @kernel
            def not_helion(x): pass

        def shadowing(helion):
            @helion.kernel
            def param_shadows(x): pass
        """
    result = scan(source)
    assert [k.name for k in result.kernels] == [
        "method",
        "aliased_in_class",
        "inner",
        "innermost",
    ]
    method = result.kernels[0]
    assert method.first_decorator_line == 4
    assert method.decorator_source == "helion.kernel"
    assert method.decorator_span == Span(5, 5, 5, 18)
    assert method.def_span == Span(4, 4, 6, 23)
    assert method.name_span == Span(6, 8, 6, 14)
    assert [e.text for e in method.examples] == ["1"]
    assert method.examples[0].span == Span(3, 4, 3, 18)
    assert result.errors == ()


def test_kernel_fields() -> None:
    source = """\
        import torch
        import helion
        import helion.language as hl

        @helion.kernel(
            static_shapes=True,
        )
        def  matmul(x: torch.Tensor, y: "torch.Tensor", /, z=None, *rest,
                    alpha: float = 1.0, beta, **extra) -> torch.Tensor:
            return x
        """
    kernel = only_kernel(source)
    assert kernel.name == "matmul"
    assert kernel.name_span == Span(7, 5, 7, 11)
    assert kernel.first_decorator_line == 4
    assert kernel.def_span == Span(4, 0, 9, 12)
    assert kernel.decorator_span == Span(4, 1, 6, 1)
    assert kernel.decorator_source == "helion.kernel(\n    static_shapes=True,\n)"
    assert kernel.parameters == (
        Parameter("x", "torch.Tensor", None, "positional"),
        Parameter("y", "'torch.Tensor'", None, "positional"),
        Parameter("z", None, "None", "positional"),
        Parameter("rest", None, None, "var_positional"),
        Parameter("alpha", "float", "1.0", "keyword_only"),
        Parameter("beta", None, None, "keyword_only"),
        Parameter("extra", None, None, "var_keyword"),
    )
    assert (kernel.examples, kernel.ref, kernel.config, kernel.skip) == ((), None, None, False)
    assert kernel.tile_loops == ()


def test_decorator_after_other_decorators_and_continuation_lines() -> None:
    source = "import helion\n@functools.wraps(f)\n@ \\\n  helion.kernel\ndef k(x): pass\n"
    kernel = only_kernel(source)
    assert kernel.first_decorator_line == 1
    assert kernel.def_span == Span(1, 0, 4, 14)
    assert kernel.decorator_span == Span(3, 2, 3, 15)
    assert kernel.name_span == Span(4, 4, 4, 5)

    source = (
        "import helion\n"
        "if True:\n"
        "    # h2j: args(1)\n"
        "    @ \\\n"
        "    (\n"
        "     helion.kernel)\n"
        "    def \\\n"
        " k(x): pass\n"
    )
    kernel = only_kernel(source)
    assert kernel.first_decorator_line == 3
    assert kernel.def_span == Span(3, 4, 7, 11)
    assert kernel.decorator_span == Span(5, 5, 5, 18)
    assert kernel.decorator_source == "helion.kernel"
    assert kernel.name_span == Span(7, 1, 7, 2)
    assert [e.text for e in kernel.examples] == ["1"]


# --- directives ----------------------------------------------------------------------------


MATMUL = """\
import torch
import helion

# Multiplies two matrices.
# h2j: args(torch.randn(4, 8), torch.randn(8, 4))
#h2j:args(torch.randn(64, 128, dtype=torch.float16), y=torch.randn(128, 32))  # fp16
#   h2j :  ref(torch.matmul)
# h2j: config(block_sizes=[4, 4], num_warps=4)
@helion.kernel(static_shapes=True)
def matmul(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return x @ y
"""


def test_directives_with_exact_spans() -> None:
    result = scan_source(MATMUL)
    assert result.errors == ()
    kernel = result.kernels[0]
    assert kernel.examples == (
        Directive(
            "args",
            "torch.randn(4, 8), torch.randn(8, 4)",
            Span(4, 0, 4, 49),
            Span(4, 12, 4, 48),
        ),
        Directive(
            "args",
            "torch.randn(64, 128, dtype=torch.float16), y=torch.randn(128, 32)",
            Span(5, 0, 5, 84),
            Span(5, 10, 5, 75),
        ),
    )
    assert kernel.examples[0].line == 5
    assert kernel.ref == Directive("ref", "torch.matmul", Span(6, 0, 6, 28), Span(6, 15, 6, 27))
    assert kernel.config == Directive(
        "config", "block_sizes=[4, 4], num_warps=4", Span(7, 0, 7, 46), Span(7, 14, 7, 45)
    )
    assert kernel.skip is False
    lines = MATMUL.splitlines()
    for directive in (*kernel.examples, kernel.ref, kernel.config):
        assert directive is not None
        text_span = directive.text_span
        assert lines[text_span.start_line][text_span.start_col : text_span.end_col] == (
            directive.text
        )


def test_skip_and_empty_args() -> None:
    source = """\
        import helion
        # h2j: skip  # flaky on this backend
        # h2j: args()
        @helion.kernel
        def k(): pass
        """
    kernel = only_kernel(source)
    assert kernel.skip is True
    assert kernel.examples == (Directive("args", "", Span(2, 0, 2, 13), Span(2, 12, 2, 12)),)
    assert scan(source).errors == ()


def test_args_text_is_verbatim_and_keeps_unicode_columns() -> None:
    source = (
        'import helion\n# h2j: args( "é€", x = 1 )  # café\n@helion.kernel\ndef k(a, x): pass\n'
    )
    (example,) = only_kernel(source).examples
    assert example.text == ' "é€", x = 1 '
    assert example.span == Span(1, 0, 1, 34)
    assert example.text_span == Span(1, 12, 1, 25)


@pytest.mark.parametrize(
    ("directive", "message", "start", "end"),
    [
        ("args(1, 2", "malformed args(...) directive: '(' was never closed", 11, 12),
        (
            "args(torch.randn(4 8))",
            "malformed args(...) directive: invalid syntax. Perhaps you forgot a comma?",
            24,
            27,
        ),
        (
            "args(x=1, 2)",
            "malformed args(...) directive: positional argument follows keyword argument",
            18,
            19,
        ),
        ('args("é", $)', "malformed args(...) directive: invalid syntax", 17, 18),
        ("args(1) + 2", "unexpected text after args(...)", 14, 18),
        ("args(1)(2)", "unexpected text after args(...)", 14, 17),
        ("args", "expected '(' after args", 7, 11),
        ("args[1]", "expected '(' after args", 7, 14),
        ("skip(1)", "skip takes no arguments", 11, 14),
        ("ref()", "ref(...) takes exactly one expression", 11, 11),
        ("ref(a, b)", "ref(...) takes exactly one expression", 11, 15),
        ("ref(*a)", "ref(...) takes exactly one expression", 11, 13),
        ("config(4, num_warps=4)", "config(...) takes keyword arguments only", 14, 15),
        ("config(num_warps=4, **extra)", "config(...) takes keyword arguments only", 27, 34),
        ("", "empty h2j directive: expected args(...), skip, ref(...) or config(...)", 0, 6),
        ("123", "empty h2j directive: expected args(...), skip, ref(...) or config(...)", 0, 10),
    ],
)
def test_malformed_directive_column(directive: str, message: str, start: int, end: int) -> None:
    source = f"import helion\n# h2j: {directive}\n@helion.kernel\ndef k(x): pass\n"
    result = scan_source(source)
    assert result.errors == (
        DirectiveError(message, Span(1, start, 1, end), "directive-syntax", "error"),
    )
    assert result.kernels[0].examples == ()


def test_parse_error_column_points_at_the_error_in_the_file() -> None:
    line = "    #  h2j:args(torch.randn(4, 8) torch.randn(8, 4))"
    source = f"import helion\nclass C:\n{line}\n    @helion.kernel\n    def k(x, y): pass\n"
    (error,) = scan_source(source).errors
    assert error.span.start_col == line.index("torch.randn(4, 8) torch")
    assert error.span.start_line == 2


def test_unknown_duplicate_and_orphan_directives() -> None:
    source = """\
        import helion

        # h2j: args(1)
        x = 1  # h2j: args(2)
        # h2j: argz(3)
        # h2j: ref(a)
        # h2j: ref(b)
        # h2j: skip
        # h2j: skip
        # h2j: config(num_warps=4)
        # h2j: config(num_warps=8)
        @helion.kernel
        def k(x): pass

        # h2j: args(4)

        @helion.kernel
        def j(x): pass

        # h2j: args(5)
        def plain(x): pass
        """
    result = scan(source)
    orphan = "h2j directive is not attached to a helion kernel; "
    generic = "directives go in the comment block directly above the kernel's first decorator"
    assert result.errors == (
        DirectiveError(orphan + generic, Span(2, 0, 2, 14), "orphan-directive", "warning"),
        DirectiveError(orphan + generic, Span(3, 7, 3, 21), "orphan-directive", "warning"),
        DirectiveError(
            "unknown h2j directive 'argz': expected one of args, skip, ref, config",
            Span(4, 7, 4, 11),
            "unknown-directive",
            "error",
        ),
        DirectiveError(
            "duplicate ref directive for kernel 'k' (the first is on line 6)",
            Span(6, 0, 6, 13),
            "duplicate-directive",
            "error",
        ),
        DirectiveError(
            "duplicate skip directive for kernel 'k' (the first is on line 8)",
            Span(8, 0, 8, 11),
            "duplicate-directive",
            "error",
        ),
        DirectiveError(
            "duplicate config directive for kernel 'k' (the first is on line 10)",
            Span(10, 0, 10, 26),
            "duplicate-directive",
            "error",
        ),
        DirectiveError(
            orphan + "a blank line separates it from kernel 'j'",
            Span(14, 0, 14, 14),
            "orphan-directive",
            "warning",
        ),
        DirectiveError(orphan + generic, Span(19, 0, 19, 14), "orphan-directive", "warning"),
    )
    k, j = result.kernels
    assert k.ref is not None and k.ref.text == "a"
    assert k.config is not None and k.config.text == "num_warps=4"
    assert k.skip is True
    assert k.examples == ()
    assert j.examples == ()


def test_comment_block_ends_at_blank_or_code_line() -> None:
    source = """\
        import helion
        # h2j: args(1)

        # h2j: args(2)
        # a plain comment between directives
        # h2j: args(3)
        @helion.kernel
        def k(x): pass
        """
    result = scan(source)
    assert [e.text for e in result.kernels[0].examples] == ["2", "3"]
    assert [(e.code, e.span.start_line) for e in result.errors] == [("orphan-directive", 1)]


def test_directives_inside_strings_are_ignored() -> None:
    source = '''\
        import helion
        s = "# h2j: args(1)"
        doc = """
        # h2j: args(2)
        # h2j: args(3)"""
        @helion.kernel
        def k(x):
            """
            # h2j: args(4)
            """
            return f"{x} # h2j: args(5)"
        t = ("a"
             # h2j: args(6)
             "b")
        '''
    result = scan(source)
    assert result.kernels[0].examples == ()
    # Only the real comment inside the parenthesised string concatenation is a directive.
    assert [(e.code, e.span) for e in result.errors] == [("orphan-directive", Span(12, 5, 12, 19))]


def test_comments_next_to_tricky_statements() -> None:
    source = '''\
        import helion
        if True: s = """
        # h2j: args(1)
        """
        x = 1; y = """
        # h2j: args(2)
        """
        match x:
            case 1:
                pass
            # h2j: args(3)
            case _:
                pass
        try:
            pass
        # h2j: args(4)
        except ValueError:
            pass
        # h2j: args(5)
        @helion.kernel
        def k(x): pass
        '''
    result = scan(source)
    assert [e.text for e in result.kernels[0].examples] == ["5"]
    assert [e.span.start_line for e in result.errors] == [10, 15]


def test_indented_kernels_and_crlf() -> None:
    source = (
        "import helion\r\nclass C:\r\n    # h2j: args(1)\r\n    # h2j: ref(f)\r"
        "    @helion.kernel\r\n    def k(x): pass\r\n"
    )
    kernel = only_kernel(source)
    assert kernel.first_decorator_line == 4
    assert kernel.examples[0].span == Span(2, 4, 2, 18)
    assert kernel.ref == Directive("ref", "f", Span(3, 4, 3, 17), Span(3, 15, 3, 16))


def test_byte_order_mark_counts_on_the_first_line() -> None:
    source = "\ufeff# h2j: args(1)\nimport helion\n# h2j: args(2)\n@helion.kernel\ndef k(x): pass\n"
    result = scan_source(source)
    assert result.syntax_error is None
    assert [e.span for e in result.errors] == [Span(0, 1, 0, 15)]
    assert result.kernels[0].examples == (
        Directive("args", "2", Span(2, 0, 2, 14), Span(2, 12, 2, 13)),
    )
    bad = scan_source("\ufeffx = (")
    assert bad.syntax_error is not None
    assert bad.syntax_error.span.start_col == 5


# --- syntax errors and odd input ---------------------------------------------------------


def test_syntax_error_file() -> None:
    source = "import helion\n# h2j: args(1\n@helion.kernel\ndef k(x:\n    pass\n"
    result = scan_source(source)
    assert result.kernels == ()
    assert result.errors == ()
    assert result.syntax_error == DirectiveError(
        "'(' was never closed", Span(3, 5, 3, 6), "syntax-error", "error"
    )


def test_null_byte_is_a_syntax_error_at_its_position() -> None:
    result = scan_source("x = 1\ny = 2\0\n")
    assert result.syntax_error is not None
    assert result.syntax_error.code == "syntax-error"
    assert result.syntax_error.span == Span(1, 5, 1, 6)


@pytest.mark.parametrize(
    "source",
    [
        "x = " + "(" * 300 + ")" * 300,
        "x = " + "-" * 100_000 + "1",
        "x = " + "+".join(["1"] * 100_000),
        'x = "\ud800"',
        "'''",
        "\\",
        "\t\n  x",
        "# h2j: args(" + "(" * 1000,
    ],
)
def test_odd_input_never_raises(source: str) -> None:
    result = scan_source(source)
    assert result.kernels == ()
    assert isinstance(result.errors, tuple)


def test_deeply_nested_directive_is_an_error() -> None:
    source = "import helion\n# h2j: args(" + "[" * 300 + "]" * 300 + ")\n@helion.kernel\n"
    source += "def k(x): pass\n"
    (error,) = scan_source(source).errors
    assert error.code == "directive-syntax"
    assert error.message.startswith("malformed args(...) directive: ")


def test_warnings_about_the_code_are_not_raised() -> None:
    source = (
        'import helion\n# h2j: args("\\d", 1if 1 else 2)\n@helion.kernel\ndef k(x, y):\n    "\\d"\n'
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = scan_source(source)
    assert result.syntax_error is None
    assert result.errors == ()
    assert [e.text for e in result.kernels[0].examples] == ['"\\d", 1if 1 else 2']


def test_empty_file() -> None:
    assert scan_source("") == ScanResult((), (), None)
    assert scan_source("\n\n# h2j is not here\n") == ScanResult((), (), None)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "import helion\n",
                "@helion.kernel\n",
                "def k(x):\n",
                "    pass\n",
                "# h2j: args(1)\n",
                "# h2j: ref(\n",
                "#h2j:skip\n",
                '"""\n',
                "x = (\n",
                ")\n",
                "\n",
                "    ",
                "é",
                "\r",
                "\\\n",
                "for t in hl.tile(4):\n",
                "class C:\n",
                "k = helion.kernel\n",
                "@k\n",
            ]
        ),
        max_size=30,
    )
)
def test_scan_never_raises(parts: list[str]) -> None:
    result = scan_source("".join(parts))
    if result.syntax_error is not None:
        assert result.kernels == () and result.errors == ()


def test_large_file_tokenizes_only_near_directives(monkeypatch: pytest.MonkeyPatch) -> None:
    filler = (
        'def helper_{i}(a, b=2):\n    """Doc # not a directive."""\n    return [a] * b  # c\n\n'
    )
    kernel = (
        "# h2j: args(torch.randn(4, 8), torch.randn(8, 4))\n"
        "@helion.kernel(static_shapes=True)\n"
        "def kernel_{i}(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:\n"
        "    for tile in hl.tile(x.size(0)):\n"
        "        pass\n"
        "    return x\n\n"
    )
    parts = ["import torch\nimport helion\nimport helion.language as hl\n"]
    for i in range(4000):
        parts.append(filler.format(i=i))
        if i % 20 == 0:
            parts.append(kernel.format(i=i))
    source = "".join(parts)
    tokenized_lines = 0
    real = tokenize.generate_tokens

    def counting(readline: Callable[[], str]) -> Iterator[tokenize.TokenInfo]:
        def counted() -> str:
            nonlocal tokenized_lines
            line = readline()
            tokenized_lines += bool(line)
            return line

        return real(counted)

    monkeypatch.setattr(tokenize, "generate_tokens", counting)
    result = scan_source(source)
    assert len(result.kernels) == 200
    assert all(len(k.examples) == 1 and len(k.tile_loops) == 1 for k in result.kernels)
    assert result.errors == ()
    # 17,403 lines in all; each kernel needs the two lines above its decorator.
    assert source.count("\n") == 17_403
    assert tokenized_lines == 400


# --- tile loops ----------------------------------------------------------------------------


def test_tile_loops() -> None:
    source = """\
        import helion
        import helion.language as hl
        import helion.language as lang
        from helion.language import grid

        @helion.kernel
        def k(x):
            for tile_m, tile_n in hl.tile([4, 4]):
                for tile_k in lang.tile(8, block_size=2):
                    for i in range(3):
                        pass
                for g in grid(4):
                    pass
            for t in helion.language.grid(
                2,
            ):
                pass
            for t in other.tile(4):
                pass
            for t in hl.zeros(4):
                pass
            while hl.tile(4):
                pass

        @helion.kernel
        def shadowed(hl):
            for t in hl.tile(4):
                pass
        """
    kernel, shadowed = scan(source).kernels
    assert kernel.tile_loops == (
        Span(7, 26, 7, 41),
        Span(8, 22, 8, 48),
        Span(11, 17, 11, 24),
        Span(13, 13, 15, 5),
    )
    assert shadowed.tile_loops == ()


# --- args template -------------------------------------------------------------------------


def test_args_template() -> None:
    kernel = only_kernel(
        """\
        import helion
        @helion.kernel
        def k(x: torch.Tensor, y: Tensor, s: float, n: int, f: bool, other, o: int | None,
              w: "torch.Tensor", z: torch.Tensor = None, *args, eps: float, mode: str,
              block: int = 4, **kwargs) -> torch.Tensor:
            pass
        """
    )
    tensor = "torch.randn(16, 16, device=DEVICE)"
    assert args_template(kernel) == (
        f"# h2j: args({tensor}, {tensor}, 1.0, 16, True, None, None, {tensor}, eps=1.0, mode=None)"
    )
    assert args_template(only_kernel("import helion\n@helion.kernel\ndef k(): pass\n")) == (
        "# h2j: args()"
    )


def test_args_template_is_a_valid_directive() -> None:
    source = "import helion\n@helion.kernel\ndef k(x: torch.Tensor, *, alpha: float): pass\n"
    template = args_template(only_kernel(source))
    result = scan_source(source.replace("@", template + "\n@"))
    assert result.errors == ()
    assert [e.text for e in result.kernels[0].examples] == [
        "torch.randn(16, 16, device=DEVICE), alpha=1.0"
    ]
