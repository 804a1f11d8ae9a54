"""The protocol root: a whole protocol file (after ``include:`` merging), its sections,
grid, methods and metrics checked together. Reading files is ``loading.py``; expanding
into cells is ``cells.py``. Nothing here imports torch.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import field_validator, model_validator

from ..metrics.registry import check_metric_name
from .fields import PathText, StrictModel, Text, check_path_text, short
from .grid import GridSpec
from .method_checks import check_methods, check_protocol_methods
from .sections import (
    DatasetSpec,
    EditSpec,
    FinetuneSpec,
    MethodSpec,
    ModelSpec,
    RegressionSpec,
    ScoringSpec,
)


class Protocol(StrictModel):
    """A whole protocol file (after ``include:`` merging)."""

    name: Text
    model: ModelSpec = ModelSpec()
    dataset: DatasetSpec
    finetune: FinetuneSpec = FinetuneSpec()
    edit: EditSpec = EditSpec()
    grid: GridSpec = GridSpec()
    # None: SINE alone over the grid; its tables have no 'method' column
    methods: dict[str, MethodSpec] | None = None
    metrics: list[str] = []
    scoring: ScoringSpec = ScoringSpec()
    output: PathText = "runs/{name}"
    store: PathText = "runs/.store"
    regression: RegressionSpec = RegressionSpec()

    @field_validator("output")
    @classmethod
    def _output_template(cls, value: str) -> str:
        try:
            value.format(name="x")
        except (KeyError, IndexError, ValueError, AttributeError) as err:
            raise ValueError(
                f"output {short(value)} may only use the placeholder {{name}} ({err!r})"
            ) from None
        return value

    @model_validator(mode="after")
    def _output_path(self) -> Protocol:
        try:
            check_path_text(self.output.format(name=self.name))
        except ValueError as err:
            raise ValueError(f"output (with name {short(self.name)} filled in): {err}") from None
        return self

    @field_validator("dataset", mode="before")
    @classmethod
    def _dataset_shorthand(cls, value):
        return {"path": value} if isinstance(value, str) else value

    @field_validator("methods", mode="before")
    @classmethod
    def _methods_shorthand(cls, value):
        """``[sine, sdedit]`` or ``{sdedit: }`` mean those methods at their defaults."""
        if isinstance(value, list):
            repeated = sorted({str(n) for n in value if value.count(n) > 1})
            if repeated:
                raise ValueError(f"lists the method {repeated[0]!r} twice (remove the repeat)")
            value = {name: {} for name in value}
        if isinstance(value, dict):
            value = {name: spec if spec is not None else {} for name, spec in value.items()}
        return value

    @field_validator("methods")
    @classmethod
    def _known_methods(cls, value):
        return value if value is None else check_methods(value)

    @model_validator(mode="after")
    def _sweeps_fit_methods(self) -> Protocol:
        if self.methods is not None:
            check_protocol_methods(self.methods, self.grid)
        return self

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, values: list[str]) -> list[str]:
        for name in values:
            check_metric_name(name)
        if len(set(values)) != len(values):
            raise ValueError("metrics lists a name twice")
        return values

    @property
    def output_dir(self) -> Path:
        return Path(self.output.format(name=self.name))


def json_schema() -> dict:
    return Protocol.model_json_schema()
