"""Two ranks for real (gloo, CPU), end to end: the pytest suite (`pytest bench/ --nproc 2
--mode ddp`), `step` and `profile` under `--nproc 2`, each at a clip small enough to take
seconds; and the suite's one-line refusals where ranks and mode disagree."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mobius_core.run.dist_launch import without_option

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--preset", "tiny", "--frames", "2", "--resolution", "32"]
VARIANTS = ["--variants", "serial,mobius"]


def run(*words: str, timeout: float = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *words], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
        env=env,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--mode", "ddp"], "ERROR: --mode ddp: needs ranks; add --nproc N (pytest bench/"),
        (["--nproc", "2"], "ERROR: --nproc/torchrun: runs --mode ddp or fsdp, not eager"),
        (["--mode", "fsdp", "--nproc", "0"], "ERROR: --nproc: needs at least 1 process, got 0"),
    ],
)
def test_the_suite_refuses_ranks_and_mode_that_disagree(options: list[str], message: str) -> None:
    done = run("-m", "pytest", "bench/", "--collect-only", "-q", *options, timeout=120)
    assert done.returncode == 4
    assert done.stderr.strip().startswith(message), done.stderr


def test_a_rank_gets_the_words_without_nproc_in_both_spellings() -> None:
    words = ["bench/", "--nproc", "2", "--mode", "ddp", "--nproc=3", "-q", "--nprocs", "4"]
    assert without_option(words, "--nproc") == ["bench/", "--mode", "ddp", "-q", "--nprocs", "4"]


@pytest.fixture(scope="module")
def suite_json(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("ranked") / "run.json"
    done = run(
        "-m", "pytest", "bench/", "--mode", "ddp", "--nproc", "2", *SMALL, *VARIANTS,
        "--rounds", "3", "--warmup", "1", "--benchmark-json", str(out), "-q",
        "-p", "no:cacheprovider",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(out.read_text())


def test_the_ranked_suite_writes_one_record_per_variant_at_world_size_2(suite_json: dict) -> None:
    entries = {b["params"]["variant"]: b for b in suite_json["benchmarks"]}
    assert sorted(entries) == ["mobius", "serial"]
    for entry in entries.values():
        record = entry["extra_info"]
        assert record["status"] == "ok"
        assert record["case"]["mode"] == "ddp" and record["case"]["world_size"] == 2
        assert len(record["distributed"]["rank_median_ms"]) == 2
        assert len(entry["stats"]["data"]) == 3  # pytest-benchmark ran the 3 timed rounds


def test_pytest_benchmark_timed_each_round_around_rank_0_own_step(suite_json: dict) -> None:
    """A round is a barrier, the step and a max over ranks: rank 0's clock around it cannot
    be shorter than rank 0's own step."""
    for entry in suite_json["benchmarks"]:
        record = entry["extra_info"]
        round_ms = 1000 * statistics.median(entry["stats"]["data"])
        assert round_ms >= record["distributed"]["rank_median_ms"][0]


def test_the_ranked_suite_sets_mobius_ratio_from_both_records(suite_json: dict) -> None:
    records = {b["params"]["variant"]: b["extra_info"] for b in suite_json["benchmarks"]}
    serial = statistics.median(records["serial"]["time"]["samples_ms"])
    mobius = statistics.median(records["mobius"]["time"]["samples_ms"])
    assert records["mobius"]["ratio_to_baseline"]["ratio"] == pytest.approx(mobius / serial)


def test_a_rank_failing_in_the_suite_ends_the_run_naming_it(tmp_path: Path) -> None:
    """Rank 1's first timed round raises (tests/fixtures/rank1_fails.py): the run ends at
    once, not a test later or a timeout later, with one line naming rank 1 and why."""
    fixtures = str(ROOT / "tests" / "fixtures")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([fixtures, os.environ.get("PYTHONPATH", "")]),
    }
    begin = time.monotonic()
    done = run(
        "-m", "pytest", "bench/", "-p", "rank1_fails", "--mode", "ddp", "--nproc", "2", *SMALL,
        *VARIANTS, "--rounds", "2", "--warmup", "0", "--rank-timeout", "120",
        "--benchmark-json", str(tmp_path / "run.json"), "-q", "-p", "no:cacheprovider",
        env=env,
    )  # fmt: skip
    assert time.monotonic() - begin < 100  # well under the 120 s a waiting rank would take
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.startswith("pytest bench/:")]
    assert lines == [
        "pytest bench/: rank 1 failed (exit status 1): rank 1: serial at"
        " tiny-b1-f2-r32-fp32-ddp-w2: RuntimeError: boom on purpose"
    ], done.stderr[-2000:]


