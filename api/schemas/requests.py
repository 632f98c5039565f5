"""The base of every request body model."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, field_validator
from pydantic_core import PydanticCustomError

from syston.core.text import UNSTORABLE_MESSAGE, holds_unstorable_text


class RequestModel(BaseModel):
    """Base of every request body: a field holding text the databases cannot store is refused
    (422 VALIDATION naming it) before any other check, whatever its type says."""

    @field_validator("*", mode="before")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        if holds_unstorable_text(value):
            raise PydanticCustomError("unstorable_text", UNSTORABLE_MESSAGE)
        return value
