"""Build the arm64 userland that runs bundles on phone kernels under QEMU (make arm64-runtime).

No binfmt registration and no emulated package setup: Debian's arm64 packages for Python are
downloaded by `debootstrap --foreign` and unpacked as they are, and the aarch64 wheels of the
project's pinned runtimes are installed by the host's pip (`--platform manylinux_2_28_aarch64`).
The runtime then starts `qemu-aarch64-static -L SYSROOT SYSROOT/usr/bin/python3` directly (see
vqa/runtimes/emulated.py). Building needs root (debootstrap, apt-get); running does not.

Idempotent: a folder whose runtime.json records the same pins is left as it is.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from importlib import metadata
from pathlib import Path

from vqa.errors import UserError, run_main
from vqa.runtimes import emulated

REPO = Path(__file__).resolve().parent.parent
SUITE = "bookworm"
"""Debian release of the userland: its python3 is 3.11, the project's Python."""
DEBIAN_PACKAGES = ("python3",)
HOST_PACKAGES = {"qemu-aarch64-static": "qemu-user-static", "debootstrap": "debootstrap"}
GLIBC_MINOR = 36
"""bookworm's glibc is 2.36: every manylinux_2_x aarch64 wheel up to it runs there."""
WHEEL_PLATFORMS = ("manylinux2014_aarch64",) + tuple(
    f"manylinux_2_{minor}_aarch64" for minor in range(17, GLIBC_MINOR + 1)
)
RUNTIMES = ("onnxruntime", "numpy", "torch")
"""Installed with their dependencies: what `import onnxruntime` and `import torch` need (PyPI's
aarch64 torch is a CUDA build: its NVIDIA libraries come along, unused, for most of the disk)."""
NO_DEPS = ("executorch", "torchao")
"""Installed alone: executorch's declared dependencies are exporter tools (coremltools, pandas,
...) that its runtime bindings never import."""
IMPORT_HELPERS = ("ruamel.yaml", "tabulate", "tqdm")
"""What `import executorch.runtime` imports besides torch (through executorch.exir), in the
versions the project's environment has."""


def pins() -> dict[str, str]:
    """The versions pyproject.toml pins for the runtimes, and this environment's versions of
    the helpers their imports need."""
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    found = dict(re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+)", d).groups() for d in deps if "==" in d)
    wanted = {name: found[name] for name in (*RUNTIMES, *NO_DEPS)}
    for name in IMPORT_HELPERS:
        try:
            wanted[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            raise UserError(f"{name} is not installed here: run `make setup` first") from None
    return wanted


def debian_mirror() -> str:
    """The Debian mirror apt uses on this host (deb822 .sources files or sources.list)."""
    sources = sorted(Path("/etc/apt/sources.list.d").glob("*.sources"))
    for path in sources:
        text = path.read_text()
        for stanza in text.split("\n\n"):
            uris = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
            suites = re.search(r"^Suites:\s*(.+)$", stanza, re.M)
            if uris and suites and SUITE in suites.group(1).split():
                return uris.group(1)
    for path in [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*.list")]:
        if path.is_file():
            match = re.search(rf"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+{SUITE}\s", path.read_text(), re.M)
            if match:
                return match.group(1)
    raise UserError(f"no Debian {SUITE} mirror in /etc/apt/sources.list*; pass --mirror URL")


def run(command: list[str], log: Path, **kwargs) -> None:
    """Run a build step, its output appended to `log`; a failure names the step and the log."""
    with log.open("a") as out:
        out.write(f"$ {' '.join(command)}\n")
        out.flush()
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, **kwargs)
    if done.returncode != 0:
        raise UserError(f"{command[0]} failed (exit {done.returncode}); see {log}")


def host_tools(log: Path) -> None:
    """qemu-user-static and debootstrap, installed with apt-get where missing."""
    missing = [pkg for tool, pkg in HOST_PACKAGES.items() if shutil.which(tool) is None]
    if not missing:
        return
    if os.geteuid() != 0:
        raise UserError(
            f"building the arm64 runtime needs {', '.join(missing)} (Debian packages) and root "
            "to install them; run as root"
        )
    print(f"installing {', '.join(missing)} with apt-get")
    run(["apt-get", "update", "-qq"], log)
    run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], log,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


