"""`python -m tinygrad_rnn ...`: the same as the `tinygrad-rnn` command."""

from .cli import main

raise SystemExit(main())
