"""One double-entry ledger for every amount of money the platform moves (no external payment).

Amounts are integers in 分 (fen). An account's ``balance`` is the sum of its postings; every
transaction's postings sum to zero, so the balances of all accounts sum to zero too. Only an
account opened with ``may_go_negative`` (the clearing account that stands for money outside
the platform) can go below zero; for every other account a posting that would overdraw it is
refused inside the same ``UPDATE`` that applies it (``… WHERE balance + amount >= 0``), which is
exact under any number of workers: PostgreSQL re-checks the condition on the locked row, SQLite
holds its single write lock. Accounts are updated in code order so two transactions touching
the same accounts never deadlock.

The ledger knows no network: callers name accounts by code (``member:<org id>``, ``escrow``,
``fees:exchange`` …) and pass a reference (``contract:12``) that ties a transaction to their
own records. Like every service it only flushes; the entrypoint commits or rolls back, so a
refused posting leaves nothing behind.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, Text, func, insert, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from yiwang.kit.db import Base, insert_ignoring_conflict, utcnow
from yiwang.kit.errors import Conflict, NotFound


class LedgerAccount(Base):
    __tablename__ = "ledger_account"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))  # member | escrow | fees | clearing
    owner_id: Mapped[int | None] = mapped_column(Integer, index=True)  # an org id, when a member's
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    may_go_negative: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LedgerTransaction(Base):
    __tablename__ = "ledger_transaction"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))  # deposit | escrow | settle | refund | …
    reference: Mapped[str] = mapped_column(String(80), index=True)
    memo: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LedgerPosting(Base):
    __tablename__ = "ledger_posting"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("ledger_transaction.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_account.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)  # positive raises the account's balance


class InsufficientFunds(Conflict):
    code = "insufficient_funds"


class UnknownAccount(NotFound):
    code = "unknown_account"


def yuan(fen: int) -> str:
    """An amount for people: ``123456`` → ``"1,234.56"``."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole:,}.{cents:02d}"


def open_account(
    session: Session,
    code: str,
    name: str,
    *,
    kind: str,
    owner_id: int | None = None,
    may_go_negative: bool = False,
) -> LedgerAccount:
    """The account ``code``, opened now when it does not exist yet (safe to call repeatedly)."""
    values = {
        "code": code,
        "name": name,
        "kind": kind,
        "owner_id": owner_id,
        "balance": 0,
        "may_go_negative": may_go_negative,
        "created_at": utcnow(),
    }
    session.execute(insert_ignoring_conflict(session, LedgerAccount.__table__, values))
    return account(session, code)


def account(session: Session, code: str) -> LedgerAccount:
    found = session.execute(select(LedgerAccount).where(LedgerAccount.code == code)).scalar_one_or_none()
    if found is None:
        raise UnknownAccount(f"账户 {code} 不存在")
    return found


def balance(session: Session, code: str) -> int:
    value = session.execute(select(LedgerAccount.balance).where(LedgerAccount.code == code)).scalar()
    if value is None:
        raise UnknownAccount(f"账户 {code} 不存在")
    return int(value)


def balances(session: Session, codes: Sequence[str]) -> dict[str, int]:
    rows = session.execute(
        select(LedgerAccount.code, LedgerAccount.balance).where(LedgerAccount.code.in_(codes))
    )
    return {code: int(value) for code, value in rows}


def post(
    session: Session,
    *,
    kind: str,
    reference: str,
    actor: str,
    legs: Sequence[tuple[str, int]],
    memo: str = "",
) -> int:
    """Move money: each leg adds its amount to an account; the legs must sum to zero.

    Raises :class:`InsufficientFunds` (naming the account) when a leg would overdraw an
    account, :class:`UnknownAccount` for an account never opened. Returns the transaction id.
    """
    merged: dict[str, int] = defaultdict(int)
    for code, amount in legs:
        merged[code] += int(amount)
    moves = {code: amount for code, amount in merged.items() if amount != 0}
    if sum(moves.values()) != 0:
        raise ValueError(f"unbalanced transaction {reference}: {dict(merged)}")
    if not moves:
        raise ValueError(f"empty transaction {reference}")
    ids = _apply(session, moves)
    txn = LedgerTransaction(kind=kind, reference=reference, actor=actor, memo=memo)
    session.add(txn)
    session.flush()
    session.execute(
        insert(LedgerPosting),
        [
            {"transaction_id": txn.id, "account_id": ids[code], "amount": amount}
            for code, amount in moves.items()
        ],
    )
    return txn.id


