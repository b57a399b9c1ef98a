"""Core ML bundles through coremltools (macOS only), on the compute units the run asks for."""

from __future__ import annotations

from benchmark.runners.base import BundleRunner
from vqa.runtimes import RuntimeOptions


class CoreMLRunner(BundleRunner):
    def runtime_options(self) -> RuntimeOptions:
        units = self.spec.options.get("coreml_units", "all")
        return RuntimeOptions.from_manifest(
            self.spec.manifest, threads=None, extra={"coreml_units": units}
        )
