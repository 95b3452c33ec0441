"""The seed catalogue both sandboxes start from, so that the two sides agree on SKUs.

``seed_catalogue(n, seed)`` is deterministic: the same ``n`` and ``seed`` give the same products,
quantities and prices in the Magento simulator and the same offers in the Mirakl simulator.

What it contains, on purpose:

* mostly simple products (``MB-000123``), some disabled, some out of stock, a few not managing stock;
* configurable parents (``MB-CFG-0001``) with children per colour/size (``MB-CFG-0001-RED-M``);
  the marketplace lists the children, never the parent;
* one bundle (``MB-BUNDLE-0001``) and one simple product with a required custom option
  (``MB-ENGRAVED-0001``): Magento sells them, the marketplace has no offer for them;
* one virtual product (``MB-GIFTCARD-0001``): never on the marketplace;
* one SKU whose marketplace copy has a trailing space (``MB-TRAILING-0001`` in Magento,
  ``"MB-TRAILING-0001 "`` as the marketplace offer SKU) to exercise SKU integrity checks.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

COLOURS = ["Red", "Blue", "Green", "Black", "White", "Oak", "Grey"]
SIZES = ["S", "M", "L"]
CATEGORIES = [
    ("home/furniture", "Furniture"),
    ("home/lighting", "Lighting"),
    ("home/kitchen", "Kitchen"),
    ("fashion/women", "Womenswear"),
    ("fashion/men", "Menswear"),
    ("electricals/audio", "Audio"),
]
NOUNS = ["Table Lamp", "Oak Chair", "Linen Shirt", "Wool Jumper", "Kettle", "Speaker", "Mirror", "Vase"]
ADJECTIVES = ["Classic", "Modern", "Compact", "Deluxe", "Everyday", "Heritage", "Studio"]

TRAILING_SPACE_SKU = "MB-TRAILING-0001"
BUNDLE_SKU = "MB-BUNDLE-0001"
CUSTOM_OPTION_SKU = "MB-ENGRAVED-0001"
VIRTUAL_SKU = "MB-GIFTCARD-0001"


@dataclass
class SeedProduct:
    sku: str
    name: str
    type_id: str  # simple | configurable | bundle | virtual
    price: float
    qty: float
    status: int = 1  # 1 enabled, 2 disabled (Magento's values)
    manage_stock: bool = True
    ean: str = ""
    brand: str = "Marketbridge Home"
    category_code: str = "home/furniture"
    weight: float = 1.0
    description: str = ""
    image: str = ""
    special_price: float | None = None
    parent_sku: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    children: list[str] = field(default_factory=list)
    bundle_children: list[str] = field(default_factory=list)
    required_custom_option: str | None = None
    marketplace_sku: str | None = None  # SKU of the marketplace offer; None = no offer

    @property
    def on_marketplace(self) -> bool:
        return self.marketplace_sku is not None


def _ean(rng: random.Random) -> str:
    digits = [rng.randint(0, 9) for _ in range(12)]
    checksum = (10 - sum(d * (3 if i % 2 else 1) for i, d in enumerate(digits)) % 10) % 10
    return "".join(map(str, digits)) + str(checksum)


def seed_catalogue(n: int = 300, seed: int = 42) -> list[SeedProduct]:
    """Return about ``n`` products (at least the special cases), deterministic for ``seed``."""
    rng = random.Random(seed)  # nosec B311 # seeded, reproducible fake catalogue; not security-relevant
    products: list[SeedProduct] = []

    def simple(sku: str, **kw: object) -> SeedProduct:
        category_code, _ = rng.choice(CATEGORIES)
        name = f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}"
        product = SeedProduct(
            sku=sku,
            name=name,
            type_id="simple",
            price=round(rng.uniform(5, 400), 2),
            qty=float(rng.choice([0, 1, 2, 3, 5, 8, 12, 20, 35, 50, 100])),
            ean=_ean(rng),
            category_code=category_code,
            weight=round(rng.uniform(0.1, 20), 2),
            description=f"{name}. Made to last, designed for everyday use.",
            image=f"https://images.example.invalid/{sku.lower()}.jpg",
            marketplace_sku=sku,
        )
        for key, value in kw.items():
            setattr(product, key, value)
        return product

    configurable_count = max(1, n // 50)
    for p in range(1, configurable_count + 1):
        parent_sku = f"MB-CFG-{p:04d}"
        parent = simple(parent_sku, type_id="configurable", qty=0.0, marketplace_sku=None)
        colours = rng.sample(COLOURS, 2)
        for colour in colours:
            for size in SIZES:
                child_sku = f"{parent_sku}-{colour.upper()}-{size}"
                child = simple(
                    child_sku,
                    name=f"{parent.name} {colour} {size}",
                    price=parent.price,
                    parent_sku=parent_sku,
                    category_code=parent.category_code,
                    attributes={"color": colour, "size": size},
                )
                parent.children.append(child_sku)
                products.append(child)
        products.insert(len(products) - len(parent.children), parent)

    specials = [
        simple(TRAILING_SPACE_SKU, marketplace_sku=TRAILING_SPACE_SKU + " ", qty=10.0),
        simple(CUSTOM_OPTION_SKU, required_custom_option="Engraving text", marketplace_sku=None, qty=25.0),
        simple(VIRTUAL_SKU, type_id="virtual", marketplace_sku=None, manage_stock=False, qty=0.0, weight=0.0),
    ]
    products.extend(specials)

    remaining = max(0, n - len(products) - 1)
    simples: list[SeedProduct] = []
    for i in range(1, remaining + 1):
        product = simple(f"MB-{i:06d}")
        roll = rng.random()
        if roll < 0.03:
            product.status = 2  # disabled in Magento
        elif roll < 0.05:
            product.manage_stock = False
        elif roll < 0.08:
            product.special_price = round(product.price * 0.8, 2)
        simples.append(product)
    products.extend(simples)

    bundle_children = [p.sku for p in simples[:2]] or [TRAILING_SPACE_SKU]
    products.append(
        simple(BUNDLE_SKU, type_id="bundle", marketplace_sku=None, qty=0.0, bundle_children=bundle_children)
    )
    return products
