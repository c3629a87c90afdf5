"""The pytest face of the bench API: options, the selected cases, one session, the JSON.

pytest bench/ --benchmark-json run.json [--preset P] [--matrix claim|full] [--variants a,b]
    [--frames 8,16] [--resolution 256] [--batch 1,2] [--dtype bf16] [--device cuda]
    [--rounds 8] [--warmup 2] [--mode eager|compile|ddp|fsdp] [--nproc N]

The session measures only what was collected (so `-k mobius` measures mobius alone), in
any order. Failed records (oom, error) travel in the session and are written into the JSON.

`--mode ddp` and `--mode fsdp` run as ranks: `--nproc N` starts this pytest again as N
ranks (as torchrun does), or `torchrun --nproc-per-node N -m pytest bench/ --mode ddp ...`
starts them. Every rank runs every test together (`run.ranked_session`); rank 0 alone
writes the JSON.
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace

import pytest

from mobius_core.errors import BadInput
from mobius_core.measure.environment import environment
from mobius_core.outputs import check_new_file
from mobius_core.report.record import Case
from mobius_core.report.runs import FAILED_KEY
from mobius_core.run import distributed
from mobius_core.run.dist_launch import SUITE, check_nproc, check_ranks, failed_variants
from mobius_core.run.matrix import SUITE_OPTIONS, Options, parse, plan
from mobius_core.run.ranked_session import RankedSession, tell_launcher
from mobius_core.run.session import BenchSession

OPTIONS = pytest.StashKey[Options]()
SESSION = pytest.StashKey[BenchSession | RankedSession]()
WORLD = pytest.StashKey[distributed.World]()
RANK_OPTIONS = {
    "nproc": "start this pytest again as N ranks, as torchrun does (--mode ddp or fsdp)",
    "rank-timeout": "seconds a rank waits for the others in a collective (default"
    f" {distributed.DEFAULT_TIMEOUT_S:.0f})",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mobius-bench")
    for name, text in {**SUITE_OPTIONS, **RANK_OPTIONS}.items():
        group.addoption(f"--{name}", help=text)


@pytest.hookimpl(tryfirst=True)  # before pytest-benchmark reads --benchmark-json
def pytest_configure(config: pytest.Config) -> None:
    """Check the options and the output path before collection: one-line usage errors.
    With `--nproc N`, start N ranks of this pytest and exit with their outcome; as a rank,
    join the group (rank 0 alone writes the JSON)."""
    launched = distributed.launched()
    try:
        options = parse({name: config.getoption(name.replace("-", "_")) for name in SUITE_OPTIONS})
        nproc = _number(config, "nproc", int)
        ranks = _ranks(options.mode, nproc, launched)
        if nproc is not None and not launched:
            check_nproc(nproc, options.device)
        plan(options if ranks is None else replace(options, world_size=ranks))
        out = config.getoption("benchmark_json", None)
        if out is not None:
            check_new_file(out)
        timeout = _number(config, "rank_timeout", float)
        if timeout is not None and not timeout > 0:
            raise BadInput(f"--rank-timeout: must be above 0 seconds, got {timeout}")
        if nproc is not None and not launched:
            _relaunch(config, nproc)
        if launched:
            world = distributed.join(options.device, timeout or distributed.DEFAULT_TIMEOUT_S)
    except BadInput as error:
        raise pytest.UsageError(str(error)) from None
    if launched:
        config.stash[WORLD] = world
        options = replace(options, world_size=world.size)
        if not world.leader:  # one JSON and one table, rank 0's
            config.option.benchmark_json = None
            config.option.benchmark_save = config.option.benchmark_autosave = None
            config.option.benchmark_quiet = True
    config.stash[OPTIONS] = options


def pytest_unconfigure(config: pytest.Config) -> None:
    distributed.leave()


def _number(config: pytest.Config, name: str, kind: type) -> int | float | None:
    value = config.getoption(name)
    try:
        return None if value is None else kind(value)
    except ValueError:
        raise pytest.UsageError(f"--{name.replace('_', '-')}: not a number: {value}") from None


def _ranks(mode: str, nproc: int | None, launched: bool) -> int | None:
    """The world size this run will have (None: no ranks); bad input where ranks and mode
    disagree, or where this machine cannot run them."""
    check_ranks(mode, nproc, launched, SUITE)
    return int(os.environ["WORLD_SIZE"]) if launched else nproc


def _relaunch(config: pytest.Config, nproc: int) -> None:
    """This pytest again as `nproc` ranks (without --nproc); exits with their outcome."""
    from mobius_core.run.dist_launch import launch, without_option

    args = without_option(list(config.invocation_params.args), "--nproc")
    failures = launch(nproc, args, [sys.executable, "-m", "pytest"])
    for line in failures:
        print(f"pytest bench/: {line}", file=sys.stderr)
    pytest.exit(
        f"{nproc} ranks: " + ("; ".join(failures) or "every rank passed"), 1 if failures else 0
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "case" not in metafunc.fixturenames:
        return
    options = metafunc.config.stash[OPTIONS]
    pairs = [(c, v) for c, names in plan(options).items() for v in names]
    ids = [f"{c.key}-{v}" for c, v in pairs]
    metafunc.parametrize(("case", "variant"), pairs, ids=ids)


def pytest_collection_finish(session: pytest.Session) -> None:
    """The plan: the cases and variants that were selected, as collected."""
    plan: dict[Case, list[str]] = {}
    for item in session.items:
        params = getattr(item, "callspec", None)
        if params is not None and "case" in params.params:
            plan.setdefault(params.params["case"], []).append(params.params["variant"])
    world = session.config.stash.get(WORLD, None)
    ranked = world is not None
    session.config.stash[SESSION] = RankedSession(plan, world) if ranked else BenchSession(plan)


@pytest.fixture(scope="session")
def bench(request: pytest.FixtureRequest) -> BenchSession | RankedSession:
    return request.config.stash[SESSION]


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    env = environment()
    machine_info.update(mobius=env, gpu=env.get("gpu"), torch=env.get("torch"))


def pytest_benchmark_update_json(
    config: pytest.Config, benchmarks: list, output_json: dict
) -> None:
    session = config.stash.get(SESSION, None)
    output_json[FAILED_KEY] = [r.to_dict() for r in session.failed] if session else []
    if isinstance(session, RankedSession):  # ratios need every variant of a case
        records = session.with_ratios()  # a test stopped inside its rounds has none: left out
        kept = [e for e in output_json["benchmarks"] if e["param"] in records]
        for entry in kept:
            entry["extra_info"].update(records[entry["param"]].to_dict())
        output_json["benchmarks"] = kept


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Rank 0 of a ranked run names its failed variants on stderr, last (its JSON written):
    the line the launcher quotes."""
    bench = session.config.stash.get(SESSION, None)
    if isinstance(bench, RankedSession) and bench.world.leader:
        failed = failed_variants(bench.failed)
        if failed is not None:
            tell_launcher(session.config, failed)
