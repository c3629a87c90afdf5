"""CUDA autocast, emulated for the dry run on the meta device.

The meta device has no autocast, and a CPU-only torch cannot cast under
`torch.autocast("cuda")`. Within `emulated_autocast(dtype)`, each function named in `POLICY`
first casts its floating tensor arguments on the emulated device (float64 aside) as CUDA
autocast's policy for that op says, then runs: `lower` to the compute dtype, `fp32` to
float32, `fp32_set_opt_dtype` and `fp32_append_dtype` by asking for a float32 result
(unless a dtype is given), `promote` to the widest floating dtype among them and the compute
dtype. As autocast's cast cache does, a float32 leaf that requires grad (a trainable weight)
is cast to the compute dtype once per entry of the context and the copy reused. Every other
function runs as it is; mixed dtypes there promote as they do on CUDA.

The functions are replaced in their namespaces for the duration, as `run.attention` does,
not intercepted by a TorchFunctionMode: a mode is off while it handles `backward`, and the
recomputation of checkpointed layers in backward must cast too (checkpoint re-enters
autocast there), or a float32 weight meets a bf16 input. So only calls through the
namespaces below are cast (`F.linear`, as `nn.Linear` makes; not a name imported earlier).
Differences from CUDA: a composite Python function not listed (e.g.
`F.multi_head_attention_forward`) runs its inner calls uncast; `F.interpolate` counts as
fp32 in every mode, though CUDA's `area` mode (an adaptive pool) is not listed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

LOWER, FP32, PROMOTE = "lower", "fp32", "promote"
FP32_SET_OPT_DTYPE, FP32_APPEND_DTYPE = "fp32_set_opt_dtype", "fp32_append_dtype"
META = "meta"

NAMESPACES: dict[str, Any] = {
    "F": F,
    "torch": torch,
    "Tensor": Tensor,
    "linalg": torch.linalg,
}

_LOWER_OPS = (
    "F.conv1d F.conv2d F.conv3d F.conv_tbc F.conv_transpose1d F.conv_transpose2d"
    " F.conv_transpose3d torch.conv1d torch.conv2d torch.conv3d torch.convolution"
    " F.prelu torch.prelu F.linear torch.addmm torch.addmv torch.addr torch.matmul"
    " torch.einsum torch.mm torch.mv linalg.vecdot torch.addbmm torch.baddbmm torch.bmm"
    " torch.chain_matmul linalg.multi_dot torch.lstm_cell torch.gru_cell torch.rnn_tanh_cell"
    " torch.rnn_relu_cell F.scaled_dot_product_attention"
    " Tensor.addmm Tensor.addmv Tensor.addr Tensor.matmul Tensor.__matmul__ Tensor.__rmatmul__"
    " Tensor.mm Tensor.mv Tensor.addbmm Tensor.baddbmm Tensor.bmm"
)
_FP32_OPS = (
    "torch.acos torch.asin torch.cosh torch.erfinv torch.exp torch.expm1 torch.log"
    " torch.log10 torch.log2 torch.log1p torch.reciprocal torch.rsqrt torch.sinh torch.tan"
    " torch.pow Tensor.acos Tensor.asin Tensor.cosh Tensor.erfinv Tensor.exp Tensor.expm1"
    " Tensor.log Tensor.log10 Tensor.log2 Tensor.log1p Tensor.reciprocal Tensor.rsqrt"
    " Tensor.sinh Tensor.tan Tensor.pow Tensor.__pow__ Tensor.__rpow__"
    " F.softplus F.layer_norm torch.layer_norm F.rms_norm torch.rms_norm F.group_norm"
    " torch.group_norm torch.nuclear_norm F.cosine_similarity torch.cosine_similarity"
    " F.poisson_nll_loss F.cosine_embedding_loss F.nll_loss F.hinge_embedding_loss F.kl_div"
    " F.l1_loss F.smooth_l1_loss F.huber_loss F.mse_loss F.margin_ranking_loss"
    " F.multilabel_margin_loss F.soft_margin_loss F.triplet_margin_loss F.multi_margin_loss"
    " F.binary_cross_entropy_with_logits F.cross_entropy torch.dist F.pdist torch.cdist"
    " torch.renorm torch.logsumexp Tensor.logsumexp F.interpolate"
)
_FP32_SET_OPT_DTYPE_OPS = (
    "torch.prod Tensor.prod F.softmax torch.softmax Tensor.softmax F.log_softmax"
    " torch.log_softmax Tensor.log_softmax torch.cumprod Tensor.cumprod torch.cumsum"
    " Tensor.cumsum linalg.vector_norm linalg.matrix_norm torch.sum Tensor.sum"
)
_PROMOTE_OPS = (
    "torch.addcdiv torch.addcmul torch.atan2 F.bilinear torch.bilinear torch.cross torch.dot"
    " torch.vdot F.grid_sample torch.index_put torch.tensordot torch.scatter_add"
    " Tensor.addcdiv Tensor.addcmul Tensor.atan2 Tensor.cross Tensor.dot Tensor.vdot"
    " Tensor.index_put Tensor.scatter_add"
)

# CUDA autocast's cast policy per op, at the Python entry points that reach each op. The
# lists are torch 2.13's AT_FORALL_LOWER_PRECISION_FP, AT_FORALL_FP32,
# AT_FORALL_FP32_SET_OPT_DTYPE, AT_FORALL_DIFFERENT_REDISPATCH_SIGNATURE (norm) and
# AT_FORALL_PROMOTE in aten/src/ATen/autocast_mode.h, registered for CUDA by
# TORCH_LIBRARY_IMPL(aten, Autocast, m) in aten/src/ATen/autocast_mode.cpp.
# F.interpolate reaches the upsample_* ops and F.cross_entropy log_softmax and nll_loss.
POLICY: dict[str, str] = {
    **dict.fromkeys(_LOWER_OPS.split(), LOWER),
    **dict.fromkeys(_FP32_OPS.split(), FP32),
    **dict.fromkeys(_FP32_SET_OPT_DTYPE_OPS.split(), FP32_SET_OPT_DTYPE),
    **dict.fromkeys(["torch.norm", "Tensor.norm"], FP32_APPEND_DTYPE),
    **dict.fromkeys(_PROMOTE_OPS.split(), PROMOTE),
}


class Casts:
    """Autocast's casting for one entry of the context: which tensors are cast, and the cache
    of trainable weights' copies (autocast's `cached_cast`)."""

    def __init__(self, lower: torch.dtype, device: str, cached: bool = True) -> None:
        self.lower, self.device, self.cached = lower, device, cached
        self._cache: dict[int, tuple[Tensor, Tensor]] = {}  # id(source) -> (source, copy)

    def eligible(self, value: object) -> bool:
        """A floating tensor, not float64, on the emulated device."""
        return (
            isinstance(value, Tensor)
            and value.device.type == self.device
            and value.is_floating_point()
            and value.dtype != torch.float64
        )

    def cast(self, value: Any, dtype: torch.dtype) -> Any:
        """`value` (or each tensor in a list or tuple) in `dtype` when eligible; a float32
        leaf that requires grad, cast to the compute dtype, once per entry when `cached`."""
        if isinstance(value, (list, tuple)):
            return type(value)(self.cast(v, dtype) for v in value)
        if not self.eligible(value) or value.dtype == dtype:
            return value
        cached = (
            self.cached
            and dtype == self.lower
            and value.dtype == torch.float32
            and value.requires_grad
            and value.is_leaf
            and value._base is None  # not a view
        )
        if not cached:
            return value.to(dtype)
        if id(value) not in self._cache:  # the source is held, so its id is not reused
            self._cache[id(value)] = (value, value.to(dtype))
        return self._cache[id(value)][1]

    def widest(self, values: tuple[Any, ...]) -> torch.dtype:
        """The compute dtype promoted with every eligible tensor's dtype (`promote`)."""
        widest = self.lower
        for value in _tensors(values):
            if self.eligible(value):
                widest = torch.promote_types(widest, value.dtype)
        return widest

    def apply(
        self, policy: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The arguments an op under `policy` runs with."""
        if policy in (FP32_SET_OPT_DTYPE, FP32_APPEND_DTYPE):
            given = kwargs.get("dtype") is not None or any(isinstance(a, torch.dtype) for a in args)
            if args and self.eligible(args[0]) and not given:
                kwargs = {**kwargs, "dtype": torch.float32}
            return args, kwargs
        to = {LOWER: self.lower, FP32: torch.float32}.get(policy) or self.widest((args, kwargs))
        return self.cast(args, to), {k: self.cast(v, to) for k, v in kwargs.items()}


def _tensors(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        value = tuple(value.values())
    if isinstance(value, (list, tuple)):
        for item in value:
            yield from _tensors(item)
    else:
        yield value


def _casting(original: Callable[..., Any], policy: str, casts: Casts) -> Callable[..., Any]:
    def cast_then_call(*args: Any, **kwargs: Any) -> Any:
        args, kwargs = casts.apply(policy, args, kwargs)
        return original(*args, **kwargs)

    return cast_then_call


def resolve(name: str) -> tuple[Any, str]:
    """`"F.linear"` -> (torch.nn.functional, "linear")."""
    namespace, attribute = name.split(".", 1)
    return NAMESPACES[namespace], attribute


@contextmanager
def emulated_autocast(
    dtype: torch.dtype, device: str = META, cached: bool = True
) -> Iterator[None]:
    """Within it, the functions of `POLICY` cast as CUDA autocast at `dtype` would on
    `device`'s tensors; a fresh cast cache per entry (none unless `cached`)."""
    casts = Casts(dtype, device, cached)
    replaced: list[tuple[Any, str, Any]] = []  # (owner, attribute, its own value or None)
    try:
        for name, policy in POLICY.items():
            owner, attr = resolve(name)
            replaced.append((owner, attr, vars(owner).get(attr)))  # None: only inherited
            setattr(owner, attr, _casting(getattr(owner, attr), policy, casts))
        yield
    finally:
        for owner, attr, original in reversed(replaced):
            if original is None:
                delattr(owner, attr)
            else:
                setattr(owner, attr, original)
