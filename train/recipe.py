"""Recipes: a training command's options in a TOML file (`--config FILE`), as torchtune's configs.

A recipe holds the options that make a run what it is (architecture, image and text sizes,
optimisation, schedule, epochs), one key an option: the option's name without the leading dashes
(`batch-size = 32`; `batch_size` works too) and switches as booleans under their destination
(`augment = false` for `--no-augment`). Paths that differ between machines (`--data`, `--out`,
`--init`, `--teacher`, `--tokenizer`) stay on the command line. Precedence: an option given on
the command line, then the recipe, then the command's default. An unknown key or a bad value is
an error naming the file and the key. The values in force, the recipe's path among them, are
stored in the run's `run.json`, so `--resume OUT` continues with them.
"""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from train.errors import TrainError
from vqa.toml_file import read_flat_toml

# Options a resumed run may change: they do not touch the arithmetic of training.
RUNTIME_OPTIONS = {
    "num_workers", "device", "progress", "out", "resume", "eval_batch_size", "debug",
    "trust_checkpoint",
}
# Options a recipe may not set: they say where this run is or how the command is called.
NOT_IN_RECIPES = {"help", "config", "resume", "overwrite", "command"}
# Settings that do not change what is trained (where, how fast, how loudly, from which file).
RUNTIME_SETTINGS = RUNTIME_OPTIONS | {"config", "overwrite", "command", "handler"}
_SWITCHES = (argparse._StoreTrueAction, argparse._StoreFalseAction, argparse._StoreConstAction)


def command_actions(parser: argparse.ArgumentParser, command: str) -> dict[str, argparse.Action]:
    """The options of `python -m train COMMAND` by destination.

    argparse has no public way to list a parser's options; its `_actions` list is the stable,
    long-standing way in.
    """
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            sub = action.choices[command]
            return {a.dest: a for a in sub._actions if a.option_strings}
    raise ValueError("the parser has no subcommands")


def read_recipe(path: str | Path) -> dict[str, Any]:
    """The key/value table of a recipe file; a missing file or bad TOML names the file."""
    return read_flat_toml(path, "--config", "a recipe", TrainError)


def _value(path: Path, key: str, action: argparse.Action, raw: Any) -> Any:
    """`raw` checked and converted as the command line would convert the option's text."""
    if isinstance(action, _SWITCHES):
        if not isinstance(raw, bool):
            raise TrainError(f"{path}: {key}: expected true or false, got {raw!r}")
        if isinstance(action, argparse._StoreConstAction) and not isinstance(
            action, (argparse._StoreTrueAction, argparse._StoreFalseAction)
        ):
            return action.const if raw else action.default
        return raw
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        raise TrainError(f"{path}: {key}: expected a number or text, got {raw!r}")
    text = str(raw)
    try:
        value = action.type(text) if action.type is not None else text
    except (argparse.ArgumentTypeError, ValueError) as err:
        raise TrainError(f"{path}: {key}: {err}") from None
    if action.choices is not None and value not in action.choices:
        choices = ", ".join(map(str, action.choices))
        raise TrainError(f"{path}: {key}: {raw!r} is not one of {choices}")
    return value


def recipe_settings(
    path: str | Path, actions: Mapping[str, argparse.Action], command: str
) -> dict[str, Any]:
    """A recipe's values by option destination, validated against the command's options."""
    path = Path(path)
    settings = {}
    for key, raw in read_recipe(path).items():
        dest = key.replace("-", "_")
        if dest not in actions or dest in NOT_IN_RECIPES:
            names = [d.replace("_", "-") for d in actions if d not in NOT_IN_RECIPES]
            close = difflib.get_close_matches(key.replace("_", "-"), names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise TrainError(
                f"{path}: unknown key {key!r}: not an option of `python -m train {command}`{hint}"
            )
        settings[dest] = _value(path, key, actions[dest], raw)
    return settings


def apply_recipe(
    args: argparse.Namespace, actions: Mapping[str, argparse.Action], explicit: Mapping[str, Any]
) -> argparse.Namespace:
    """`args` with the values of `args.config` where the command line did not give the option
    (`explicit`: the options it gave); `actions`: the command's options by destination."""
    settings = recipe_settings(args.config, actions, args.command)
    merged = vars(args) | {k: v for k, v in settings.items() if k not in explicit}
    return argparse.Namespace(**merged)


def recipe_of(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings that decide what a run trains (the runtime ones and unset ones left out)."""
    return {
        k: str(v) if isinstance(v, Path) else v
        for k, v in sorted(settings.items())
        if k not in RUNTIME_SETTINGS and v is not None
    }
