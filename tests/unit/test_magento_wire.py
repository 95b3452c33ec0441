"""Unit tests of the Magento wire details: searchCriteria both ways, error rendering, OAuth, webhooks."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import parse_qsl, urlsplit

import httpx2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from marketbridge.adapters.errors import AuthFailed, NotFound, RateLimited, Rejected, ServerError
from marketbridge.adapters.magento.client import error_from_response, render_message
from marketbridge.adapters.magento.criteria import Filter, SearchCriteria, format_value
from marketbridge.adapters.magento.oauth import OAuth1Credentials, authorization_header, base_string, enc
from marketbridge.adapters.magento.webhooks import WebhookPayloadError, parse_envelope, verify_signature
from marketbridge.sandbox.magento import search
from marketbridge.sandbox.magento.errors import ApiError
from marketbridge.sandbox.magento.oauth import OAuthConfig, OAuthVerifier
from marketbridge.sandbox.magento.webhooks import load_or_create_private_key, public_pem, sign

# --------------------------------------------------------------------------- searchCriteria


def test_builder_round_trips_through_the_sandbox_parser():
    criteria = (
        SearchCriteria()
        .where("updated_at", datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=1))), "gt")
        .any_of(("status", "pending"), Filter("status", ["processing", "complete"], "in"))
        .order_by("entity_id")
        .page(50, 3)
    )
    parsed = search.parse_search_criteria(criteria.to_params())
    assert [[(f.field, f.value, f.condition) for f in g] for g in parsed.filter_groups] == [
        [("updated_at", "2026-01-02 02:04:05", "gt")],
        [("status", "pending", "eq"), ("status", "processing,complete", "in")],
    ]
    assert parsed.sort_orders == [("entity_id", "ASC")]
    assert (parsed.page_size, parsed.current_page) == (50, 3)


def test_empty_criteria_still_sends_the_parameter():
    assert SearchCriteria().to_params() == [("searchCriteria", "")]
    assert search.parse_search_criteria([("searchCriteria", "")]).filter_groups == []
    with pytest.raises(ApiError) as missing:
        search.parse_search_criteria([])
    assert missing.value.parameters == {"fieldName": "searchCriteria"}


def test_builder_rejects_nonsense_early():
    with pytest.raises(ValueError):
        Filter("sku", "x", "approximately")
    with pytest.raises(ValueError):
        SearchCriteria().page(0)
    with pytest.raises(ValueError):
        SearchCriteria().order_by("sku", "sideways")


def test_format_value():
    assert format_value(datetime(2026, 5, 1, 12, 0, tzinfo=UTC)) == "2026-05-01 12:00:00"
    assert format_value(True) == "1"
    assert format_value(["A", "B"]) == "A,B"


def test_camel_and_snake_case_parse_the_same():
    snake = [
        ("searchCriteria[filter_groups][0][filters][0][field]", "sku"),
        ("searchCriteria[filter_groups][0][filters][0][value]", "A"),
        ("searchCriteria[filter_groups][0][filters][0][condition_type]", "neq"),
        ("searchCriteria[sort_orders][0][field]", "sku"),
        ("searchCriteria[page_size]", "5"),
    ]
    camel = [
        (
            k.replace("filter_groups", "filterGroups")
            .replace("condition_type", "conditionType")
            .replace("sort_orders", "sortOrders")
            .replace("page_size", "pageSize"),
            v,
        )
        for k, v in snake
    ]
    assert search.parse_search_criteria(snake) == search.parse_search_criteria(camel)


@pytest.mark.parametrize(
    ("condition", "value", "actual", "expected"),
    [
        ("eq", "mb-1", "MB-1", True),  # MySQL's case-insensitive collation
        ("eq", "10", 10.0, True),
        ("gt", "9", "10", True),  # numeric, not text, comparison
        ("lt", "2026-01-02 00:00:00", "2026-01-01 23:59:59", True),
        ("like", "MB-%-X_", "MB-123-XY", True),
        ("nlike", "MB-%", "XX", True),
        ("in", "a, b", "B", True),
        ("nin", "a,b", "c", True),
        ("nin", "a,b", None, False),
        ("finset", "3", "1,3,5", True),
        ("nfinset", "4", "1,3,5", True),
        ("null", "", None, True),
        ("notnull", "", "x", True),
        ("from", "5", 5, True),
        ("to", "5", 6, False),
        ("gteq", "1", None, False),
        ("eq", "3", ["2", "3"], True),  # array attributes such as category_ids
    ],
)
def test_condition_types(condition, value, actual, expected):
    assert search.matches(search.Filter("f", value, condition), actual) is expected


def test_groups_and_paging_semantics():
    rows = [{"id": i, "kind": "a" if i % 2 else "b"} for i in range(1, 11)]
    criteria = search.SearchCriteria(
        filter_groups=[
            [search.Filter("kind", "a"), search.Filter("id", "2")],
            [search.Filter("id", "7", "lteq")],
        ],
        sort_orders=[("id", "DESC")],
        page_size=2,
        current_page=2,
    )
    page, total = search.apply(rows, criteria)
    assert total == 5  # ids 1,2,3,5,7
    assert [r["id"] for r in page] == [3, 2]
    criteria.current_page = 9
    assert search.apply(rows, criteria) == ([], 5)


@given(st.lists(st.integers(min_value=0, max_value=50), max_size=40), st.integers(1, 7))
def test_paging_covers_every_match_exactly_once(values, size):
    rows = [{"entity_id": i, "v": v} for i, v in enumerate(values, start=1)]
    seen = []
    page_no = 1
    while True:
        criteria = search.SearchCriteria(
            [[search.Filter("v", "25", "lt")]], [("entity_id", "ASC")], size, page_no
        )
        page, total = search.apply(rows, criteria)
        if not page:
            break
        seen.extend(r["entity_id"] for r in page)
        page_no += 1
    assert seen == [r["entity_id"] for r in rows if r["v"] < 25]


# --------------------------------------------------------------------------- errors


def test_render_message_fills_named_and_positional_placeholders():
    assert render_message(
        "No such entity with %fieldName = %fieldValue", {"fieldName": "sku", "fieldValue": "X"}
    ) == ("No such entity with sku = X")
    assert render_message("Carrier with such method not found: %1, %2", ["dpd", "next"]) == (
        "Carrier with such method not found: dpd, next"
    )
    assert render_message("%1 and %3", ["a"]) == "a and %3"
    assert render_message("plain", None) == "plain"


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (401, AuthFailed),
        (403, AuthFailed),
        (404, NotFound),
        (400, Rejected),
        (409, Rejected),
        (500, ServerError),
        (503, ServerError),
        (429, RateLimited),
    ],
)
def test_status_mapping(status, cls):
    response = httpx2.Response(
        status, json={"message": "x %1", "parameters": ["y"]}, headers={"Retry-After": "4"}
    )
    error = error_from_response(response, "GET /V1/orders")
    assert isinstance(error, cls) and error.message == "x y" and error.status == status
    if cls is RateLimited:
        assert error.retry_after == 4.0


def test_aggregate_errors_are_joined_and_html_bodies_survive():
    response = httpx2.Response(
        400,
        json={
            "message": "Validation Failed",
            "errors": [{"message": '"%field" can not be empty.', "parameters": {"field": "sku"}}],
        },
    )
    assert error_from_response(response, "x").message == 'Validation Failed: "sku" can not be empty.'
    html = httpx2.Response(502, text="<html>Bad gateway</html>")
    assert isinstance(error_from_response(html, "x"), ServerError)


# --------------------------------------------------------------------------- OAuth


def test_rfc5849_base_string_example():
    """RFC 5849 §3.4.1.1: parameter normalisation and encoding (signature method aside)."""
    params = [
        ("b5", "=%3D"),
        ("a3", "a"),
        ("c@", ""),
        ("a2", "r b"),
        ("oauth_consumer_key", "9djdj82h48djs9d2"),
        ("oauth_token", "kkk9d7dh3k39sjv7"),
        ("oauth_signature_method", "HMAC-SHA1"),
        ("oauth_timestamp", "137131201"),
        ("oauth_nonce", "7d8f3e4a"),
        ("c2", ""),
        ("a3", "2 q"),
    ]
    base = base_string("post", "http://EXAMPLE.COM:80/request", params)
    assert base == (
        "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q%26a3%3Da%26b5%3D%253D%25253D%26"
        "c%2540%3D%26c2%3D%26oauth_consumer_key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26"
        "oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk9d7dh3k39sjv7"
    )
    assert enc("~a b/") == "~a%20b%2F"


def test_signed_header_verifies_once_and_only_unchanged():
    cfg = OAuthConfig()
    creds = OAuth1Credentials(
        cfg.consumer_key, cfg.consumer_secret, cfg.access_token, cfg.access_token_secret
    )
    url = "http://127.0.0.1:8101/rest/all/V1/products?searchCriteria%5BpageSize%5D=5&x=a%20b"
    header = authorization_header(creds, "GET", url)
    query = parse_qsl(urlsplit(url).query)
    verifier = OAuthVerifier(cfg)
    assert verifier.verify(header, "GET", "http", "127.0.0.1:8101", "/rest/all/V1/products", query)
    assert not verifier.verify(
        header, "GET", "http", "127.0.0.1:8101", "/rest/all/V1/products", query
    )  # nonce reuse
    fresh = authorization_header(creds, "GET", url)
    assert not verifier.verify(fresh, "GET", "http", "127.0.0.1:8101", "/rest/all/V1/products", query[:1])
    assert not verifier.verify(fresh, "POST", "http", "127.0.0.1:8101", "/rest/all/V1/products", query)
    old = authorization_header(creds, "GET", url, timestamp=1)
    assert not verifier.verify(old, "GET", "http", "127.0.0.1:8101", "/rest/all/V1/products", query)
    assert "consumer-secret" not in repr(creds)


# --------------------------------------------------------------------------- webhooks


def test_signature_round_trip_and_tampering(tmp_path):
    key = load_or_create_private_key(tmp_path / "k.pem")
    again = load_or_create_private_key(tmp_path / "k.pem")
    assert public_pem(key) == public_pem(again) == (tmp_path / "k.pem.pub").read_bytes()
    body = b'{"eventName":"observer.sales_order_creditmemo_save_after","data":{"creditmemo":{"entity_id":1}}}'
    signature = sign(body, key)
    assert verify_signature(body, signature, public_pem(key))
    assert not verify_signature(body + b" ", signature, public_pem(key))
    other = load_or_create_private_key(tmp_path / "other.pem")
    assert not verify_signature(body, signature, public_pem(other))
    assert not verify_signature(body, base64.b64encode(b"short").decode(), public_pem(key))
    assert not verify_signature(body, signature, b"not a key")
    assert not verify_signature(body, "%%%", public_pem(key))


def test_parse_envelope_shapes():
    assert parse_envelope(b'{"eventName":"observer.x","data":{"a":1}}') == ("observer.x", {"a": 1})
    io_event = b'{"event":{"type":"com.adobe.commerce.observer.y","data":{"value":{"b":2}}}}'
    assert parse_envelope(io_event) == ("observer.y", {"b": 2})
    with pytest.raises(WebhookPayloadError):  # not JSON: Adobe Commerce never sends that
        parse_envelope(b"not json")
    # Issue 14: JSON of any other shape is named (else "unrecognised"), never refused: a refused
    # required hook aborts the merchant's save.
    assert parse_envelope(b"[]") == ("unrecognised", {"body": []})
    assert parse_envelope(b'{"data":{}}') == ("unrecognised", {})
    assert parse_envelope(b'{"eventName":"","data":{}}') == ("unrecognised", {"eventName": "", "data": {}})
    assert parse_envelope(b'{"eventName":"x","data":[1]}') == ("x", {})
    plugin = b'{"subject":[],"sourceItems":[{"sku":"A"}],"result":null}'
    assert parse_envelope(plugin) == ("plugin.magento.inventory_api.api.source_items_save.execute",
                                      {"sourceItems": [{"sku": "A"}], "result": None})
    assert parse_envelope(plugin, "plugin.inventory_api.api.source_items_save.execute")[0] == \
        "plugin.inventory_api.api.source_items_save.execute"
    cloud = b'{"specversion":"1.0","id":"1","type":"com.adobe.commerce.observer.z","data":{"value":{"c":3}}}'
    assert parse_envelope(cloud) == ("observer.z", {"c": 3})


@given(
    st.lists(st.sampled_from(["gt", "gteq", "lt", "lteq", "eq"]), max_size=3),
    st.lists(st.integers(0, 30), min_size=3, max_size=3),
    st.integers(1, 6),
    st.integers(0, 4),
)
def test_keyset_fast_path_agrees_with_the_scan(conditions, values, size, page):
    rows = [{"entity_id": i} for i in range(1, 26)]
    groups = [[search.Filter("entity_id", str(v), c)] for c, v in zip(conditions, values, strict=False)]
    criteria = search.SearchCriteria(groups, [("entity_id", "ASC")], size, page)
    assert search.apply(rows, criteria, sorted_by="entity_id") == search.apply(rows, criteria)


def test_fields_partial_responses():
    spec = search.parse_fields("items[sku,extension_attributes[stock_item[qty]]],total_count")
    body = {
        "items": [
            {
                "sku": "A",
                "name": "x",
                "extension_attributes": {"stock_item": {"qty": 3, "min_qty": 0}, "w": 1},
            }
        ],
        "total_count": 1,
        "search_criteria": {},
    }
    assert search.filter_fields(body, spec) == {
        "items": [{"sku": "A", "extension_attributes": {"stock_item": {"qty": 3}}}],
        "total_count": 1,
    }
    assert search.filter_fields(body, search.parse_fields("total_count,items")) == {
        "total_count": 1,
        "items": body["items"],
    }
    for bad in ("items[sku", "items]sku"):
        with pytest.raises(ValueError):
            search.parse_fields(bad)
