"""Certificate bundles: everything needed to check a certificate offline, and the checker.

A bundle holds the certificate, the registry's signature over it, the leaf of each of its
events with an inclusion proof, the signed checkpoint those proofs lead to, and the
registry's public keys. :func:`verify` needs nothing else — no database, no network. Given
a later checkpoint with a consistency proof from the bundle's, it also proves the log was
only appended to in between (a history rewritten under the registry's own key fails here).

The events tie together: each leaf numbers the certificate's events (``seq`` 1, 2, …), so a
bundle that leaves one out fails; each carries the hash of the certificate body it was about,
and a ``change`` event the hash of the body it replaced, so the chain of bodies runs from the
issued one to the one in the bundle. The status and the licences in force are read from the
leaves, as of the last event the bundle holds. A bundle cannot show that no event came after
its checkpoint: for that, fetch a fresh bundle (the registry signs a checkpoint on demand).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from yiwang.kit.audit import canonical_json
from yiwang.kit.crypto import Keyring, Signature, get_suite, verify_with_public_keys
from yiwang.kit.errors import PlatformError
from yiwang.kit.merkle import Checkpoint, leaf_hash, verify_checkpoint, verify_consistency, verify_inclusion
from yiwang.registry import log, service

FORMAT = "yiwang-certificate-bundle/1"


def export(session: Session, keyring: Keyring, number: str) -> dict[str, Any]:
    """The bundle of certificate ``number`` against a freshly signed checkpoint."""
    certificate, events = service.certificate_events(session, number)
    checkpoint = log.signed_checkpoint(session, keyring)
    tree = log.tree(keyring.suite_name)
    return {
        "format": FORMAT,
        "certificate": json.loads(certificate.body),
        "signature": json.loads(certificate.signature),
        "events": [
            {
                "leaf": event.leaf,
                "index": event.leaf_index,
                "inclusion": [
                    p.hex() for p in tree.inclusion_proof(session, event.leaf_index, checkpoint.size)
                ],
            }
            for event in events
        ],
        "checkpoint": checkpoint.to_dict(),
        "public_keys": keyring.public_keys(),
    }


def later_checkpoint(session: Session, keyring: Keyring, since: int) -> dict[str, Any]:
    """A current checkpoint with the consistency proof from the tree of ``since`` leaves."""
    checkpoint = log.signed_checkpoint(session, keyring)
    proof = log.tree(keyring.suite_name).consistency_proof(session, since, checkpoint.size)
    return {
        "checkpoint": checkpoint.to_dict(),
        "consistency": {"from": since, "proof": [p.hex() for p in proof]},
    }


@dataclass
class Outcome:
    """Valid, or the first failed check named; the status as of the checkpoint."""

    ok: bool = True
    failed: str = ""
    status: str = ""
    number: str = ""
    checked: list[str] = field(default_factory=list)
    events: int = 0  # how many of the certificate's events the bundle holds (all, numbered 1…n)
    last_event: str = ""  # the kind of the last one, which the status is as of
    last_at: str = ""
    version: int = 1  # the certificate body's version (2, 3, … after change registrations)
    checkpoint_size: int = 0
    checkpoint_at: str = ""
    licences: list[dict[str, Any]] = field(default_factory=list)  # in force as of the last event

    def fail(self, check: str) -> Outcome:
        self.ok, self.failed = False, check
        return self


def verify(bundle: Mapping[str, Any], later: Mapping[str, Any] | None = None) -> Outcome:
    """Check a bundle offline: the certificate's signature, the checkpoint's signature, every event's
    leaf and inclusion proof, and — with ``later`` — consistency with a later checkpoint."""
    outcome = Outcome()
    try:
        return _verify(bundle, later, outcome)
    except (PlatformError, KeyError, TypeError, ValueError, AttributeError) as problem:
        detail = problem.message if isinstance(problem, PlatformError) else type(problem).__name__
        return outcome.fail(f"凭证包格式（{detail}）")


def _verify(bundle: Mapping[str, Any], later: Mapping[str, Any] | None, outcome: Outcome) -> Outcome:
    if bundle.get("format") != FORMAT:
        return outcome.fail("凭证包格式")
    certificate = bundle["certificate"]
    keys = bundle["public_keys"]
    outcome.number = str(certificate["number"])
    body = canonical_json(certificate)
    if not verify_with_public_keys(
        keys, service.certificate_message(body), Signature.from_dict(bundle["signature"])
    ):
        return outcome.fail("凭证签名")
    outcome.checked.append("凭证签名")
    checkpoint = Checkpoint.from_dict(bundle["checkpoint"])
    if not verify_checkpoint(checkpoint, keys):
        return outcome.fail("检查点签名")
    outcome.checked.append("检查点签名")
    suite = checkpoint.suite
    outcome.checkpoint_size, outcome.checkpoint_at = checkpoint.size, checkpoint.at
    body_hash = get_suite(suite).hash_hex(body.encode())
    current: str | None = None  # the body hash the events so far leave the certificate at
    numbered = False
    licences: dict[int, dict[str, Any]] = {}
    for n, event in enumerate(sorted(bundle["events"], key=lambda e: int(e["index"])), start=1):
        leaf = json.loads(event["leaf"])
        details = leaf.get("details") or {}
        if leaf["certificate"] != outcome.number:
            return outcome.fail(f"事件 {n} 与凭证不符")
        if "seq" in leaf:  # leaves written before events were numbered have none
            numbered = True
            if leaf["seq"] != n:
                return outcome.fail(f"事件序号（第 {n} 个事件的序号为 {leaf['seq']}：凭证包缺少事件）")
        before = details.get("previous_body_hash") if leaf["event"] == "change" else leaf["body_hash"]
        if current is not None and before != current:
            return outcome.fail(f"事件 {n} 与凭证不符（凭证内容的变更链断开）")
        current = leaf["body_hash"]
        proof = [bytes.fromhex(p) for p in event["inclusion"]]
        hashed = leaf_hash(suite, str(event["leaf"]).encode())
        if not verify_inclusion(suite, hashed, int(event["index"]), checkpoint.size, proof, checkpoint.root):
            return outcome.fail(f"事件 {n} 的包含证明")
        _follow_licences(licences, leaf["event"], details)
        outcome.status, outcome.last_event, outcome.last_at = str(leaf["status"]), leaf["event"], leaf["at"]
        outcome.events = n
    if not outcome.events:
        return outcome.fail("凭证没有任何登记事件")
    if current != body_hash:
        return outcome.fail(f"事件 {outcome.events} 与凭证不符（凭证内容不是最后一个事件所登记的）")
    outcome.checked.append(f"{outcome.events} 个事件的包含证明")
    if numbered:
        outcome.checked.append(f"事件序号连续（1–{outcome.events}）")
    outcome.version = int(certificate.get("version", 1))
    today = checkpoint.at[:10]
    outcome.licences = [
        {**licence, "expired": str(licence["valid_until"]) < today} for licence in licences.values()
    ]
    if later is not None:
        return _verify_later(keys, checkpoint, later, outcome)
    return outcome


def _follow_licences(licences: dict[int, dict[str, Any]], kind: str, details: Mapping[str, Any]) -> None:
    """The licences in force after an event: granted by ``licence``, ended by ``licence_end`` or
    with the certificate (``licences_ended`` of a cancellation or revocation)."""
    if kind == "licence":
        licences[int(details["licence"])] = {
            key: details.get(key)
            for key in ("licence", "licensee", "licensee_name", "right", "scope", "valid_from", "valid_until")
        }
    elif kind == "licence_end":
        licences.pop(int(details["licence"]), None)
    for ended in details.get("licences_ended") or ():
        licences.pop(int(ended), None)


def _verify_later(keys: Any, checkpoint: Checkpoint, later: Mapping[str, Any], outcome: Outcome) -> Outcome:
    newer = Checkpoint.from_dict(later["checkpoint"])
    if not verify_checkpoint(newer, keys):
        return outcome.fail("后续检查点签名")
    consistency = later["consistency"]
    if int(consistency["from"]) != checkpoint.size or newer.suite != checkpoint.suite:
        return outcome.fail("一致性证明（起点与凭证包的检查点不符）")
    proof = [bytes.fromhex(p) for p in consistency["proof"]]
    if not verify_consistency(
        checkpoint.suite, checkpoint.size, newer.size, checkpoint.root, newer.root, proof
    ):
        return outcome.fail("一致性证明")
    outcome.checked.append(f"与后续检查点（{newer.size} 个叶子）的一致性")
    return outcome
