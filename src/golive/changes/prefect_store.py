"""Changes kept on a Prefect server, as Prefect Variables: one place for every machine that runs golive.

A Variable holds at most 5000 characters and cannot be compared-and-swapped, so a change is
several Variables, all named ``golive-<change id>...``:

- ``golive-<id>``: a readable header (runbook, env, proposer, created, digest, chunk count),
  tagged ``golive-change`` so that listing changes reads headers only;
- ``golive-<id>-p<k>``: the record (without events) as zlib-compressed JSON in base64 chunks;
- ``golive-<id>-e<nnnn>``: event number n. Creating a Variable whose name exists fails
  (409), so appending event n after checking the n events before it is atomic: a writer
  that loses the race reads again, checks again and takes the next number.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from golive.changes.model import CHANGE_ID, Change, ChangeEvent
from golive.changes.store import StoreUnavailable, UnknownChange, check_id

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient

__all__ = ["PrefectChangeStore"]

TAG = "golive-change"
CHUNK = 4800  # base64 needs no escaping: a chunk stays under Prefect's 5000 characters
PAGE = 200
MAX_PAGES = 50  # 10 000 variables: listing stays bounded
APPEND_ATTEMPTS = 20


class PrefectChangeStore:
    def __init__(self, api_url: str) -> None:
        self.api_url = api_url

    @contextmanager
    def _client(self) -> Iterator[SyncPrefectClient]:
        import httpx
        from prefect.client.orchestration import get_client
        from prefect.settings import PREFECT_API_URL, temporary_settings

        try:
            with temporary_settings(updates={PREFECT_API_URL: self.api_url}), get_client(sync_client=True) as client:
                yield client
        except httpx.HTTPError as exc:
            raise StoreUnavailable(f"the Prefect server at {self.api_url} keeping changes failed: {exc}") from exc

    def create(self, change: Change) -> None:
        check_id(change.id)
        body = change.model_dump(mode="json", exclude={"events"})
        packed = base64.b64encode(zlib.compress(json.dumps(body).encode())).decode()
        chunks = [packed[i : i + CHUNK] for i in range(0, len(packed), CHUNK)] or [""]
        with self._client() as client:
            for k, chunk in enumerate(chunks):  # the header last: a change is listed only once it is whole
                self._create(client, f"golive-{change.id}-p{k}", chunk, tags=[f"{TAG}-data"])
            header = {
                "id": change.id,
                "runbook": change.runbook,
                "env": change.env,
                "proposer": change.proposer,
                "created": change.created,
                "digest": change.digest,
                "chunks": len(chunks),
            }
            self._create(client, f"golive-{change.id}", header, tags=[TAG])

    def get(self, change_id: str) -> Change:
        check_id(change_id)
        with self._client() as client:
            return self._read(client, change_id)

    def append(self, change_id: str, event: ChangeEvent, *, check: Callable[[Change], None] | None = None) -> Change:
        from prefect.exceptions import ObjectAlreadyExists

        check_id(change_id)
        with self._client() as client:
            for _ in range(APPEND_ATTEMPTS):
                change = self._read(client, change_id)
                if check is not None:
                    check(change)
                name = f"golive-{change_id}-e{len(change.events):04d}"
                try:
                    self._create(client, name, event.model_dump(mode="json"), tags=[f"{TAG}-event"])
                except ObjectAlreadyExists:
                    continue  # another writer took this number: read its event, check again
                return change.model_copy(update={"events": [*change.events, event]})
        raise RuntimeError(f"change {change_id}: could not append an event in {APPEND_ATTEMPTS} attempts")

    def ids(self) -> list[str]:
        with self._client() as client:
            names = [v["name"] for v in self._filter(client, {"tags": {"all_": [TAG]}})]
        return sorted(n.removeprefix("golive-") for n in names if CHANGE_ID.match(n.removeprefix("golive-")))

    # ------------------------------------------------------------------ helpers

    def _read(self, client: SyncPrefectClient, change_id: str) -> Change:
        header = client.read_variable_by_name(f"golive-{change_id}")
        if header is None or not isinstance(header.value, dict):
            raise UnknownChange(change_id, self._ids(client))
        chunks = []
        for k in range(int(header.value["chunks"])):
            part = client.read_variable_by_name(f"golive-{change_id}-p{k}")
            if part is None:
                raise ValueError(f"change {change_id}: part {k} of its record is missing on the Prefect server")
            chunks.append(str(part.value))
        body = json.loads(zlib.decompress(base64.b64decode("".join(chunks))))
        found = self._filter(client, {"name": {"like_": f"golive-{change_id}-e"}})
        events = sorted((v for v in found if v["name"].startswith(f"golive-{change_id}-e")), key=lambda v: v["name"])
        return Change.model_validate({**body, "events": [v["value"] for v in events]})

    def _ids(self, client: SyncPrefectClient) -> list[str]:
        names = [v["name"] for v in self._filter(client, {"tags": {"all_": [TAG]}})]
        return sorted(n.removeprefix("golive-") for n in names)

    @staticmethod
    def _create(client: SyncPrefectClient, name: str, value: Any, *, tags: list[str]) -> None:
        from prefect.client.schemas.actions import VariableCreate

        client.create_variable(VariableCreate(name=name, value=value, tags=tags))

    @staticmethod
    def _filter(client: SyncPrefectClient, variables: dict[str, Any]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for page in range(MAX_PAGES):
            body = {"variables": variables, "limit": PAGE, "offset": page * PAGE, "sort": "NAME_ASC"}
            got = client.request("POST", "/variables/filter", json=body).json()
            out += got
            if len(got) < PAGE:
                break
        return out