def with_fixtures(*folders: Path) -> dict[str, str]:
    """The environment with `folders` and tests/fixtures first on PYTHONPATH."""
    paths = [*map(str, folders), str(ROOT / "tests" / "fixtures"), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def test_a_variant_failing_to_build_in_the_suite_keeps_the_json(tmp_path: Path) -> None:
    """mobius fails to build on both ranks (tests/fixtures/build_fails.py): rank 1 goes on,
    rank 0 fails that test, writes the JSON (serial's record, mobius's failure) and names it."""
    out = tmp_path / "run.json"
    done = run(
        "-m", "pytest", "bench/", "-p", "build_fails", "--mode", "ddp", "--nproc", "2", *SMALL,
        *VARIANTS, "--rounds", "2", "--warmup", "0", "--benchmark-json", str(out), "-q",
        "-p", "no:cacheprovider", env=with_fixtures(),
    )  # fmt: skip
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.startswith("pytest bench/:")]
    assert lines == [
        "pytest bench/: rank 0 failed (exit status 1): variants failed (mobius at"
        " tiny-b1-f2-r32-fp32-ddp-w2)"
    ], done.stderr[-2000:]
    written = json.loads(out.read_text())
    assert [b["params"]["variant"] for b in written["benchmarks"]] == ["serial"]
    assert [r["variant"]["name"] for r in written["mobius_failed_records"]] == ["mobius"]


def test_a_variant_failing_to_build_under_bench_nproc_is_named(tmp_path: Path) -> None:
    """The same under `mobius-bench bench --nproc 2` (a sitecustomize applies the fixture in
    every rank): the run finishes, and its last line names the variant, not a failed rank."""
    (tmp_path / "sitecustomize.py").write_text("import build_fails\n\nbuild_fails.apply()\n")
    done = run(
        "-m", "mobius_core", "bench", "--nproc", "2", "--mode", "ddp", "--out",
        str(tmp_path / "runs"), "--", *SMALL, *VARIANTS, "--rounds", "2", "--warmup", "0",
        env=with_fixtures(tmp_path),
    )  # fmt: skip
    assert done.returncode == 1
    (folder,) = (tmp_path / "runs").iterdir()
    lines = [line for line in done.stderr.splitlines() if line.startswith("mobius-bench:")]
    assert lines == [
        "mobius-bench: rank 0 finished; variants failed (mobius at tiny-b1-f2-r32-fp32-ddp-w2);"
        f" records in {folder / 'run.json'}"
    ], done.stderr[-2000:]


def test_step_runs_as_two_ranks_rank_0_printing_each_rank() -> None:
    """Under FSDP the serial family computes one function (the same weights, checkpointed or
    in diffusers' layout), so rank 0's loss is the same for all three (to float rounding for
    diffusers' layers); the step time is the larger of the two ranks' own."""
    done = run("-m", "mobius_core", "step", "--nproc", "2", "--mode", "fsdp", *SMALL)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = {
        cells[0]: cells[1:]
        for line in done.stdout.splitlines()
        if line.startswith("| ") and not line.startswith("| variant")
        for cells in [[c.strip() for c in line.strip("|").split("|")]]
    }
    assert sorted(rows) == sorted(["serial", "serial-ckpt", "mobius", "mobius-double",
                                   "diffusers-serial"])  # fmt: skip
    # one function, summed in another order by diffusers' layers: equal to float rounding
    serial, ckpt, peer = (float(rows[v][1]) for v in ("serial", "serial-ckpt", "diffusers-serial"))
    assert ckpt == serial and peer == pytest.approx(serial, rel=1e-4)
    assert float(rows["mobius"][1]) != pytest.approx(serial, rel=1e-4)  # another function
    for _, _, slowest, by_rank in rows.values():
        ranks = [float(ms) for ms in by_rank.split(" / ")]
        assert len(ranks) == 2 and float(slowest) == max(ranks)


def test_profile_runs_as_two_ranks_each_in_its_folder(tmp_path: Path) -> None:
    out = tmp_path / "profile"
    done = run(
        "-m", "mobius_core", "profile", "--nproc", "2", "--mode", "ddp", *SMALL,
        "--variants", "mobius", "--steps", "1", "--warmup", "0", "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert (out / "profile.md").is_file()
    assert any((out / "rank1").iterdir())
