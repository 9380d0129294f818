# pdafpy: `make run` runs the main job, `make test` runs the tests. Both set up what they need
# first (Debian packages, .venv with pytest, pytest-mpi and pdafpy), idempotently.
SHARED ?= ../shared
RANKS ?= 2
OUT ?= out
export OMPI_ALLOW_RUN_AS_ROOT := 1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM := 1

.PHONY: setup run tutorial test verify bench
setup:
	@bash scripts/setup_env.sh

# Main job: the packaged twin experiment (coupled land/subsurface model, 16 members, 20 days,
# LETKF) on 2 MPI ranks, one model task each; outputs and summary.json in $(OUT)/twin.
run: setup
	mpirun -n $(RANKS) .venv/bin/pdafpy run --tasks $(RANKS) --out $(OUT)/twin

# PDAF's online tutorial, compared with PDAF's reference outputs.
tutorial: setup
	mpirun -n $(RANKS) .venv/bin/pdafpy tutorial online --inputs $(SHARED)/pdaf-tutorial/inputs_online \
		--out $(OUT)/tutorial_online --filter lestkf --tasks 1
	.venv/bin/python scripts/compare_tutorial.py $(SHARED)/pdaf-tutorial/verification/online_2D_serialmodel \
		$(OUT)/tutorial_online

test: setup
	@bash scripts/run_tests.sh

verify: setup
	.venv/bin/pdafpy verify tutorial --refs $(SHARED)/pdaf-tutorial --json $(OUT)/verify_tutorial.json

bench: setup
	.venv/bin/python scripts/bench_analysis.py --json $(OUT)/bench_analysis.json