def build_sysroot(root: Path, mirror: str, log: Path) -> None:
    """Debian arm64 python3 and the libraries it needs, unpacked (no maintainer scripts)."""
    final = root / emulated.SYSROOT
    if (final / "usr/bin/python3").exists():
        return
    if os.geteuid() != 0:
        raise UserError("building the arm64 userland needs root (debootstrap); run as root")
    scratch = root / (emulated.SYSROOT + ".tmp")
    shutil.rmtree(scratch, ignore_errors=True)
    print(f"downloading Debian {SUITE} arm64 {', '.join(DEBIAN_PACKAGES)} from {mirror}")
    run(["debootstrap", "--foreign", "--arch=arm64", "--variant=minbase",
         f"--include={','.join(DEBIAN_PACKAGES)}", SUITE, str(scratch), mirror], log)
    debs = sorted((scratch / "var/cache/apt/archives").glob("*.deb"))
    print(f"unpacking {len(debs)} packages")
    for deb in debs:
        run(["dpkg-deb", "-x", str(deb), str(scratch)], log)
    shutil.rmtree(scratch / "var/cache/apt/archives", ignore_errors=True)
    shutil.rmtree(scratch / "debootstrap", ignore_errors=True)
    scratch.rename(final)


def install_wheels(root: Path, wanted: dict[str, str], log: Path) -> None:
    """The pinned aarch64 wheels, installed by the host's pip into SITE."""
    scratch = root / (emulated.SITE + ".tmp")
    shutil.rmtree(scratch, ignore_errors=True)
    common = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
              "--target", str(scratch), "--only-binary=:all:", "--python-version", "3.11",
              "--implementation", "cp", "--abi", "cp311", "--no-compile"]
    common += [arg for platform in WHEEL_PLATFORMS for arg in ("--platform", platform)]
    for names, extra in ((RUNTIMES + IMPORT_HELPERS, []), (NO_DEPS, ["--no-deps"])):
        specs = [f"{name}=={wanted[name]}" for name in names]
        print(f"installing aarch64 wheels: {' '.join(specs)}")
        run([*common, *extra, *specs], log)
    shutil.rmtree(root / emulated.SITE, ignore_errors=True)
    scratch.rename(root / emulated.SITE)


def disk_bytes(folder: Path) -> int:
    return sum(p.lstat().st_size for p in folder.rglob("*") if p.is_file() or p.is_symlink())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=None,
                        help=f"where to build it (default: ${emulated.ROOT_ENV} or "
                        f"{emulated.DEFAULT_ROOT})")
    parser.add_argument("--mirror", default=None, help="Debian mirror (default: apt's)")
    args = parser.parse_args(argv)
    root = (args.root or emulated.runtime_root()).resolve()
    wanted = pins()
    recorded = emulated.read_runtime_info(root)
    if recorded and recorded.get("pins") == wanted:
        print(f"arm64 runtime up to date at {root} ({recorded['disk_mb']} MB)")
        return 0
    root.mkdir(parents=True, exist_ok=True)
    log = root / "build.log"
    start = time.perf_counter()
    host_tools(log)
    (root / emulated.INFO_FILE).unlink(missing_ok=True)
    build_sysroot(root, args.mirror or debian_mirror(), log)
    install_wheels(root, wanted, log)
    runtime = emulated.ArmRuntime(root)
    print("checking the runtimes import under emulation")
    versions = runtime.versions()
    if versions != {name: wanted[name] for name in versions}:
        raise UserError(f"the arm64 userland reports {versions}, expected {wanted}")
    info = {
        "pins": wanted,
        "imports": versions,
        "qemu": runtime.qemu_version(),
        "debian": SUITE,
        "disk_mb": round(disk_bytes(root) / 2**20),
        "build_seconds": round(time.perf_counter() - start),
        "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    temp = root / (emulated.INFO_FILE + ".tmp")
    temp.write_text(json.dumps(info, indent=1) + "\n")
    temp.rename(root / emulated.INFO_FILE)
    print(f"arm64 runtime ready at {root}: {info['disk_mb']} MB, built in "
          f"{info['build_seconds']} s; {', '.join(f'{k} {v}' for k, v in versions.items())}; "
          f"{info['qemu']}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
