"""Every Swift file of the iOS demo parses (tree-sitter-swift): no Swift compiler exists here.

This is a syntax check only, no type check: it catches unbalanced braces, broken expressions and
stray tokens, naming the file, line and column of each error or missing node.
"""

from pathlib import Path

import pytest
import tree_sitter_swift
from tree_sitter import Language, Node, Parser

ROOT = Path(__file__).resolve().parents[1]
IOS = ROOT / "ios_demo"
SWIFT_FILES = sorted(IOS.rglob("*.swift"))


def syntax_problems(source: bytes) -> list[str]:
    """`line:column: what` (1-based) for every ERROR or MISSING node of a Swift source."""
    parser = Parser(Language(tree_sitter_swift.language()))
    tree = parser.parse(source)
    problems: list[str] = []
    stack: list[Node] = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.is_missing:
            problems.append(f"{node.start_point.row + 1}:{node.start_point.column + 1}: "
                            f"missing {node.type!r}")
        elif node.is_error:
            text = source[node.start_byte : node.end_byte].decode("utf-8", "replace")
            problems.append(f"{node.start_point.row + 1}:{node.start_point.column + 1}: "
                            f"syntax error near {text[:40]!r}")
        stack.extend(reversed(node.children))
    return sorted(problems, key=lambda p: tuple(int(x) for x in p.split(":")[:2]))


def test_the_checker_finds_errors_and_accepts_valid_swift():
    assert syntax_problems(b"struct A { var b: Int = 1 }\nfunc f() -> Int { A().b }\n") == []
    assert syntax_problems(b"func f() { let x = [1, 2\n }\n") == ["1:25: missing ']'"]
    assert syntax_problems(b"struct { }\n") == ["1:1: syntax error near 'struct'"]


def test_the_ios_demo_has_its_sources():
    names = {p.relative_to(IOS).as_posix() for p in SWIFT_FILES}
    assert "VQACore/Package.swift" in names
    assert any(n.startswith("VQACore/Sources/VQACore/") for n in names)
    assert any(n.startswith("VQACore/Tests/VQACoreTests/") for n in names)
    assert any(n.startswith("VQADemo/") for n in names)


@pytest.mark.parametrize("path", SWIFT_FILES, ids=lambda p: p.relative_to(IOS).as_posix())
def test_swift_file_parses(path):
    problems = syntax_problems(path.read_bytes())
    where = path.relative_to(ROOT)
    assert not problems, "\n".join(f"{where}:{p}" for p in problems)
