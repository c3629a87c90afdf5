"""The machine and software a run measured: GPU, driver, CUDA, torch, backend flags."""

from __future__ import annotations

import os
import platform
import sys

import torch

from mobius_core.measure.nvml import open_device


def environment() -> dict[str, object]:
    """Plain-JSON description of this machine and its numeric settings."""
    env: dict[str, object] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.version.cuda,
        "gpu": None,
        "nvml": False,
    }
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(torch.cuda.current_device())
        matmul = torch.backends.cuda.matmul
        env.update(
            gpu=props.name,
            gpu_memory=props.total_memory,
            cudnn=torch.backends.cudnn.version(),
            tf32_matmul=matmul.allow_tf32,
            tf32_cudnn=torch.backends.cudnn.allow_tf32,
            bf16_reduced_precision_reduction=matmul.allow_bf16_reduced_precision_reduction,
            fp16_reduced_precision_reduction=matmul.allow_fp16_reduced_precision_reduction,
            cudnn_benchmark=torch.backends.cudnn.benchmark,
        )
        handle, reason = open_device()
        env["nvml"] = handle is not None
        if handle is None:
            env["nvml_reason"] = reason
        else:
            import pynvml

            env["driver"] = pynvml.nvmlSystemGetDriverVersion()
    return env
