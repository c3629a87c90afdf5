"""The pytest face of the bench API: options, the selected cases, one session, the JSON.

pytest bench/ --benchmark-json run.json [--preset P] [--matrix claim|full] [--variants a,b]
    [--frames 8,16] [--resolution 256] [--batch 1,2] [--dtype bf16] [--device cuda]
    [--rounds 8] [--warmup 2]

The session measures only what was collected (so `-k mobius` measures mobius alone), in
any order. Failed records (oom, error) travel in the session and are written into the JSON.
"""

from __future__ import annotations

import pytest

from mobius_core.errors import BadInput
from mobius_core.measure.environment import environment
from mobius_core.outputs import check_new_file
from mobius_core.report.record import Case
from mobius_core.report.runs import FAILED_KEY
from mobius_core.run.matrix import SUITE_OPTIONS, Options, parse, plan
from mobius_core.run.session import BenchSession

OPTIONS = pytest.StashKey[Options]()
SESSION = pytest.StashKey[BenchSession]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mobius-bench")
    for name, text in SUITE_OPTIONS.items():
        group.addoption(f"--{name}", help=text)


def pytest_configure(config: pytest.Config) -> None:
    """Check the options and the output path before collection: one-line usage errors."""
    try:
        options = parse({name: config.getoption(name.replace("-", "_")) for name in SUITE_OPTIONS})
        plan(options)
        out = config.getoption("benchmark_json", None)
        if out is not None:
            check_new_file(out)
    except BadInput as error:
        raise pytest.UsageError(str(error)) from None
    config.stash[OPTIONS] = options


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
    session.config.stash[SESSION] = BenchSession(plan)


@pytest.fixture(scope="session")
def bench(request: pytest.FixtureRequest) -> BenchSession:
    return request.config.stash[SESSION]


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    env = environment()
    machine_info.update(mobius=env, gpu=env.get("gpu"), torch=env.get("torch"))


def pytest_benchmark_update_json(
    config: pytest.Config, benchmarks: list, output_json: dict
) -> None:
    session = config.stash.get(SESSION, None)
    output_json[FAILED_KEY] = [r.to_dict() for r in session.failed] if session else []
