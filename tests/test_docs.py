"""The README and docs/ tell the truth about the repository: stamped figures, links that resolve,
every command and config named.

A measured figure in docs/results.md or docs/performance.md lives in a section that carries its
stamp (commit, command, machine, date), so a reader can tell where and when it was measured.
"""

from __future__ import annotations

import datetime
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from benchmark.__main__ import build_parser
from vqa.configs import list_configs

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MEASUREMENT_DOCS = ("docs/results.md", "docs/performance.md")
# The README and the docs it owns; other docs/ pages are checked by their own tests.
LINKED_DOCS = (
    "README.md",
    *MEASUREMENT_DOCS,
    "docs/demo.md",
    "docs/models.md",
    "docs/training.md",
    "docs/export.md",
    "docs/benchmark.md",
)
MAX_README_LINES = 250
# Files outside the repository that its docs must not send a reader to; spelled in parts, so that
# a search of the repository for these names finds real mentions only.
OUTSIDE_NAMES = ("/".join(("..", "shared")), ".".join(("STACK", "md")))

STAMP = re.compile(
    r"^Stamp: commit (?:`(?P<commit>[0-9a-f]{7,40})`|not recorded); "
    r"command (?P<command>.*`[^`]+`.*); machine (?P<machine>[^;]+); "
    r"date (?:(?P<date>\d{4}-\d{2}-\d{2})|not recorded)\.$"
)
# A figure: a number with the unit of a measurement.
FIGURE = re.compile(r"\d(?:[\d,.]*\d)? ?(?:%|ms\b|MB\b|MiB\b|GB\b|GFLOP/s|minutes\b|s\b|x\b)")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} +(.+?) *$", re.MULTILINE)


def _text(relative: str) -> str:
    return (ROOT / relative).read_text(encoding="utf-8")


def _sections(text: str) -> list[tuple[str, str]]:
    """(heading, body) for the text before the first `## ` heading and for each such section."""
    parts = re.split(r"^(## .*)$", text, flags=re.MULTILINE)
    sections = [("(top)", parts[0])]
    sections += [(parts[i], parts[i + 1]) for i in range(1, len(parts), 2)]
    return sections


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.M | re.S)
    return {_slug(h) for h in HEADING.findall(text)}


def _stamps(relative: str) -> list[re.Match[str]]:
    lines = [line for line in _text(relative).splitlines() if line.startswith("Stamp:")]
    matches = [STAMP.match(line) for line in lines]
    bad = [line for line, m in zip(lines, matches, strict=True) if m is None]
    assert not bad, f"{relative}: malformed stamp lines: {bad}"
    return matches


@pytest.mark.parametrize("relative", MEASUREMENT_DOCS)
def test_every_figure_is_in_a_stamped_section(relative: str) -> None:
    _stamps(relative)
    unstamped = [
        heading
        for heading, body in _sections(_text(relative))
        if FIGURE.search(body) and not any(STAMP.match(line) for line in body.splitlines())
    ]
    assert not unstamped, f"{relative}: sections with figures but no stamp: {unstamped}"


def test_stamp_figure_detection_sees_units() -> None:
    # The detector itself, on text written for it: figures with units, and text without any.
    for figure in ("45.2 minutes", "96.99 %", "1264 ms", "7.19 MB", "3.32x", "743 s"):
        assert FIGURE.search(figure), figure
    for plain in ("beit3_base_6l", "Python 3.11", "iOS 17", "0.5 points", "2-core"):
        assert not FIGURE.search(plain), plain


@pytest.mark.parametrize("relative", MEASUREMENT_DOCS)
def test_stamp_dates_are_real_days_not_in_the_future(relative: str) -> None:
    for match in _stamps(relative):
        if match["date"]:
            assert datetime.date.fromisoformat(match["date"]) <= datetime.date.today()


def _full_history() -> bool:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        return False
    shallow = subprocess.run(
        ["git", "rev-parse", "--is-shallow-repository"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    return shallow.returncode == 0 and shallow.stdout.strip() == "false"


@pytest.mark.parametrize("relative", MEASUREMENT_DOCS)
def test_stamp_commits_are_in_the_history(relative: str) -> None:
    if not _full_history():
        pytest.skip("needs a git checkout with its full history")
    for match in _stamps(relative):
        if match["commit"]:
            found = subprocess.run(
                ["git", "cat-file", "-e", f"{match['commit']}^{{commit}}"],
                cwd=ROOT, capture_output=True, check=False,
            )
            assert found.returncode == 0, f"{relative}: commit {match['commit']} not in history"


@pytest.mark.parametrize("relative", LINKED_DOCS)
def test_links_to_repository_files_resolve(relative: str) -> None:
    source = ROOT / relative
    broken = []
    for target in LINK.findall(source.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):
            continue
        path_part, _, anchor = target.partition("#")
        path = (source.parent / path_part).resolve() if path_part else source
        if not path.exists() or ROOT not in (path, *path.parents):
            broken.append(target)
        elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
            broken.append(target)
    assert not broken, f"{relative}: links that do not resolve: {broken}"


def test_readme_names_every_benchmark_subcommand() -> None:
    readme = README.read_text(encoding="utf-8")
    subparsers = next(a for a in build_parser()._actions if a.dest == "command")
    missing = [v for v in subparsers.choices if f"python -m benchmark {v}" not in readme]
    assert not missing, f"README lacks `python -m benchmark VERB` for: {missing}"


def test_readme_names_every_config() -> None:
    readme = README.read_text(encoding="utf-8")
    missing = [name for name in list_configs() if f"`{name}`" not in readme]
    assert not missing, f"README's models table lacks: {missing}"


def test_readme_figures_come_from_the_stamped_docs() -> None:
    measured = "".join(_text(r) for r in MEASUREMENT_DOCS)
    figures = [m.group(0) for m in FIGURE.finditer(README.read_text(encoding="utf-8"))]
    assert figures, "the README gives the front-door commands' measured times"
    missing = [f for f in figures if f not in measured]
    assert not missing, f"README figures not in {MEASUREMENT_DOCS}: {missing}"


def test_readme_is_a_front_door() -> None:
    readme = README.read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= MAX_README_LINES
    assert "make test" in readme and "make demo" in readme
    for relative in LINKED_DOCS:
        text = _text(relative)
        assert not [name for name in OUTSIDE_NAMES if name in text], relative
