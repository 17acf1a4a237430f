"""Tenants from the `X-Scope-OrgID` header or gRPC metadata, as Tempo, Loki and Mimir use it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from observatory.errors import BadRequestError, UnauthorizedError

TENANT_HEADER = "X-Scope-OrgID"
_VALID = re.compile(r"^[A-Za-z0-9!._*'()-]{1,150}$")


@dataclass(frozen=True)
class TenantResolver:
    default_tenant: str
    required: bool

    def resolve(self, header: str | None) -> str:
        if not header:
            if self.required:
                raise UnauthorizedError(f"missing {TENANT_HEADER} header: a tenant is required")
            return self.default_tenant
        tenant = header.strip()
        if not _VALID.match(tenant) or tenant in (".", ".."):
            raise BadRequestError(
                f"invalid tenant {tenant[:160]!r} in {TENANT_HEADER}: use up to 150 letters, "
                "digits and !._*'()-"
            )
        return tenant
