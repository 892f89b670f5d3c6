"""DCAT-AP 3 as JSON-LD: ``/catalog.jsonld`` (paged) and ``/catalog/{code}.jsonld``.

Harvesters of European and national open-data portals read DCAT-AP; the catalog
publishes its published resources in it. Anonymous callers get the open-data
subset (``open_type == "unconditional"``), signed-in callers every published
resource — the same rule as the CKAN API, which shares the distribution and
visibility helpers defined here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from yiwang.catalog import search as catalog_search
from yiwang.catalog import service
from yiwang.catalog.errors import ResourceNotFound
from yiwang.catalog.models import Resource
from yiwang.http import DbSession, OptionalActor
from yiwang.identity.authz import Actor, authorize
from yiwang.identity.models import Org

router = APIRouter(include_in_schema=False)

MEDIA_TYPE = "application/ld+json"
PAGE_SIZE = 100
EU = "http://publications.europa.eu/resource/authority"
FREQUENCY = {
    "realtime": "CONT",
    "daily": "DAILY",
    "weekly": "WEEKLY",
    "monthly": "MONTHLY",
    "quarterly": "QUARTERLY",
    "yearly": "ANNUAL",
    "irregular": "IRREG",
}
CONTEXT = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "hydra": "http://www.w3.org/ns/hydra/core#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}


# ------------------------------------------------------------------ shared with the CKAN API


@dataclass(frozen=True)
class Distribution:
    """One way to get a resource's data: by API, by table exchange, or as a file."""

    kind: str  # api | table | file
    title: str
    url: str
    ckan_format: str
    file_type: str  # EU file-type authority code
    media_type: str | None


DISTRIBUTION_TITLES = {"api": "数据接口", "table": "库表交换", "file": "数据文件"}


def distributions(resource: Resource, base: str) -> list[Distribution]:
    """The resource's own format first, then its share method when that differs."""
    records = f"{base}/gateway/v1/resources/{quote(resource.code, safe='')}/records"
    result = []
    for kind in dict.fromkeys([resource.format, resource.share_method]):
        if kind == "file":
            url = f"{base}/gateway/v1/resources/{quote(resource.code, safe='')}/file"
            result.append(Distribution(kind, DISTRIBUTION_TITLES[kind], url, "FILE", "BIN", None))
        else:
            # API calls and table exchange both go through the gateway's records endpoint (JSON).
            result.append(
                Distribution(
                    kind, DISTRIBUTION_TITLES[kind], records, kind.upper(), "JSON", "application/json"
                )
            )
    return result


def modified_at(resource: Resource) -> datetime:
    """When the metadata now shown became public (a reviewed change republishes it)."""
    return resource.published_at or resource.updated_at


def iso(moment: datetime | None) -> str | None:
    """Naive UTC as CKAN writes it (DCAT adds the ``Z``)."""
    return moment.isoformat(timespec="seconds") if moment is not None else None


def published_resource(session: Session, actor: Actor | None, code: str) -> Resource:
    """A published resource the caller may see; drafts are not part of the public catalogs."""
    resource = service.get_resource(session, actor, code)
    if resource.status != "published":
        raise ResourceNotFound(f"资源 {code} 不存在")
    return resource


def search_published(
    session: Session,
    actor: Actor | None,
    *,
    q: str = "",
    filters: Mapping[str, Sequence[str]] | None = None,
    sort: str = "relevance",
    limit: int = 10,
    offset: int = 0,
    facet_fields: Sequence[str] = (),
) -> catalog_search.SearchPage:
    """``service.search`` with only the facets asked for (each facet is a query of its own)."""
    if actor is not None:
        authorize(actor, "catalog.view", target_type="catalog", target_id="search")
    return catalog_search.search_resources(
        session,
        q=q,
        filters=filters,
        open_only=actor is None,
        sort=sort,
        limit=limit,
        offset=offset,
        facet_fields=facet_fields,
    )


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


# ------------------------------------------------------------------ JSON-LD nodes


def zh(text: str) -> dict[str, str]:
    return {"@value": text, "@language": "zh"}


def agent(org: Org, base: str) -> dict[str, Any]:
    return {
        "@id": f"{base}/orgs/{quote(org.code, safe='')}",
        "@type": "foaf:Agent",
        "foaf:name": zh(org.name),
        "dct:identifier": org.code,
    }


def dataset_iri(code: str, base: str) -> str:
    return f"{base}/catalog/{quote(code, safe='')}.jsonld#dataset"


def access_rights(resource: Resource) -> str:
    """Open to the public → PUBLIC; shared between departments (with or without conditions) →
    RESTRICTED; not shared at all → NON_PUBLIC."""
    if resource.open_type == "unconditional":
        code = "PUBLIC"
    elif resource.share_type == "none":
        code = "NON_PUBLIC"
    else:
        code = "RESTRICTED"
    return f"{EU}/access-right/{code}"


