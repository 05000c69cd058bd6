"""Live A/B switches of the optimisations (perf.switches reads them; docs/operations.md#ab-switches)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from taskra_site.switches import SWITCH_VARIANTS


class SwitchName(models.TextChoices):
    PAGE_CACHE = "page_cache", "Page cache (issue and result pages)"
    ISSUE_LRU = "issue_lru", "Issue LRU (hot issue rows in process)"
    ADAPTER_VALIDATION = "adapter_validation", "Adapter validation on reads"
    NAVIGATOR_CACHE = "navigator_cache", "Navigator result caching"
    GC_PAUSE = "gc_pause", "GC pause on bulk serialisation"


class SwitchMode(models.TextChoices):
    SETTING = "setting", "Follow the setting (no experiment)"
    A = "a", "Everyone gets variant A"
    B = "b", "Everyone gets variant B"
    SPLIT = "split", "Split sessions: percent_b % get B"


class Switch(models.Model):
    """One optimisation's switch: follow the setting, force a variant, or split sessions between two variants."""

    name = models.CharField(max_length=32, choices=SwitchName.choices, unique=True)
    mode = models.CharField(max_length=8, choices=SwitchMode.choices, default=SwitchMode.SETTING)
    variant_a = models.CharField(
        max_length=16,
        blank=True,
        help_text="on or off (adapter validation: shadow, skip or validate); blank: on/shadow",
    )
    variant_b = models.CharField(
        max_length=16, blank=True, help_text="The variant compared with A; blank: off (adapter validation: skip)"
    )
    percent_b = models.PositiveSmallIntegerField(
        default=50,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text="Share of sessions (0-100) in variant B when split; each session keeps its variant.",
    )
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name}: {self.mode}"

    def clean(self) -> None:
        allowed = SWITCH_VARIANTS.get(self.name, ())
        if allowed:
            # Blank variants: what the setting gives today (A) against turning the optimisation off (B).
            self.variant_a = self.variant_a or allowed[0]
            self.variant_b = self.variant_b or allowed[1]
        errors = {}
        for field in ("variant_a", "variant_b"):
            if getattr(self, field) not in allowed:
                errors[field] = f"Choose one of: {', '.join(allowed)}."
        if not errors and self.variant_a == self.variant_b and self.mode == SwitchMode.SPLIT:
            errors["variant_b"] = "A split needs two different variants."
        if errors:
            raise ValidationError(errors)
