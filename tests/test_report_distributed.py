"""The report's "Distributed runs" section: present only for ddp and fsdp records, with the
CPU correctness-check label on CPU runs."""

from __future__ import annotations

import pandas as pd

from mobius_core.report.distributed import CPU_LABEL, distributed_section


def _row(mode: str, device: str, status: str = "ok") -> dict[str, object]:
    return {
        "case": f"tiny-b1-f4-r64-fp32-{mode}-w2",
        "variant": "mobius",
        "mode": mode,
        "world_size": 2,
        "device": device,
        "status": status,
        "time_median_ms": 150.0,
        "time_world1_median_ms": 75.0,
        "scaling_efficiency": 0.5,
        "comm_bytes": 2 * 2**20,
        "rank_peak_max": 16 * 2**20,
    }


def test_cpu_ddp_is_labelled_a_correctness_check() -> None:
    text = "\n".join(distributed_section(pd.DataFrame([_row("ddp", "cpu")])))
    assert "## Distributed runs" in text and CPU_LABEL in text
    assert "| tiny-b1-f4-r64-fp32-ddp-w2 | mobius | ddp | 2 | 150.0 | 75.0 | 0.50 |" in text
    assert "2.0 MiB" in text and "16.0 MiB" in text


def test_cuda_fsdp_carries_no_cpu_label() -> None:
    text = "\n".join(distributed_section(pd.DataFrame([_row("fsdp", "cuda")])))
    assert "## Distributed runs" in text and CPU_LABEL not in text


def test_no_section_without_a_distributed_ok_record() -> None:
    rows = pd.DataFrame([_row("eager", "cpu"), _row("ddp", "cpu", status="error")])
    assert distributed_section(rows) == []
