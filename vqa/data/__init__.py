"""VQA data: one sample record, the VizWiz and easy-VQA loaders, test fixtures, the torch Dataset.

Import the submodules directly (``from vqa.data.vizwiz import load_vizwiz``): only
``vqa.data.dataset`` needs torch, so the loaders and the fixture CLI stay light.
"""
