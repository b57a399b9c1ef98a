"""A bundle's model on a phone's kernels: the same loaders, run by arm64 Python under qemu-user.

int8 arithmetic differs between x86 and ARM kernels (MLAS and XNNPACK pick dotprod or i8mm code
on ARM), so an arm64 bundle's accuracy is only the phone's when ARM kernels compute it. The
userland `make arm64-runtime` builds (scripts/build_arm64_runtime.py) holds Debian's arm64
Python and the project's pinned aarch64 wheels; `qemu-aarch64-static -L SYSROOT` runs it without
binfmt or a chroot, and QEMU_CPU picks the emulated CPU model, whose features (HWCAPs) decide
which kernels the runtimes choose. Emulated time says nothing about a phone's: only outputs are
reported.

The host side (`ArmRuntime.run`) writes the inputs to a scratch folder and starts this module's
`main` inside the emulator, which loads the model through `vqa.runtimes.load` (the loaders the
host uses) and writes the logits back.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vqa.errors import UserError

ROOT_ENV = "VQA_ARM64_RUNTIME"
DEFAULT_ROOT = Path.home() / ".cache" / "vizwiz-beit3" / "arm64-runtime"
SYSROOT = "sysroot"
SITE = "site"
INFO_FILE = "runtime.json"
QEMU = "qemu-aarch64-static"
CPUS = ("cortex-a76", "cortex-a55", "max")
"""QEMU CPU models offered: a big and a little phone core (both with dotprod) and QEMU's `max`
(every feature QEMU emulates, i8mm included)."""
DEFAULT_CPU = "cortex-a76"
FORMATS = ("onnx", "executorch")
"""Formats whose runtimes the userland has (no Core ML off Apple, no PyTorch Lite here)."""
_HIDE_SYS = (
    "mount -t tmpfs none /sys && mkdir -p /sys/devices/system/cpu && "
    "echo 0 > /sys/devices/system/cpu/possible && echo 0 > /sys/devices/system/cpu/present && "
    'exec "$@"'
)
"""An empty /sys but for the one emulated CPU (cpuinfo, which XNNPACK needs, reads its count)."""
_REPO = Path(__file__).resolve().parents[2]
_HWCAP_BITS = {"asimddp": (16, 1 << 20), "sve": (16, 1 << 22), "i8mm": (26, 1 << 13),
               "bf16": (26, 1 << 14)}
"""Linux arm64 HWCAP bits (asm/hwcap.h): (auxv type AT_HWCAP=16 or AT_HWCAP2=26, bit)."""


class ArmRuntimeMissing(UserError):
    """The emulated arm64 runtime cannot run on this machine (no qemu, userland not built)."""


def runtime_root() -> Path:
    """Where the userland lives: $VQA_ARM64_RUNTIME or a cache folder under the home."""
    return Path(os.environ.get(ROOT_ENV) or DEFAULT_ROOT)


def read_runtime_info(root: Path) -> dict[str, Any] | None:
    """What the build recorded (pins, versions, disk), or None where it never finished."""
    path = root / INFO_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def missing_reason(root: Path | None = None) -> str | None:
    """Why emulated arm64 runs cannot happen here, in one line, or None when they can."""
    root = root or runtime_root()
    if shutil.which(QEMU) is None:
        return f"{QEMU} not found (Debian's qemu-user-static; `make arm64-runtime` installs it)"
    if read_runtime_info(root) is None:
        return f"no arm64 runtime at {root} (build it with `make arm64-runtime`, ~5 min, as root)"
    return None


@dataclass(frozen=True)
class EmulatedRun:
    """What one emulated run gives back besides the logits."""

    cpu: str
    features: list[str]
    runtime: dict[str, Any]
    load_seconds: float
    run_seconds: float
    emulator: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def kernels(self) -> dict[str, Any]:
        """How a manifest's parity or a result row records the kernels: emulated arm64."""
        return {"isa": "arm64", "emulated": True, "qemu_cpu": self.cpu,
                "features": self.features, "emulator": self.emulator}


