"""The base of every request body model."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator
from pydantic_core import PydanticCustomError

from syston.core.text import UNSTORABLE_MESSAGE, holds_unstorable_text

# JSON Schema (ECMA 262) for "no NUL character"; lone surrogates cannot occur in UTF-8 JSON.
NO_NUL_PATTERN = r"^[^\u0000]*$"


def _document_storable_text(schema: dict[str, Any]) -> None:
    """Say in the OpenAPI document what `RequestModel._storable_text` enforces, on every free
    text property: the patterns, enums and formats (email, date-time) in use rule NUL out."""
    constrained = {"pattern", "enum", "const", "format"}
    for prop in schema.get("properties", {}).values():
        for option in prop.get("anyOf", [prop]):
            if option.get("type") == "string" and not constrained & set(option):
                option["pattern"] = NO_NUL_PATTERN


class RequestModel(BaseModel):
    """Base of every request body: a field holding text the databases cannot store is refused
    (422 VALIDATION naming it) before any other check, whatever its type says."""

    model_config = ConfigDict(json_schema_extra=_document_storable_text)

    @field_validator("*", mode="before")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        if holds_unstorable_text(value):
            raise PydanticCustomError("unstorable_text", UNSTORABLE_MESSAGE)
        return value
