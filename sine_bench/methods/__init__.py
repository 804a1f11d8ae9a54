"""Editing methods behind one seam (``base.Method``), by name (``registry``): SINE and
the baselines reviewers ask for. The runner talks to methods only through this seam."""

from ..protocol.fields import MethodError
from ..protocol.method_checks import check_knob
from .base import (
    CellContext,
    Edit,
    EditJob,
    FinetuneJob,
    Knob,
    Method,
    PlannedCell,
    Training,
)
from .references import (
    FINETUNED_REFERENCE_METHOD,
    PRETRAINED_REFERENCE_METHOD,
    finetuned_reference,
    pretrained_reference,
)
from .registry import (
    count_evaluations,
    get_method,
    method_names,
    register_method,
    training_steps,
)

__all__ = [
    "FINETUNED_REFERENCE_METHOD",
    "PRETRAINED_REFERENCE_METHOD",
    "CellContext",
    "Edit",
    "EditJob",
    "FinetuneJob",
    "Knob",
    "Method",
    "MethodError",
    "PlannedCell",
    "Training",
    "check_knob",
    "finetuned_reference",
    "pretrained_reference",
    "count_evaluations",
    "get_method",
    "method_names",
    "register_method",
    "training_steps",
]
