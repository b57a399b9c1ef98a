"""Every Swift file of the iOS demo parses (tree-sitter-swift): no Swift compiler exists here.

This is a syntax check only, no type check: it catches unbalanced braces, broken expressions and
stray tokens, naming the file, line and column of each error or missing node. On the same
syntax trees: every SwiftUI control of the app carries an accessibility label and hint, and no
source uses the network.
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


CONTROLS = {"Button", "TextField", "SecureField", "Slider", "Picker", "Toggle", "Stepper"}
NETWORK = ("URLSession", "import Network", "http://", "https://", "NWConnection")


def unlabelled_controls(source: bytes) -> list[str]:
    """`line:column: Control` for each SwiftUI control whose modifier chain lacks
    .accessibilityLabel or .accessibilityHint."""
    parser = Parser(Language(tree_sitter_swift.language()))
    tree = parser.parse(source)
    missing: list[str] = []
    stack: list[Node] = [tree.root_node]
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        first = node.children[0] if node.children else None
        if node.type != "call_expression" or first is None or first.type != "simple_identifier":
            continue
        control = source[first.start_byte : first.end_byte].decode()
        if control not in CONTROLS:
            continue
        modifiers, current = set(), node
        while (
            current.parent is not None
            and current.parent.type == "navigation_expression"
            and current.parent.children[0] == current
        ):
            suffix = current.parent.children[1]
            modifiers.add(source[suffix.start_byte : suffix.end_byte].decode().lstrip("."))
            current = current.parent
            if current.parent is not None and current.parent.type == "call_expression":
                current = current.parent
        if not {"accessibilityLabel", "accessibilityHint"} <= modifiers:
            missing.append(f"{node.start_point.row + 1}:{node.start_point.column + 1}: {control}")
    return missing


def test_the_accessibility_check_finds_an_unlabelled_control():
    labelled = b'''let v = VStack {
    Button("Go") { go() }
        .font(.title)
        .accessibilityLabel("Go")
        .accessibilityHint("Starts")
}'''
    assert unlabelled_controls(labelled) == []
    assert unlabelled_controls(b'let v = Slider(value: $x).accessibilityLabel("x")\n') == [
        "1:9: Slider"
    ]


def test_every_app_control_has_an_accessibility_label_and_hint():
    app = sorted((IOS / "VQADemo").rglob("*.swift"))
    assert app
    problems = [
        f"{path.relative_to(ROOT)}:{entry}"
        for path in app
        for entry in unlabelled_controls(path.read_bytes())
    ]
    assert not problems, "controls without accessibilityLabel and accessibilityHint:\n" + "\n".join(
        problems
    )


def test_no_swift_source_uses_the_network():
    for path in SWIFT_FILES:
        text = path.read_text("utf-8")
        used = [word for word in NETWORK if word in text]
        assert not used, f"{path.relative_to(ROOT)} uses {used}"


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
