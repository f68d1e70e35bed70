"""The paper evaluation: EIE's tables and figures regenerated from the simulator.

``run_paper(out, PaperSettings.for_mode("default"))`` writes ``report.md``, figures (PNG and
SVG) and the Parquet data behind each one; ``eiesim paper`` is its command line.
"""

from eiesim.paper.evaluation import PaperRun, run_paper
from eiesim.paper.settings import MODES, PaperSettings

__all__ = ["MODES", "PaperRun", "PaperSettings", "run_paper"]
