"""JSON API of the shipments area (bearer token, ``ApiUser``).

    GET    /api/carriers                      the cached marketplace carrier list (SH21)
    GET    /api/carriers/mappings             every mapping and alias
    POST   /api/carriers/mappings             add or replace one; releases the shipments it unblocks
    DELETE /api/carriers/mappings/{id}
    GET    /api/carriers/suggest?title=&code= what a title matches now, and ranked suggestions
    GET    /api/shipments?state=&order_id=    outbound shipments and their state, for the console
    GET    /api/shipments/summary             how many shipments are in each state
    GET    /api/shipments/{magento shipment id}
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field, model_validator

from marketbridge.adapters.errors import RemoteError
from marketbridge.domain.auth import Action
from marketbridge.domain.shipments import ShipmentState
from marketbridge.services import shipments as shipment_service
from marketbridge.web.deps import ConsoleUser, RuntimeDep
from marketbridge.web.params import DbId, Offset
from marketbridge.web.policy import Reader, requires

router = APIRouter(tags=["shipments"])
MappingEditor = Annotated[ConsoleUser, Depends(requires(Action.EDIT_CARRIER_MAPPINGS))]


class MappingIn(BaseModel):
    """A Magento carrier (code and/or track title) → a marketplace (SH21) carrier code."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    marketplace_code: str = Field(min_length=1, max_length=64)
    magento_carrier_code: str | None = Field(default=None, max_length=64)
    title: str | None = Field(default=None, max_length=255)

    @model_validator(mode="after")
    def _something_to_match(self) -> MappingIn:
        if not (self.magento_carrier_code or self.title):
            raise ValueError("give magento_carrier_code, title, or both")
        return self


def _remote_unavailable(error: RemoteError) -> HTTPException:
    return HTTPException(status.HTTP_502_BAD_GATEWAY, f"the marketplace carrier list could not be read: {error}")


@router.get("/api/carriers", response_model=list[shipment_service.CarrierView])
def list_carriers(runtime: RuntimeDep, user: Reader) -> list[shipment_service.CarrierView]:
    try:
        carriers = shipment_service.ensure_carriers(runtime)
    except RemoteError as error:
        raise _remote_unavailable(error) from None
    return [shipment_service.CarrierView(code=c.code, label=c.label, standard_code=c.standard_code, tracking_url=c.tracking_url)
            for c in carriers]


@router.get("/api/carriers/mappings", response_model=list[shipment_service.CarrierMappingView])
def list_mappings(runtime: RuntimeDep, user: Reader) -> list[shipment_service.CarrierMappingView]:
    with runtime.shipments_store.unit_of_work() as repo:
        return shipment_service.list_mappings(repo)


@router.post("/api/carriers/mappings", status_code=status.HTTP_201_CREATED, response_model=shipment_service.MappingAdded)
def add_mapping(body: MappingIn, runtime: RuntimeDep, user: MappingEditor) -> shipment_service.MappingAdded:
    try:
        return shipment_service.add_mapping(runtime, marketplace_code=body.marketplace_code,
                                   magento_carrier_code=body.magento_carrier_code, title=body.title, actor=user.name)
    except shipment_service.InvalidMapping as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None
    except RemoteError as error:
        raise _remote_unavailable(error) from None


@router.delete("/api/carriers/mappings/{mapping_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_mapping(mapping_id: DbId, runtime: RuntimeDep, user: MappingEditor) -> None:
    if not shipment_service.delete_mapping(runtime, mapping_id, actor=user.name):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no carrier mapping {mapping_id}")


@router.get("/api/carriers/suggest", response_model=shipment_service.CarrierSuggestions)
def suggest(runtime: RuntimeDep, user: Reader,
            title: Annotated[str, Query(min_length=1, max_length=255)],
            code: Annotated[str | None, Query(max_length=64)] = None) -> shipment_service.CarrierSuggestions:
    try:
        return shipment_service.suggest(runtime, title, code)
    except RemoteError as error:
        raise _remote_unavailable(error) from None


@router.get("/api/shipments", response_model=list[shipment_service.ShipmentView])
def list_shipments(runtime: RuntimeDep, user: Reader,
                   state: Annotated[ShipmentState | None, Query()] = None,
                   order_id: Annotated[str | None, Query(max_length=64)] = None,
                   limit: Annotated[int, Query(ge=1, le=1000)] = 200,
                   offset: Offset = 0) -> list[shipment_service.ShipmentView]:
    with runtime.shipments_store.unit_of_work() as repo:
        return shipment_service.list_shipments(repo, state=state.value if state else None, order_id=order_id,
                                               limit=limit, offset=offset)


@router.get("/api/shipments/summary", response_model=shipment_service.ShipmentCounts)
def shipments_summary(runtime: RuntimeDep, user: Reader) -> shipment_service.ShipmentCounts:
    """How many shipments are in each state."""
    with runtime.shipments_store.unit_of_work() as repo:
        return shipment_service.ShipmentCounts.model_validate(shipment_service.counts_by_state(repo))


@router.get("/api/shipments/{shipment_id}", response_model=shipment_service.ShipmentView)
def get_shipment(shipment_id: DbId, runtime: RuntimeDep, user: Reader) -> shipment_service.ShipmentView:
    with runtime.shipments_store.unit_of_work() as repo:
        shipment = shipment_service.get_shipment(repo, shipment_id)
    if shipment is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no shipment {shipment_id}")
    return shipment
