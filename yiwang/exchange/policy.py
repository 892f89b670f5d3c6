"""Usage policies as ODRL offers, and the check of one use against them.

A listing's policy is kept as an ODRL 2.2 offer (a W3C vocabulary data spaces speak, as the
Eclipse Dataspace Components do): one ``use`` permission with constraints on purpose,
region (``spatial``), validity (``elapsedTime``) and call counts, and a ``distribute``
prohibition when resale is forbidden. :func:`from_odrl` reads back exactly what
:func:`to_odrl` writes; :func:`violation` names the first constraint a use breaks, and is what
every delivery call runs (EDC checks a policy only when a transfer starts).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

ODRL_CONTEXT = "http://www.w3.org/ns/odrl.jsonld"


@dataclass(frozen=True)
class Policy:
    purposes: tuple[str, ...]
    regions: tuple[str, ...]  # GB/T 2260 codes; a use anywhere inside one of them is allowed
    validity_days: int
    call_limit: int | None = None
    daily_limit: int | None = None
    no_resale: bool = True

    def to_odrl(self, uid: str) -> dict[str, Any]:
        constraints: list[dict[str, Any]] = [
            {"leftOperand": "purpose", "operator": "isAnyOf", "rightOperand": list(self.purposes)},
            {"leftOperand": "spatial", "operator": "isPartOf", "rightOperand": list(self.regions)},
            {"leftOperand": "elapsedTime", "operator": "lteq", "rightOperand": f"P{self.validity_days}D"},
        ]
        if self.call_limit is not None:
            constraints.append({"leftOperand": "count", "operator": "lteq", "rightOperand": self.call_limit})
        if self.daily_limit is not None:
            constraints.append(
                {"leftOperand": "count", "operator": "lteq", "rightOperand": self.daily_limit, "unit": "P1D"}
            )
        offer: dict[str, Any] = {
            "@context": ODRL_CONTEXT,
            "@type": "Offer",
            "uid": uid,
            "permission": [{"action": "use", "constraint": constraints}],
        }
        if self.no_resale:
            offer["prohibition"] = [{"action": "distribute"}]
        return offer


def to_odrl(policy: Policy, uid: str) -> str:
    return json.dumps(policy.to_odrl(uid), ensure_ascii=False, sort_keys=True)


def from_odrl(text: str) -> Policy:
    offer = json.loads(text)
    purposes: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    validity, calls, daily = 365, None, None
    for permission in offer.get("permission", []):
        for c in permission.get("constraint", []):
            left, right = c["leftOperand"], c["rightOperand"]
            if left == "purpose":
                purposes = tuple(right)
            elif left == "spatial":
                regions = tuple(right)
            elif left == "elapsedTime":
                validity = int(str(right).removeprefix("P").removesuffix("D"))
            elif left == "count" and c.get("unit") == "P1D":
                daily = int(right)
            elif left == "count":
                calls = int(right)
    no_resale = any(p.get("action") == "distribute" for p in offer.get("prohibition", []))
    return Policy(purposes, regions, validity, calls, daily, no_resale)


def region_within(region: str, allowed: str) -> bool:
    """Whether GB/T 2260 ``region`` lies inside ``allowed`` (440000 holds 440106 and 440106001)."""
    prefix = allowed.rstrip("0") if len(allowed) == 6 else allowed
    # Keep whole levels: 440000 → "44", 440100 → "4401", 441900 → "4419".
    if len(prefix) % 2:
        prefix += "0"
    return region.startswith(prefix)


def region_allowed(policy: Policy, region: str) -> bool:
    return any(region_within(region, allowed) for allowed in policy.regions)


def violation(policy: Policy, *, purpose: str, region: str, valid_until: date, today: date) -> str | None:
    """The reason code of the first constraint this use breaks, ``None`` when it keeps them all."""
    if purpose not in policy.purposes:
        return "purpose_not_allowed"
    if not region_allowed(policy, region):
        return "region_not_allowed"
    if today > valid_until:
        return "contract_expired"
    return None
