"""Whatever a client sends, the simulator answers like Magento (2xx/4xx with the envelope), never 500."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marketbridge.sandbox.magento.app import create_app
from marketbridge.sandbox.magento.routes import ROUTES

APP = create_app(products=40)
CLIENT = TestClient(APP)
HEADERS = {"Authorization": "Bearer sandbox-magento-token", "Content-Type": "application/json"}
WRITE_ROUTES = sorted({(r.method, r.template) for r in ROUTES if r.method in ("POST", "PUT")})
BODY_KEYS = [
    "product",
    "sourceItems",
    "links",
    "source",
    "stock",
    "stockItem",
    "cartItem",
    "addressInformation",
    "paymentMethod",
    "email",
    "entity",
    "statusHistory",
    "items",
    "tracks",
    "arguments",
    "comment",
    "capture",
    "isOnline",
    "billingAddress",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.sampled_from(
                [
                    "sku",
                    "qty",
                    "order_item_id",
                    "quantity",
                    "status",
                    "source_code",
                    "stock_id",
                    "entity_id",
                    "parent_id",
                    "track_number",
                    "shipping_amount",
                    "option_id",
                    "name",
                    "price",
                    "extension_attributes",
                    "items",
                    "comment",
                ]
            )
            | st.text(max_size=6),
            children,
            max_size=5,
        ),
    ),
    max_leaves=12,
)
bodies = st.dictionaries(st.sampled_from(BODY_KEYS), json_values, max_size=4)
path_values = st.sampled_from(
    ["1", "2", "0", "-1", "abc", "MB-000001", "MB-CFG-0001", "MB-BUNDLE-0001", "99999999999999999999"]
)


def fill(template: str, value: str) -> str:
    out = template
    while "{" in out:
        start = out.index("{")
        out = out[:start] + value + out[out.index("}", start) + 1 :]
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(WRITE_ROUTES), path_values, bodies)
def test_random_write_bodies_never_crash(route, value, body):
    method, template = route
    response = CLIENT.request(
        method, "/rest/all" + fill(template, value), content=json.dumps(body), headers=HEADERS
    )
    assert response.status_code < 500, (method, template, body, response.text)
    if response.status_code >= 400:
        assert isinstance(response.json()["message"], str)


GET_ROUTES = sorted({(r.method, r.template) for r in ROUTES if r.method == "GET"})
query_keys = st.sampled_from(
    [
        "searchCriteria",
        "searchCriteria[pageSize]",
        "searchCriteria[currentPage]",
        "searchCriteria[filter_groups][0][filters][0][field]",
        "searchCriteria[filter_groups][0][filters][0][value]",
        "searchCriteria[filter_groups][0][filters][0][condition_type]",
        "searchCriteria[filterGroups][1][filters][0]",
        "searchCriteria[sortOrders][0][field]",
        "searchCriteria[sortOrders][0][direction]",
        "searchCriteria[",
        "fields",
        "skus[0]",
        "stockId",
        "optionId",
    ]
) | st.text(max_size=20)


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(GET_ROUTES),
    path_values,
    st.lists(st.tuples(query_keys, st.text(max_size=12)), max_size=6),
)
def test_random_query_strings_never_crash(route, value, pairs):
    _, template = route
    response = CLIENT.get("/rest/all" + fill(template, value), params=pairs, headers=HEADERS)
    assert response.status_code < 500, (template, pairs, response.text)
