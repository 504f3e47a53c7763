"""The asyncio client (grpc.aio): the same calls as chaff_client.Client, awaited.

    from chaff_client.aio import AsyncClient

    async with AsyncClient("127.0.0.1:50051") as chaff:
        labels = await chaff.analyze({"id": "a1", "source": "x.example", "text": "..."})
        async for result in chaff.analyze_stream(documents):   # an iterable or an async iterable
            ...
"""
from __future__ import annotations

import asyncio
from typing import Any, AsyncIterable, AsyncIterator, Iterable, Optional, Union

import grpc

from . import ChaffError, _chunks, _cluster, _open, _clusters_request, _results, _sent_text, _stats, to_dict, to_document
from . import chaff_pb2 as pb
from . import chaff_pb2_grpc as pb_grpc

__all__ = ["AsyncClient"]


async def _batches(documents: Union[Iterable[dict], AsyncIterable[dict]], size: int) -> AsyncIterator[list]:
    if hasattr(documents, "__aiter__"):
        batch = []
        async for d in documents:  # type: ignore[union-attr]
            batch.append(d)
            if len(batch) == size:
                yield batch
                batch = []
        if batch:
            yield batch
        return
    for batch in _chunks(documents, size):  # type: ignore[arg-type]
        yield batch


class AsyncClient:
    """One grpc.aio channel; see chaff_client.Client for the arguments."""

    def __init__(self, target: str = "127.0.0.1:50051", *, timeout: Optional[float] = 30.0,
                 compression: Optional[grpc.Compression] = None, max_message_bytes: int = 64 << 20,
                 credentials: Optional[grpc.ChannelCredentials] = None):
        self._channel = _open(grpc.aio, target, compression, max_message_bytes, credentials)
        self._stub = pb_grpc.ChaffStub(self._channel)
        self.timeout = timeout

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def _call(self, method, request, document_id=None):
        try:
            return await method(request, timeout=self.timeout)
        except grpc.aio.AioRpcError as e:
            raise ChaffError(e.code(), e.details() or "", document_id) from None

    async def analyze(self, document: dict, *, dry_run: bool = False) -> dict:
        mode = pb.MODE_DRY_RUN if dry_run else pb.MODE_INGEST
        resp = await self._call(self._stub.Analyze, pb.AnalyzeRequest(document=to_document(document), mode=mode),
                                document.get("id"))
        return to_dict(resp.labels, _sent_text(document))

    async def analyze_stream(self, documents: Union[Iterable[dict], AsyncIterable[dict]], *, batch_size: int = 64,
                             in_flight: int = 4, dry_run: bool = False) -> AsyncIterator[Union[dict, ChaffError]]:
        """One result per document, in input order; at most `in_flight`
        batches unanswered (see chaff_client.Client.analyze_stream)."""
        mode = pb.MODE_DRY_RUN if dry_run else pb.MODE_INGEST
        window = asyncio.Semaphore(max(1, in_flight))
        sent: "asyncio.Queue[list]" = asyncio.Queue()
        error: list = []

        async def requests():
            try:
                async for batch in _batches(documents, max(1, batch_size)):
                    msgs = [to_document(d) for d in batch]
                    await window.acquire()
                    sent.put_nowait(batch)
                    yield pb.AnalyzeStreamRequest(documents=msgs, mode=mode)
            except Exception as e:  # a bad document dict: end the stream, raise it to the caller
                error.append(e)

        call = self._stub.AnalyzeStream(requests())
        try:
            async for resp in call:
                batch = sent.get_nowait()
                window.release()
                for result in _results(batch, resp):
                    yield result
        except grpc.aio.AioRpcError as e:
            raise ChaffError(e.code(), e.details() or "") from None
        if error:
            raise error[0]

    async def get_document(self, document_id: str) -> dict:
        resp = await self._call(self._stub.GetDocument, pb.GetDocumentRequest(id=document_id, include_text=True),
                                document_id)
        return to_dict(resp.labels, resp.text or None)

    async def delete_document(self, document_id: str) -> int:
        resp = await self._call(self._stub.DeleteDocument, pb.DeleteDocumentRequest(id=document_id), document_id)
        return resp.segments

    async def clusters(self, *, source: str = "", label: Optional[str] = None, min_documents: int = 0,
                       page_size: int = 50) -> AsyncIterator[dict]:
        token = ""
        while True:
            resp = await self._call(self._stub.ListClusters,
                                    _clusters_request(source, label, min_documents, page_size, token))
            for c in resp.clusters:
                yield _cluster(c)
            token = resp.next_page_token
            if not token:
                return

    async def stats(self) -> dict:
        return _stats(await self._call(self._stub.Stats, pb.StatsRequest()))
