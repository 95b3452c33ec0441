"""Pure rules of the shipments flow: normalisation, carrier matching, suggestions, line allocation."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from marketbridge.domain import shipments as shipments_domain
from marketbridge.domain.shipments import Carrier, CarrierMatch, MarketplaceLine, ShippedItem, Track, Unmapped

SH21 = [
    Carrier("APC", "APC Overnight", "APC", "https://apc/{trackingId}"),
    Carrier("DHL", "DHL UK", "DHL", "https://dhl/{trackingId}"),
    Carrier("DPD", "DPD UK", "DPD", "https://dpd/{trackingId}"),
    Carrier("EVRI", "Evri (Hermes)", "HERMES", "https://evri/{trackingId}"),
    Carrier("PARCELFORCE", "Parcelforce Worldwide", "PARCELFORCE", None),
    Carrier("ROYAL_MAIL", "Royal Mail", "ROYAL_MAIL", "https://rm/{trackingId}"),
    Carrier("UPS", "UPS", "UPS", "https://ups/{trackingId}"),
]


def match(code, title, mappings=(), aliases=None):
    return shipments_domain.match_carrier(code, title, SH21, mappings, aliases)


def test_normalise_drops_case_accents_punctuation_and_noise_words():
    assert shipments_domain.normalise("DPD UK") == "dpd"
    assert shipments_domain.normalise("Royal_Mail") == "royal mail"
    assert shipments_domain.normalise("  Évri (Hermes) Ltd. ") == "evri hermes"
    assert shipments_domain.normalise("UK") == "uk"  # nothing but noise: keep it rather than return ""
    assert shipments_domain.normalise(None) == ""


def test_label_variants_include_parenthesised_parts():
    assert shipments_domain.label_variants("Evri (Hermes)") == {"evri hermes", "evri", "hermes"}


def test_exact_code_match_on_magento_code_or_title():
    result = match("dhl", "Something else")
    assert isinstance(result, CarrierMatch) and result.carrier.code == "DHL"
    assert result.method is shipments_domain.MatchMethod.EXACT_CODE
    assert match("custom", "ups").carrier.code == "UPS"


def test_label_match_normalised_and_by_part():
    assert match("custom", "dpd uk ltd").carrier.code == "DPD"
    assert match("custom", "Hermes").carrier.code == "EVRI"
    assert match("custom", "ROYAL MAIL").method is shipments_domain.MatchMethod.LABEL
    assert match("custom", "royal-mail").carrier.code == "ROYAL_MAIL"


def test_explicit_mapping_wins_and_title_specific_beats_code_wide():
    mappings = [shipments_domain.Mapping_("custom", "", "APC"), shipments_domain.Mapping_("custom", "fast van", "UPS")]
    assert match("custom", "Fast Van", mappings).carrier.code == "UPS"
    assert match("custom", "Other van", mappings).carrier.code == "APC"
    # an explicit mapping beats a label match
    assert match("custom", "DPD UK", [shipments_domain.Mapping_("custom", "dpd", "APC")]).carrier.code == "APC"


def test_alias_rows_and_configured_aliases():
    assert match("custom", "Speedy", [shipments_domain.Mapping_("", "speedy", "DPD")]).method is shipments_domain.MatchMethod.ALIAS
    result = match("custom", "P-Force 48", aliases={"p force 48": "PARCELFORCE"})
    assert result.carrier.code == "PARCELFORCE" and result.method is shipments_domain.MatchMethod.ALIAS


def test_unmapped_has_reason_key_and_ranked_suggestions():
    result = match("custom", "DPD Local Next Day")
    assert isinstance(result, Unmapped)
    assert result.key == "custom/dpd local next day"
    assert result.suggestions[0].code == "DPD"
    assert all(a.score >= b.score for a, b in zip(result.suggestions, result.suggestions[1:], strict=False))


def test_mapping_to_a_code_gone_from_sh21_is_not_a_match():
    result = match("custom", "Gone Couriers", [shipments_domain.Mapping_("custom", "gone couriers", "CITYLINK")])
    assert isinstance(result, Unmapped) and "CITYLINK" in result.reason


def test_empty_carrier_list_says_so():
    result = shipments_domain.match_carrier("custom", "DPD", [], [])
    assert isinstance(result, Unmapped) and "empty" in result.reason


def test_unrelated_text_gets_no_suggestions_over_the_cutoff():
    assert shipments_domain.suggest_carriers("zzzz qqqq", SH21) == []
    assert shipments_domain.suggest_carriers("", SH21) == []


@given(st.text(max_size=40), st.text(max_size=40))
def test_matching_never_crashes_and_never_invents_a_code(code, title):
    result = match(code, title)
    if isinstance(result, CarrierMatch):
        assert result.carrier in SH21
    else:
        assert {s.code for s in result.suggestions} <= {c.code for c in SH21}


def test_usable_tracks_skip_blank_and_duplicate_numbers_oldest_first():
    tracks = [Track("B", "x", "c", "2026-01-02"), Track("", "x", "c", "2026-01-01"), Track("A", "x", "c", "2026-01-01"),
              Track("B", "x", "c", "2026-01-03")]
    assert [t.track_number for t in shipments_domain.usable_tracks(tracks)] == ["A", "B"]
    assert shipments_domain.pick_tracking(tracks).track_number == "B"
    assert shipments_domain.pick_tracking([]) is None


LINES = [MarketplaceLine("O-1", "SKU-A", 1), MarketplaceLine("O-2", "SKU-B ", 3),
         MarketplaceLine("O-3", "SKU-C", 1, "CANCELED")]


def test_allocation_by_sku_ignoring_stray_spaces_and_case():
    plan = shipments_domain.allocate_lines([ShippedItem(1, "SKU-A", 1), ShippedItem(2, "sku-b", 2)], LINES)
    assert plan.ok and plan.lines == {"O-1": 1, "O-2": 2}


def test_allocation_prefers_the_marketplace_line_id_from_magento():
    plan = shipments_domain.allocate_lines([ShippedItem(1, "whatever", 1, ext_order_item_id="O-1")], LINES)
    assert plan.lines == {"O-1": 1}


def test_allocation_flags_unknown_skus_cancelled_lines_and_too_many_units():
    plan = shipments_domain.allocate_lines([ShippedItem(1, "SKU-X", 1), ShippedItem(2, "SKU-C", 1), ShippedItem(3, "SKU-B", 2)],
                                LINES, already_shipped={"O-2": 2})
    assert not plan.ok
    assert len(plan.unknown) == 3
    assert plan.lines == {"O-2": 1}


def test_allocation_skips_zero_quantity_items():
    plan = shipments_domain.allocate_lines([ShippedItem(1, "SKU-A", 0), ShippedItem(2, "SKU-B", 1)], LINES)
    assert plan.lines == {"O-2": 1} and plan.ok


def test_deadline_and_unconfirmed_rules():
    now = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)
    lead = dt.timedelta(hours=6)
    assert shipments_domain.deadline_near(now + dt.timedelta(hours=5), now, lead)
    assert shipments_domain.deadline_near(now - dt.timedelta(hours=1), now, lead)
    assert not shipments_domain.deadline_near(now + dt.timedelta(hours=7), now, lead)
    assert not shipments_domain.deadline_near(None, now, lead)
    assert shipments_domain.unconfirmed_too_long(now - dt.timedelta(minutes=61), now, dt.timedelta(minutes=60))
    assert not shipments_domain.unconfirmed_too_long(now - dt.timedelta(minutes=59), now, dt.timedelta(minutes=60))


def test_every_type_is_declared_with_plain_text():
    for type_ in (shipments_domain.CARRIER_UNMAPPED, shipments_domain.TRACKING_MISSING, shipments_domain.TRACKING_REUSED, shipments_domain.LINES_UNKNOWN,
                  shipments_domain.SHIPMENT_REJECTED, shipments_domain.SHIPPING_DEADLINE_NEAR, shipments_domain.SHIPMENT_UNCONFIRMED):
        assert type_.owner.value == "ops"
        assert type_.title and type_.meaning and type_.action
