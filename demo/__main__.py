"""``python -m demo``: the whole-round demo (what ``make demo`` runs); see ``demo/round.py``."""

from demo.round import main

raise SystemExit(main())