def _apply(session: Session, moves: dict[str, int]) -> dict[str, int]:
    """Apply each move to its account's balance, in code order; the accounts' ids by code."""
    ids: dict[str, int] = {}
    for code in sorted(moves):
        amount = moves[code]
        changed = session.execute(
            update(LedgerAccount)
            .where(
                LedgerAccount.code == code,
                (LedgerAccount.balance + amount >= 0) | LedgerAccount.may_go_negative,
            )
            .values(balance=LedgerAccount.balance + amount)
            .returning(LedgerAccount.id)
            .execution_options(synchronize_session=False)
        ).scalar()
        if changed is None:
            known = session.execute(
                select(LedgerAccount.name, LedgerAccount.balance).where(LedgerAccount.code == code)
            ).first()
            if known is None:
                raise UnknownAccount(f"账户 {code} 不存在")
            raise InsufficientFunds(
                f"账户“{known.name}”余额不足：需 {yuan(-amount)} 元，可用 {yuan(int(known.balance))} 元",
                details={"account": code, "needed": -amount, "available": int(known.balance)},
            )
        ids[code] = int(changed)
    # The ORM may hold these rows with their old balances: read them afresh when asked.
    for obj in list(session.identity_map.values()):
        if isinstance(obj, LedgerAccount) and obj.code in moves:
            session.expire(obj)
    return ids


@dataclass(frozen=True)
class Books:
    """The ledger's invariants, checked from the postings (an auditor's trial balance)."""

    accounts: int
    transactions: int
    total: int  # the sum of all balances: zero when every transaction balanced
    unbalanced: list[int]  # transactions whose postings do not sum to zero
    drifted: list[str]  # accounts whose balance differs from the sum of their postings
    overdrawn: list[str]  # accounts below zero that may not be

    @property
    def balanced(self) -> bool:
        return self.total == 0 and not self.unbalanced and not self.drifted and not self.overdrawn


def check_books(session: Session) -> Books:
    """Recompute the books from the postings and report every broken invariant."""
    sums = dict(
        session.execute(
            select(LedgerPosting.account_id, func.coalesce(func.sum(LedgerPosting.amount), 0)).group_by(
                LedgerPosting.account_id
            )
        ).all()
    )
    drifted, overdrawn, total, count = [], [], 0, 0
    for acc in session.execute(select(LedgerAccount)).scalars():
        count += 1
        total += acc.balance
        if int(sums.get(acc.id, 0)) != acc.balance:
            drifted.append(acc.code)
        if acc.balance < 0 and not acc.may_go_negative:
            overdrawn.append(acc.code)
    unbalanced = list(
        session.execute(
            select(LedgerPosting.transaction_id)
            .group_by(LedgerPosting.transaction_id)
            .having(func.sum(LedgerPosting.amount) != 0)
        ).scalars()
    )
    transactions = session.execute(select(func.count()).select_from(LedgerTransaction)).scalar_one()
    return Books(count, int(transactions), total, unbalanced, drifted, overdrawn)


@dataclass(frozen=True)
class Movement:
    transaction_id: int
    kind: str
    reference: str
    memo: str
    amount: int
    at: datetime


def statement(session: Session, code: str, *, limit: int = 200) -> list[Movement]:
    """The account's latest movements, newest first."""
    acc = account(session, code)
    rows = session.execute(
        select(LedgerTransaction, LedgerPosting.amount)
        .join(LedgerPosting, LedgerPosting.transaction_id == LedgerTransaction.id)
        .where(LedgerPosting.account_id == acc.id)
        .order_by(LedgerTransaction.id.desc())
        .limit(limit)
    )
    return [Movement(t.id, t.kind, t.reference, t.memo, int(amount), t.created_at) for t, amount in rows]


def movements_by_reference(
    session: Session, reference: str
) -> list[tuple[LedgerTransaction, list[tuple[str, int]]]]:
    """Every transaction filed under ``reference`` with its legs (account code, amount)."""
    txns = list(
        session.execute(
            select(LedgerTransaction)
            .where(LedgerTransaction.reference == reference)
            .order_by(LedgerTransaction.id)
        ).scalars()
    )
    if not txns:
        return []
    legs: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for tid, code, amount in session.execute(
        select(LedgerPosting.transaction_id, LedgerAccount.code, LedgerPosting.amount)
        .join(LedgerAccount, LedgerAccount.id == LedgerPosting.account_id)
        .where(LedgerPosting.transaction_id.in_([t.id for t in txns]))
        .order_by(LedgerPosting.id)
    ):
        legs[tid].append((code, int(amount)))
    return [(t, legs[t.id]) for t in txns]
