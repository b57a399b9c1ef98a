"""The ground floor: the BEiT-3 VQA model, checkpoints, tokenizer, data, answers and metric.

Names are imported lazily so that light commands (scoring a predictions file) do not pay for
importing torch and torchscale.
"""

from vqa.lazy import lazy_getattr

_EXPORTS = {
    "BEiT3Config": "vqa.configs",
    "get_config": "vqa.configs",
    "list_configs": "vqa.configs",
    "BEiT3ForVQA": "vqa.model",
    "create_model": "vqa.model",
    "CheckpointError": "vqa.checkpoint",
    "load_model": "vqa.checkpoint",
    "read_checkpoint": "vqa.checkpoint",
    "save_checkpoint": "vqa.checkpoint",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS)
