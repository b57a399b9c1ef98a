"""VQA data: one sample record, the VizWiz and easy-VQA loaders, the torch Dataset.

The fixture writer is ``vqa.data.fixtures`` (also a CLI), left out here so that
``python -m vqa.data.fixtures`` does not import itself twice.
"""

from vqa.data.dataset import (
    BadImageError,
    VQADataset,
    collate,
    load_image,
    samples_to_annotations,
    write_annotations,
)
from vqa.data.easy_vqa import easy_vqa_answers, load_easy_vqa
from vqa.data.sample import VQASample
from vqa.data.vizwiz import VizWizFormatError, VizWizSplit, find_vizwiz_dir, load_vizwiz

__all__ = [
    "BadImageError",
    "VQADataset",
    "VQASample",
    "VizWizFormatError",
    "VizWizSplit",
    "collate",
    "easy_vqa_answers",
    "find_vizwiz_dir",
    "load_easy_vqa",
    "load_image",
    "load_vizwiz",
    "samples_to_annotations",
    "write_annotations",
]
