"""The answer vocabulary: VQA as classification over the most frequent ground-truth answers.

Targets are soft scores that equal the official VizWiz accuracy each answer would earn, so the
training loss rewards what the metric rewards.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch

from vqa.configs import DEFAULT_NUM_ANSWERS
from vqa.errors import UserError
from vqa.io import atomic_write_text
from vqa.metrics import normalize_answer

UNANSWERABLE = "unanswerable"
# Official accuracy of an answer given by `count` of 10 annotators (leave-one-out, min(1, n/3)).
_SOFT_SCORES = (0.0, 0.3, 0.6, 0.9, 1.0)


class AnswerVocabError(UserError):
    """An invalid answer list; the message names the file and line where there is one."""


def write_answers(path: str | Path, answers: Sequence[str]) -> int | None:
    """Write `answers` one a line (UTF-8, "\\n" endings), atomically, as bundles and runs
    carry them; returns the index of "unanswerable" (None when absent), which manifests and
    runtimes record beside the file."""
    for answer in answers:
        problem = _check_answer(answer)
        if problem:
            raise AnswerVocabError(f"{path}: {problem}")
    atomic_write_text(path, "".join(answer + "\n" for answer in answers))
    return list(answers).index(UNANSWERABLE) if UNANSWERABLE in answers else None


def soft_score(count: int) -> float:
    """Target score of an answer given by `count` of the 10 annotators: 0, .3, .6, .9, 1.0."""
    if count < 0:
        raise ValueError(f"an answer count cannot be negative, got {count}")
    return _SOFT_SCORES[min(count, 4)]


def _check_answer(answer: object) -> str | None:
    """Why `answer` cannot be a vocabulary entry (one a line in the answers file), or None."""
    if not isinstance(answer, str):
        return f"answers must be strings, got {type(answer).__name__}"
    if not answer.strip():
        return "an answer cannot be empty or blank"
    if "\n" in answer or "\r" in answer:
        return f"answer {answer!r} contains a line break"
    return None


class AnswerVocab:
    """An ordered list of answers; a model's output index i stands for answers[i].

    `normalize` records whether ground-truth answers pass through the official prediction
    normalization before lookup; targets() applies it, index() looks strings up as given.
    """

    def __init__(self, answers: Sequence[str], *, normalize: bool = False) -> None:
        if not answers:
            raise AnswerVocabError("an answer vocabulary needs at least one answer")
        position: dict[str, int] = {}
        for i, answer in enumerate(answers):
            problem = _check_answer(answer)
            if problem:
                raise AnswerVocabError(f"entry {i}: {problem}")
            if answer in position:
                raise AnswerVocabError(f"entry {i}: duplicate answer {answer!r}")
            position[answer] = i
        self.answers: list[str] = list(answers)
        self.normalize = normalize
        self._position = position

    @classmethod
    def from_list(cls, answers: Sequence[str], *, normalize: bool = False) -> AnswerVocab:
        """A vocabulary holding exactly these answers, in this order."""
        return cls(answers, normalize=normalize)

    @classmethod
    def build(
        cls,
        answer_lists: Iterable[Sequence[str]],
        top_k: int = DEFAULT_NUM_ANSWERS,
        normalize: bool = False,
    ) -> AnswerVocab:
        """The top_k answers most often given over all annotators of all questions.

        Ties go to the alphabetically first answer so that a build is reproducible. Empty or
        blank answers and answers with line breaks are no candidates.
        """
        if top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {top_k}")
        counts: Counter[str] = Counter()
        for answers in answer_lists:
            for answer in answers:
                if normalize:
                    answer = normalize_answer(answer)
                if _check_answer(answer) is None:
                    counts[answer] += 1
        if not counts:
            raise AnswerVocabError("no answers to build a vocabulary from")
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        return cls([answer for answer, _ in ranked[:top_k]], normalize=normalize)

    def __len__(self) -> int:
        return len(self.answers)

    def __repr__(self) -> str:
        return f"AnswerVocab({len(self)} answers, normalize={self.normalize})"

    def index(self, answer: str) -> int | None:
        """Position of `answer` (as given, not normalized), or None when it is not in the list."""
        return self._position.get(answer)

    @property
    def unanswerable_index(self) -> int | None:
        """Position of "unanswerable", which answerability heads and apps look for."""
        return self.index(UNANSWERABLE)

    def targets(self, answers: Sequence[str]) -> torch.Tensor:
        """Soft target scores [len(self)] for one question from its annotators' answers."""
        if self.normalize:
            answers = [normalize_answer(answer) for answer in answers]
        target = torch.zeros(len(self), dtype=torch.float32)
        for answer, count in Counter(answers).items():
            i = self.index(answer)
            if i is not None:
                target[i] = soft_score(count)
        return target

    def save(self, path: str | Path) -> int | None:
        """Write one answer a line (UTF-8), atomically; see `write_answers`."""
        return write_answers(path, self.answers)

    @classmethod
    def load(cls, path: str | Path, *, normalize: bool = False) -> AnswerVocab:
        """Read an answers file written by save(); `normalize` as the vocabulary was built."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise AnswerVocabError(f"{path}: answers file not found") from None
        except UnicodeDecodeError as e:
            raise AnswerVocabError(f"{path}: not UTF-8 text ({e})") from None
        except OSError as e:
            raise AnswerVocabError(f"{path}: cannot read answers file ({e.strerror})") from None
        lines = text.split("\n")
        if lines[-1] == "":
            lines.pop()
        if not lines:
            raise AnswerVocabError(f"{path}: holds no answers")
        first_line: dict[str, int] = {}
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                raise AnswerVocabError(f"{path}, line {number}: empty or blank line")
            if line in first_line:
                raise AnswerVocabError(
                    f"{path}, line {number}: duplicate answer {line!r} "
                    f"(first on line {first_line[line]})"
                )
            first_line[line] = number
        return cls(lines, normalize=normalize)