class ArmRuntime:
    """The userland at `root`, run under qemu-user."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root or runtime_root()).resolve()
        self.sysroot = self.root / SYSROOT

    @classmethod
    def checked(cls, root: Path | None = None) -> ArmRuntime:
        """The runtime, or ArmRuntimeMissing naming what this machine lacks."""
        reason = missing_reason(root)
        if reason:
            raise ArmRuntimeMissing(reason)
        return cls(root)

    def command(self, *args: str) -> list[str]:
        """qemu-user running the userland's Python, in a mount namespace whose /sys is empty.

        qemu-user shows the host's /sys to the guest: the x86 cache topology there crashes the
        cpuinfo library of onnxruntime and XNNPACK. With one CPU listed and nothing else, cpuinfo
        starts (XNNPACK needs it), and the features come from the HWCAPs QEMU sets.
        """
        qemu = [QEMU, "-L", str(self.sysroot), str(self.sysroot / "usr/bin/python3"), *args]
        as_root = [] if os.geteuid() == 0 else ["--map-root-user"]
        return ["unshare", "--mount", *as_root, "sh", "-c", _HIDE_SYS, "sh", *qemu]

    def environment(self, cpu: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "QEMU_"))}
        env.update(
            QEMU_CPU=cpu,
            PYTHONPATH=os.pathsep.join([str(self.root / SITE), str(_REPO)]),
            PYTHONNOUSERSITE="1",
            PYTHONDONTWRITEBYTECODE="1",
        )
        return env

    def python(self, args: Sequence[str], cpu: str = DEFAULT_CPU) -> str:
        """Run the emulated Python with `args`; its stdout, or ArmRuntimeMissing on a failure."""
        done = subprocess.run(
            self.command(*args), env=self.environment(cpu), capture_output=True, text=True
        )
        if done.returncode != 0:
            tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise ArmRuntimeMissing(
                f"the emulated arm64 Python failed (exit {done.returncode}): {tail}"
            )
        return done.stdout

    def versions(self) -> dict[str, str]:
        """Versions of the runtimes as the emulated Python imports them."""
        code = (
            "import json, importlib.metadata as m, onnxruntime, numpy, torch, "
            "executorch.runtime; print(json.dumps({n: m.version(n) for n in "
            "('onnxruntime', 'numpy', 'torch', 'executorch')}))"
        )
        return json.loads(self.python(["-c", code]).strip().splitlines()[-1])

    def qemu_version(self) -> str:
        done = subprocess.run([QEMU, "--version"], capture_output=True, text=True, check=True)
        return done.stdout.splitlines()[0].strip()

    def run(
        self,
        fmt: str,
        model_path: Path,
        options: dict[str, Any],
        calls: Sequence[Sequence[np.ndarray]],
        cpu: str = DEFAULT_CPU,
    ) -> tuple[list[np.ndarray], EmulatedRun]:
        """Logits of each call (image, question, padding_mask arrays) on emulated `cpu`.

        `options` are `vqa.runtimes.RuntimeOptions` fields (input_names, input_dtypes, ...).
        """
        if fmt not in FORMATS:
            raise UserError(f"{fmt} bundles cannot run on emulated arm64 kernels; only "
                            f"{', '.join(FORMATS)} can")
        if cpu not in CPUS:
            raise UserError(f"unknown emulated CPU {cpu!r}; choose from {', '.join(CPUS)}")
        with tempfile.TemporaryDirectory(prefix="arm64-run-") as scratch:
            folder = Path(scratch)
            arrays = {f"{i}_{j}": a for i, call in enumerate(calls) for j, a in enumerate(call)}
            np.savez(folder / "inputs.npz", **arrays)
            request = {"format": fmt, "model": str(Path(model_path).resolve()),
                       "options": options, "calls": len(calls)}
            (folder / "request.json").write_text(json.dumps(request))
            self.python(["-m", "vqa.runtimes.emulated", str(folder)], cpu)
            reply = json.loads((folder / "reply.json").read_text())
            with np.load(folder / "logits.npz") as outputs:
                logits = [outputs[str(i)] for i in range(len(calls))]
        return logits, EmulatedRun(cpu=cpu, emulator=self.qemu_version(), **reply)


def cpu_features() -> list[str]:
    """The int8-relevant features this (arm64) process's CPU reports through getauxval."""
    import ctypes

    getauxval = ctypes.CDLL(None).getauxval
    getauxval.restype = ctypes.c_ulong
    return [name for name, (kind, bit) in _HWCAP_BITS.items() if getauxval(kind) & bit]


def main(folder: str) -> None:
    """Inside the emulator: run the request in `folder`, write logits.npz and reply.json."""
    from vqa import runtimes

    scratch = Path(folder)
    request = json.loads((scratch / "request.json").read_text())
    options = request["options"]
    for key in ("input_names", "input_dtypes"):
        if key in options:
            options[key] = tuple(options[key])
    start = time.perf_counter()
    model = runtimes.load(request["format"], request["model"], runtimes.RuntimeOptions(**options))
    loaded = time.perf_counter()
    with np.load(scratch / "inputs.npz") as arrays:
        logits = {
            str(i): model(*(arrays[f"{i}_{j}"] for j in range(3)))
            for i in range(request["calls"])
        }
    done = time.perf_counter()
    np.savez(scratch / "logits.npz", **logits)
    reply = {"features": cpu_features(), "runtime": model.info(),
             "load_seconds": loaded - start, "run_seconds": done - loaded}
    (scratch / "reply.json").write_text(json.dumps(reply))


if __name__ == "__main__":
    main(sys.argv[1])
