"""The distillation losses by name: what `--kd` offers and train.losses implements, importable
without torch so that the command line starts fast."""

KD_LOSSES = ("sigmoid", "softmax")
