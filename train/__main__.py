"""`python -m train finetune | distill | evaluate | describe` (see train.cli)."""

from train.cli import main

raise SystemExit(main())
