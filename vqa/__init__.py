"""The ground floor: the BEiT-3 VQA model, checkpoints, tokenizer, data, answers and metric."""

from vqa.checkpoint import CheckpointError, load_model, read_checkpoint, save_checkpoint
from vqa.configs import BEiT3Config, get_config, list_configs
from vqa.model import BEiT3ForVQA, create_model

__all__ = [
    "BEiT3Config",
    "BEiT3ForVQA",
    "CheckpointError",
    "create_model",
    "get_config",
    "list_configs",
    "load_model",
    "read_checkpoint",
    "save_checkpoint",
]
