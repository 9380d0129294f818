"""Land data assimilation with pdafpy: the coupled model as the ensemble sees it, synthetic
land observations, and the twin experiment behind ``pdafpy run``."""
