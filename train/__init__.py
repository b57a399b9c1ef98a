"""Training: finetune a BEiT-3 teacher, distil smaller students, evaluate, describe sizes.

Run as ``python -m train finetune | distill | evaluate | describe``; multi-GPU and multi-node
through ``torchrun`` (DDP). Imports ``vqa`` only.
"""
