"""Guard: money is never a float in our tables, domain or services.

Two checks, both cheap:

* every column of every model (``Base.metadata``) whose name looks like money is not a ``Float``
  (the orders tables' amounts were, until migration 0011; this test failed on them);
* no ``float(...)`` in the domain, services, adapters, web, CLI or workflows is applied to an
  expression that names money (the sandboxes, which imitate Mirakl's and Adobe Commerce's own
  JSON, are not scanned). The one sanctioned ``Decimal -> float`` step for JSON wire formats
  is ``marketbridge.domain.money.wire_number``, which is exempt.

Quantities, durations and rates are floats by right and are not money-named.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from sqlalchemy import Float

import marketbridge
from marketbridge.adapters.db import models  # noqa: F401  (fills Base.metadata)
from marketbridge.adapters.db.base import Base

MONEY_NAME = re.compile(r"price|amount|total|cost|tax|fee|commission|shipping|refund|balance|paid|money|pence",
                        re.IGNORECASE)
NOT_MONEY = re.compile(r"_seconds$|_qty$|quantity|_at$|_count$|_id$|_ids$", re.IGNORECASE)
SOURCE = Path(marketbridge.__file__).parent
SCANNED = ("domain", "services", "adapters", "web", "cli", "workflows")  # not the sandbox: a test double
EXEMPT = {SOURCE / "domain" / "money.py"}


def money_float_columns(metadata) -> list[str]:  # type: ignore[no-untyped-def]
    """``table.column`` of every Float column whose name looks like money."""
    return sorted(f"{table.name}.{column.name}" for table in metadata.tables.values() for column in table.columns
                  if isinstance(column.type, Float) and MONEY_NAME.search(column.name)
                  and not NOT_MONEY.search(column.name))


def money_floats_in_source(path: Path, text: str | None = None) -> list[str]:
    """``file:line: float(...)`` calls whose argument mentions a money-named variable, attribute or key."""
    tree = ast.parse(path.read_text() if text is None else text)
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "float" and node.args):
            continue
        names = [n.id for n in ast.walk(node.args[0]) if isinstance(n, ast.Name)]
        names += [n.attr for n in ast.walk(node.args[0]) if isinstance(n, ast.Attribute)]
        names += [n.value for n in ast.walk(node.args[0]) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
        if any(MONEY_NAME.search(name) and not NOT_MONEY.search(name) for name in names):
            found.append(f"{path.relative_to(SOURCE)}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_no_model_keeps_money_in_a_float_column():
    offenders = money_float_columns(Base.metadata)
    assert offenders == [], f"money in FLOAT columns (use Numeric(12, 2), asdecimal): {offenders}"


def test_money_columns_are_numeric_and_read_as_decimal():
    from sqlalchemy import Numeric

    money = {f"{t.name}.{c.name}": c.type for t in Base.metadata.tables.values() for c in t.columns
             if isinstance(c.type, Numeric) and not isinstance(c.type, Float)}
    for name in ("marketplace_orders.subtotal", "marketplace_orders.shipping_price", "marketplace_orders.total_price",
                 "order_lines.unit_price", "order_lines.price", "order_lines.shipping_price",
                 "refunds_out.total", "refunds_out.memo_total", "marketplace_refunds.amount",
                 "marketplace_refunds.shipping_amount"):
        assert name in money, f"{name} is not NUMERIC"
        assert money[name].asdecimal and money[name].scale in (2, 4), name


def test_our_code_never_turns_money_into_float():
    offenders = [hit for folder in SCANNED for path in sorted((SOURCE / folder).rglob("*.py")) if path not in EXEMPT
                 for hit in money_floats_in_source(path)]
    assert offenders == [], "float() of money (use Decimal; money.wire_number for a JSON number):\n" + "\n".join(offenders)


def test_the_guard_catches_what_it_is_for():
    """The checks themselves: the pre-0011 orders model and a float() of a price are caught."""
    from sqlalchemy import Column, Integer, MetaData, Table

    old = MetaData()
    Table("marketplace_orders", old, Column("id", Integer, primary_key=True), Column("total_price", Float),
          Column("stock_latency_seconds", Float), Column("min_qty", Float))
    assert money_float_columns(old) == ["marketplace_orders.total_price"]
    sample = SOURCE / "services" / "sample.py"
    assert money_floats_in_source(sample, "x = float(order.total_price)\ny = float(qty)\nz = float(row['price'])\n") == [
        "services/sample.py:1: float(order.total_price)", "services/sample.py:3: float(row['price'])"]
