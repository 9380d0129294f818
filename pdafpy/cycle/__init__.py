"""The assimilation cycle, the one place a filter's analysis is called.

- :mod:`pdafpy.cycle.loop`: :class:`AssimilationCycle`, forecast -> collect -> observe -> halo ->
  analyse -> constrain -> distribute -> output and checkpoint;
- :mod:`pdafpy.cycle.hooks`: what an application adds (:class:`CycleHooks`), and the
  :class:`CycleStep` and :class:`Observed` the cycle hands it;
- :mod:`pdafpy.cycle.modules`: :func:`module_plan`, the ``[[analysis]]`` tables as the parts of
  one analysis time;
- :mod:`pdafpy.cycle.parts`: :func:`analyse_part`, one analysis module on one run group (mask,
  analysis, inflation, masked and damped write-back, derived variables);
- :mod:`pdafpy.cycle.analysis`: :func:`analysis_step`, one analysis on the filter ranks
  (observe the owned observations, innovation check, halo exchange, local search, the filter);
  PDAF's offline mode calls it directly.
"""

from .analysis import AnalysisReport, analysis_step
from .loop import (PHASES, AssimilationCycle, Checkpointing, CycleHooks, CycleOptions,
                   CycleResult, CycleStep, Observed, RunFailed)
from .modules import module_plan
from .parts import AnalysisPart, analyse_part, combine_mask, inflate_analysed, write_back

__all__ = ["AnalysisReport", "analysis_step", "PHASES", "AnalysisPart", "AssimilationCycle",
           "Checkpointing", "CycleHooks", "CycleOptions", "CycleResult", "CycleStep", "Observed",
           "RunFailed", "analyse_part", "combine_mask", "inflate_analysed", "module_plan",
           "write_back"]
