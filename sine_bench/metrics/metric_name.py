"""A parsed metric name and the backbones it names (checked by ``registry``)."""

from __future__ import annotations

from dataclasses import dataclass

from .families import FAMILIES, MetricFamily


@dataclass(frozen=True)
class MetricName:
    """A parsed metric name: ``family[backbone]``; two backbones are joined by '+'."""

    text: str
    family: str
    backbone: str | None

    @property
    def info(self) -> MetricFamily:
        return FAMILIES.get(self.family)

    def backbones(self) -> dict[str, str]:
        """kind -> backbone name this metric needs."""
        kinds = self.info.backbones
        if not kinds:
            return {}
        if len(kinds) == 1:
            return {kinds[0]: self.backbone}
        # an LPIPS net name never holds '+': split on the '+' next to it
        first, second = kinds
        split = self.backbone.split if first == "lpips" else self.backbone.rsplit
        a, b = split("+", 1)
        return {first: a, second: b}

    def part(self, kind: str) -> MetricName:
        """This metric seen as one of its backbones (``clip`` -> a clip_t name, ``lpips``
        -> an lpips name), for the shared clip / lpips helpers of combined metrics."""
        family = "clip_t" if kind == "clip" else "lpips"
        return MetricName(self.text, family, self.backbones()[kind])
