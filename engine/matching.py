"""Match samples across inputs by ID (never by position) and explain mismatches."""
from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class SampleMatch:
    """Outcome of :func:`match_samples`."""

    common: tuple[str, ...]
    missing: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    suggestions: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every input has exactly the same IDs."""
        return not any(self.missing.values()) and not any(self.extra.values())

    def summary(self) -> str:
        """Readable text: counts, missing/extra IDs per input, suggestions."""
        lines = [f"{len(self.common)} samples matched by ID"]
        for name, ids in self.missing.items():
            if ids:
                lines.append(f"{name}: missing {len(ids)} sample(s): {', '.join(ids[:10])}"
                             + (" ..." if len(ids) > 10 else ""))
        for name, ids in self.extra.items():
            if ids:
                lines.append(f"{name}: {len(ids)} sample(s) only here: {', '.join(ids[:10])}"
                             + (" ..." if len(ids) > 10 else ""))
        for a, b, why in self.suggestions:
            lines.append(f"'{a}' and '{b}' may be the same sample ({why})")
        return "\n".join(lines)


def _norm(s: str) -> str:
    return re.sub(r"\s+", "", s).lower()


def _strip_suffix(s: str) -> str:
    return re.sub(r"([._\-\s](rep\d*|r\d+|\d+|[a-z]))$", "", _norm(s))


def match_samples(**named_id_lists) -> SampleMatch:
    """Common IDs (in the order of the first input), missing/extra per input, and
    suggestions for IDs differing only by case, whitespace or a suffix."""
    lists = {k: [str(i) for i in v] for k, v in named_id_lists.items()}
    if not lists:
        return SampleMatch(common=())
    sets = {k: set(v) for k, v in lists.items()}
    union = set().union(*sets.values())
    inter = set.intersection(*sets.values())
    first = next(iter(lists.values()))
    common = tuple(i for i in dict.fromkeys(first) if i in inter)
    missing = {k: sorted(union - s) for k, s in sets.items()}
    extra = {}
    for k, s in sets.items():
        others = set().union(*(sets[o] for o in sets if o != k)) if len(sets) > 1 else set()
        extra[k] = sorted(s - others) if len(sets) > 1 else []
    odd = sorted(union - inter)
    suggestions = []
    seen = set()
    for i, a in enumerate(odd):
        for b in odd[i + 1:]:
            why = None
            if _norm(a) == _norm(b):
                why = "differ only by case or whitespace"
            elif _strip_suffix(a) == _strip_suffix(b) or _strip_suffix(a) == _norm(b) or _norm(a) == _strip_suffix(b):
                why = "differ only by a suffix"
            if why and (a, b) not in seen:
                seen.add((a, b))
                suggestions.append((a, b, why))
    return SampleMatch(common=common, missing=missing, extra=extra, suggestions=suggestions)
