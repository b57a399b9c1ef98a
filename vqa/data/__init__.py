"""VQA data: one sample record, the VizWiz and easy-VQA loaders, the torch Dataset.

Names are imported lazily (as in `vqa`), so that reading annotations, parsing `--data` or
writing fixtures does not pay for importing torch. The fixture writer is ``vqa.data.fixtures``
(also a CLI), left out here so that ``python -m vqa.data.fixtures`` does not import itself twice.
"""

from vqa.lazy import lazy_getattr

_EXPORTS = {
    "BadImageError": "vqa.data.dataset",
    "VQADataset": "vqa.data.dataset",
    "collate": "vqa.data.dataset",
    "collate_trimmed": "vqa.data.dataset",
    "load_image": "vqa.data.dataset",
    "samples_to_annotations": "vqa.data.dataset",
    "trim_padding": "vqa.data.dataset",
    "write_annotations": "vqa.data.dataset",
    "easy_vqa_answers": "vqa.data.easy_vqa",
    "load_easy_vqa": "vqa.data.easy_vqa",
    "VQASample": "vqa.data.sample",
    "VizWizFormatError": "vqa.data.vizwiz",
    "VizWizSplit": "vqa.data.vizwiz",
    "find_vizwiz_dir": "vqa.data.vizwiz",
    "load_vizwiz": "vqa.data.vizwiz",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS)