def dataset(resource: Resource, org: Org, base: str) -> dict[str, Any]:
    """A dcat:Dataset node with its distributions, publisher and themes inline."""
    iri = dataset_iri(resource.code, base)
    node: dict[str, Any] = {
        "@id": iri,
        "@type": "dcat:Dataset",
        "dct:identifier": resource.code,
        "dct:title": zh(resource.name),
        "dct:description": zh(resource.summary or resource.name),
        "dct:publisher": agent(org, base),
        "dcat:keyword": [zh(k) for k in json.loads(resource.keywords)],
        "dcat:theme": [
            {
                "@id": f"{base}/catalog/themes/{quote(t, safe='')}",
                "@type": "skos:Concept",
                "skos:prefLabel": zh(t),
            }
            for t in json.loads(resource.themes)
        ],
        "dct:accrualPeriodicity": {
            "@id": f"{EU}/frequency/{FREQUENCY.get(resource.update_cycle, 'UNKNOWN')}"
        },
        "dct:accessRights": {"@id": access_rights(resource)},
        "dct:language": {"@id": f"{EU}/language/ZHO"},
        "dct:modified": {"@value": f"{iso(modified_at(resource))}Z", "@type": "xsd:dateTime"},
        "dcat:distribution": [
            {
                "@id": f"{iri}-{d.kind}",
                "@type": "dcat:Distribution",
                "dct:title": zh(d.title),
                "dcat:accessURL": {"@id": d.url},
                "dct:format": {"@id": f"{EU}/file-type/{d.file_type}"},
                **({"dcat:mediaType": {"@id": _iana(d.media_type)}} if d.media_type else {}),
            }
            for d in distributions(resource, base)
        ],
    }
    if resource.released is not None:
        node["dct:issued"] = {"@value": resource.released.isoformat(), "@type": "xsd:date"}
    elif resource.published_at is not None:
        node["dct:issued"] = {"@value": f"{iso(resource.published_at)}Z", "@type": "xsd:dateTime"}
    return node


def _iana(media_type: str) -> str:
    return f"https://www.iana.org/assignments/media-types/{media_type}"


def catalog_node(base: str, datasets: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "@id": f"{base}/catalog.jsonld#catalog",
        "@type": "dcat:Catalog",
        "dct:title": zh("一网共享 政务数据资源目录"),
        "dct:description": zh("政务部门编目并发布的数据资源：元数据、共享条件、开放类型与获取方式。"),
        "dct:publisher": {
            "@id": f"{base}/#operator",
            "@type": "foaf:Agent",
            "foaf:name": zh("政务大数据中心（一网共享平台运营方）"),
        },
        "dct:language": {"@id": f"{EU}/language/ZHO"},
        "foaf:homepage": {"@id": f"{base}/"},
        "dcat:dataset": [{"@id": d["@id"]} for d in datasets],
    }


def paging_node(base: str, page: int, total: int) -> dict[str, Any]:
    """hydra:PagedCollection as ckanext-dcat writes it, so its harvester follows the pages."""
    last = max(1, math.ceil(total / PAGE_SIZE))

    def url(n: int) -> str:
        return f"{base}/catalog.jsonld?page={n}"

    node: dict[str, Any] = {
        "@id": url(page),
        "@type": "hydra:PagedCollection",
        "hydra:totalItems": total,
        "hydra:itemsPerPage": PAGE_SIZE,
        "hydra:firstPage": url(1),
        "hydra:lastPage": url(last),
    }
    if page > 1:
        node["hydra:previousPage"] = url(page - 1)
    if page < last:
        node["hydra:nextPage"] = url(page + 1)
    return node


def jsonld(graph: list[dict[str, Any]]) -> JSONResponse:
    return JSONResponse({"@context": CONTEXT, "@graph": graph}, media_type=MEDIA_TYPE)


# ------------------------------------------------------------------ routes


@router.get("/catalog.jsonld")
def catalog(
    request: Request,
    db: DbSession,
    actor: OptionalActor,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> JSONResponse:
    """One page of the catalog (``PAGE_SIZE`` datasets), with links to the other pages."""
    base = base_url(request)
    result = search_published(db, actor, sort="name", limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    if page > 1 and not result.items:
        raise ResourceNotFound(f"目录第 {page} 页不存在（共 {result.total} 个资源）")
    resources = [r for r, _ in result.items]
    orgs = service.provider_codes(db, resources)
    datasets = [dataset(r, orgs[r.provider_id], base) for r in resources]
    return jsonld([catalog_node(base, datasets), paging_node(base, page, result.total), *datasets])


@router.get("/catalog/{code}.jsonld")
def catalog_dataset(code: str, request: Request, db: DbSession, actor: OptionalActor) -> JSONResponse:
    """One published resource as a dcat:Dataset."""
    base = base_url(request)
    resource = published_resource(db, actor, code)
    org = service.provider_codes(db, [resource])[resource.provider_id]
    return jsonld([dataset(resource, org, base)])
