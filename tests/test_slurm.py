"""Slurm batch scripts (pdafpy/slurm.py, slurm/*.sbatch): filled in right, checked, valid bash."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pdafpy.errors import ConfigError
from pdafpy.slurm import TEMPLATES, main, node_counts, render_script, split_tasks


def sbatch(script: str) -> dict[str, str]:
    """The active ``#SBATCH --key=value`` directives of a script."""
    return dict(re.findall(r"^#SBATCH --([\w-]+)=(\S+)", script, flags=re.M))


def srun_options(script: str) -> list[str]:
    """The options in the script's ``SRUN=( ... )`` array, comments dropped."""
    block = re.search(r"^SRUN=\(\n(.*?)^\)", script, flags=re.M | re.S).group(1)
    return [line.split("#")[0].strip() for line in block.splitlines()][1:]


def write_config(path: Path, tasks: int | None = None, filter_ranks: int | None = None) -> Path:
    lines = ["[parallel]"]
    if tasks is not None:
        lines.append(f"tasks = {tasks}")
    if filter_ranks is not None:
        lines.append(f"filter_ranks = {filter_ranks}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_multi_node_script_requests_the_layout_and_one_thread_per_rank():
    script = render_script("runs/exp.toml", nodes=4, ranks_per_task=8, tasks=31, filter_ranks=8,
                           cores_per_node=64, time="02:30:00", partition="compute",
                           account="hyd123", job_name="twin")
    assert sbatch(script) == {
        "job-name": "twin", "nodes": "4", "ntasks": "256", "ntasks-per-node": "64",
        "cpus-per-task": "1", "time": "02:30:00", "partition": "compute", "account": "hyd123",
        "output": "logs/%x-%j.out", "error": "logs/%x-%j.err"}
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        assert re.search(rf"^export {var}=1$", script, flags=re.M)
    assert srun_options(script) == ["--ntasks=256", "--ntasks-per-node=64", "--cpus-per-task=1",
                                    "--distribution=block:block", "--cpu-bind=cores"]
    assert "CONFIG=runs/exp.toml" in script
    assert re.search(r'^"\$\{SRUN\[@\]\}" pdafpy run "\$\{CONFIG\}"$', script, flags=re.M)
    assert "#   node 0: world ranks 0-63 (64): filter ranks 0-7, model tasks 0-6" in script
    assert "#   node 3: world ranks 192-255 (64): model tasks 23-30" in script
    assert "# ---- site-specific: BEGIN" in script and "module load" in script
    assert not re.search(r"(?<![$\w])\{[a-z_]+\}", script), "a placeholder was left unfilled"


def test_unset_partition_and_account_are_switched_off():
    script = render_script("exp.toml", nodes=1, ranks_per_task=2, tasks=4,
                           template="single_node")
    assert "partition" not in sbatch(script) and "account" not in sbatch(script)
    assert "##SBATCH --partition=PARTITION" in script
    assert "##SBATCH --account=ACCOUNT" in script
    assert sbatch(script)["ntasks-per-node"] == sbatch(script)["ntasks"] == "8"
    assert sbatch(script)["job-name"] == "pdafpy-exp"


def test_tasks_default_to_as_many_as_fit():
    script = render_script("exp.toml", nodes=2, ranks_per_task=4, tasks=None, filter_ranks=4,
                           cores_per_node=16)
    assert sbatch(script)["ntasks"] == "32"                       # 7 tasks x 4 + 4
    assert "7 tasks x 4 ranks + 4 filter ranks" in script


def test_array_script_runs_one_config_per_index():
    script = render_script("runs/exp_%a.toml", nodes=2, ranks_per_task=4, tasks=8,
                           cores_per_node=16, template="array", array=10)
    directives = sbatch(script)
    assert directives["array"] == "0-9"
    assert directives["output"] == "logs/%x-%A_%a.out"
    assert 'CONFIG=runs/exp_"${SLURM_ARRAY_TASK_ID}".toml' in script


def test_block_distribution_keeps_tasks_whole_when_p_divides_ranks_per_node():
    assert node_counts(10, 3) == [4, 3, 3]
    assert split_tasks(node_counts(64, 2), tasks=8, ranks_per_task=8) == []
    assert split_tasks(node_counts(12, 2), tasks=3, ranks_per_task=4) == [("model task 1", 4, 7)]
    # filter ranks shift every task: 2 filter ranks + 4-rank tasks cut a task at 16
    assert split_tasks(node_counts(34, 2), tasks=8, ranks_per_task=4, filter_ranks=2) == [
        ("model task 3", 14, 17)]
    # a task larger than a node cannot help spanning nodes: not reported
    assert split_tasks(node_counts(64, 4), tasks=2, ranks_per_task=32) == []


@pytest.mark.parametrize("kwargs, words", [
    (dict(nodes=2, ranks_per_task=4, tasks=8, filter_ranks=2, cores_per_node=16),
     ["34 MPI ranks", "2 * 16 = 32 cores", "ask for 3 nodes"]),
    (dict(nodes=2, ranks_per_task=4, tasks=3, cores_per_node=16),
     ["model task 1", "world ranks 4-7", "ranks_per_task = 4", "--allow-straddle"]),
    (dict(nodes=4, ranks_per_task=1, tasks=2), ["nodes = 4", "node would be empty"]),
    (dict(nodes=2, ranks_per_task=4, tasks=8, template="single_node"),
     ["nodes = 2", "single_node"]),
    (dict(nodes=0, ranks_per_task=4, tasks=8), ["nodes = 0", ">= 1"]),
    (dict(nodes=1, ranks_per_task=4, tasks=2, filter_ranks=-1), ["filter_ranks = -1"]),
    (dict(nodes=1, ranks_per_task=4, tasks=2, time="1h"), ["time = '1h'"]),
    (dict(nodes=1, ranks_per_task=4, tasks=2, partition="a b"), ["partition = 'a b'"]),
    (dict(nodes=1, ranks_per_task=4, tasks=None), ["tasks = None", "--cores-per-node"]),
    (dict(nodes=1, ranks_per_task=4, tasks=2, template="array", array=3), ["%a"]),
    (dict(nodes=1, ranks_per_task=4, tasks=2, array=3), ["array = 3", "template='array'"]),
    (dict(nodes=1, ranks_per_task=4, tasks=2, template="nosuch"), ["template = 'nosuch'"]),
])
def test_inconsistent_request_is_a_config_error_naming_the_value(kwargs, words):
    with pytest.raises(ConfigError) as info:
        render_script("exp.toml", **kwargs)
    for word in words:
        assert word in str(info.value)


def test_allow_straddle_warns_instead():
    with pytest.warns(UserWarning, match="model task 1"):
        script = render_script("exp.toml", nodes=2, ranks_per_task=4, tasks=3,
                               cores_per_node=16, allow_straddle=True)
    assert "#   node 0: world ranks 0-5 (6): model tasks 0-1 (split: 1)" in script
    assert "#   node 1: world ranks 6-11 (6): model tasks 1-2 (split: 1)" in script


def test_command_line_takes_tasks_and_filter_ranks_from_the_config(tmp_path, capsys):
    config = write_config(tmp_path / "exp.toml", tasks=7, filter_ranks=4)
    assert main([str(config), "--nodes", "2", "--ranks-per-task", "4",
                 "--cores-per-node", "16", "--partition", "big"]) == 0
    script = capsys.readouterr().out
    assert sbatch(script)["ntasks"] == "32" and sbatch(script)["partition"] == "big"
    assert "7 tasks x 4 ranks + 4 filter ranks" in script
    # the command line wins over the file
    assert main([str(config), "--nodes", "1", "--ranks-per-task", "5", "--tasks", "2",
                 "--filter-ranks", "0"]) == 0
    assert sbatch(capsys.readouterr().out)["ntasks"] == "10"


def test_pdafs_name_for_the_model_tasks_is_read_too(tmp_path):
    """``n_modeltasks`` is [parallel] tasks, as pdafpy run reads it; it used to be ignored."""
    from pdafpy.slurm import read_parallel
    config = tmp_path / "pdaf.toml"
    config.write_text("[parallel]\nn_modeltasks = 3\nfilter_ranks = 1\n")
    assert read_parallel(config) == (3, 1)


def test_command_line_fills_the_nodes_when_the_config_gives_no_tasks(tmp_path, capsys):
    config = write_config(tmp_path / "exp.toml")
    assert main([str(config), "--nodes", "1", "--ranks-per-task", "4",
                 "--cores-per-node", "18"]) == 0
    script = capsys.readouterr().out
    assert sbatch(script)["ntasks"] == "16" and "#SBATCH --nodes=1" in script


@pytest.mark.parametrize("content, words", [
    (None, ["exp.toml", "not found"]),
    ("[parallel]\ntasks = 'four'\n", ["exp.toml", "parallel.tasks = 'four'"]),
    ("[parallel]\nfilter_ranks = -2\n", ["exp.toml", "parallel.filter_ranks = -2"]),
    ("parallel = 3\n", ["exp.toml", "parallel = 3"]),
    ("[parallel\n", ["exp.toml", "cannot read"]),
    (b"\xff\xfe = 1\n", ["exp.toml", "not UTF-8 text"]),
])
def test_command_line_reports_a_bad_config_naming_file_and_key(tmp_path, capsys, content, words):
    config = tmp_path / "exp.toml"
    if isinstance(content, bytes):
        config.write_bytes(content)
    elif content is not None:
        config.write_text(content)
    assert main([str(config), "--nodes", "1", "--ranks-per-task", "4"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pdafpy slurm: error:")
    for word in words:
        assert word in err


def test_command_line_array_checks_every_config(tmp_path, capsys):
    for i in range(3):
        write_config(tmp_path / f"exp_{i}.toml", tasks=4, filter_ranks=0 if i < 2 else 1)
    pattern = str(tmp_path / "exp_%a.toml")
    args = ["--array", "2", "--nodes", "1", "--ranks-per-task", "4"]
    assert main([pattern, *args]) == 0
    assert sbatch(capsys.readouterr().out)["array"] == "0-1"
    args[1] = "3"
    assert main([pattern, *args]) == 2
    assert "exp_2.toml: tasks = 4, filter_ranks = 1" in capsys.readouterr().err


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_every_rendered_template_is_valid_bash(template, tmp_path):
    script = render_script("runs/exp_%a.toml" if template == "array" else "runs/my exp.toml",
                           nodes=1, ranks_per_task=2, tasks=3, filter_ranks=2,
                           cores_per_node=8, template=template,
                           array=4 if template == "array" else None)
    path = tmp_path / "job.sh"
    path.write_text(script)
    result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


FAKE_SRUN = """#!/bin/bash
# stands in for srun: runs the command once per rank with SLURM_PROCID set
n=1
while [[ "$1" == --* ]]; do [[ "$1" == --ntasks=* ]] && n=${1#--ntasks=}; shift; done
for ((r = 0; r < n; r++)); do SLURM_PROCID=$r "$@"; done
"""
FAKE_PDAFPY = """#!/bin/bash
echo "pdafpy $* rank $SLURM_PROCID threads $OMP_NUM_THREADS $OPENBLAS_NUM_THREADS $MKL_NUM_THREADS"
"""


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize("dry_run", [False, True])
def test_rendered_script_runs_under_a_stand_in_srun(tmp_path, dry_run):
    """The script's own logic (site block, exports, srun array, dry run) with srun faked."""
    bin_dir, home = tmp_path / "bin", tmp_path / "home"
    bin_dir.mkdir()
    (home / "venvs/pdafpy/bin").mkdir(parents=True)
    (home / "venvs/pdafpy/bin/activate").write_text("")
    for name, text in (("srun", FAKE_SRUN), ("pdafpy", FAKE_PDAFPY), ("module", "#!/bin/sh\n")):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    script = tmp_path / "job.sh"
    script.write_text(render_script("my exp.toml", nodes=1, ranks_per_task=2, tasks=2,
                                    filter_ranks=1, template="single_node"))
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    env.update(PATH=f"{bin_dir}:{env['PATH']}", HOME=str(home), SLURM_JOB_ID="42",
               PDAFPY_DRY_RUN="1" if dry_run else "0")
    out = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env,
                         cwd=tmp_path, check=True).stdout
    if dry_run:
        roles = re.findall(r"^world rank (\d) on \S+ cores \S*: (.*)$", out, flags=re.M)
        assert roles == [("0", "filter rank 0"), ("1", "model task 0, its rank 0"),
                         ("2", "model task 0, its rank 1"), ("3", "model task 1, its rank 0"),
                         ("4", "model task 1, its rank 1")]
        assert "pdafpy run" not in out
    else:
        runs = re.findall(r"^pdafpy run my exp.toml rank (\d) threads 1 1 1$", out, flags=re.M)
        assert runs == ["0", "1", "2", "3", "4"]


def test_a_layout_the_configuration_cannot_run_is_refused(tmp_path, capsys):
    """More model tasks than the experiment has runs: refused as ``pdafpy run`` refuses it, and
    the rest of the configuration validated too; a bad --array is one line (it was a traceback)."""
    config = tmp_path / "l96.toml"
    config.write_text('model = "lorenz96"\n[ensemble]\nsize = 4\n')
    assert main([str(config), "--nodes", "1", "--ranks-per-task", "1", "--tasks", "10"]) == 2
    err = capsys.readouterr().err
    assert "l96.toml" in err and "parallel.tasks = 10: more model tasks than the 9 runs" in err
    config.write_text('model = "lorenz96"\n[ensemble]\nsize = 4\n[filter]\nforget = -1\n')
    assert main([str(config), "--nodes", "1", "--ranks-per-task", "1", "--tasks", "2"]) == 2
    assert "filter.forget" in capsys.readouterr().err
    assert main([str(config), "--nodes", "1", "--ranks-per-task", "1", "--array", "0"]) == 2
    assert "--array 0: expected" in capsys.readouterr().err
