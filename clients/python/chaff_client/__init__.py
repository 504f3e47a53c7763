"""A Python client for chaff's gRPC API (proto/chaff/v1/chaff.proto).

    from chaff_client import Client

    with Client("127.0.0.1:50051") as chaff:
        labels = chaff.analyze({"id": "a1", "source": "dailyledger.example", "text": "..."})
        for seg in labels["segments"]:
            print(seg["label"], seg["text"])
        for result in chaff.analyze_stream(documents, batch_size=64):
            ...

Documents and labels are plain dicts with the keys of `chaff label`'s JSONL
(input: id, source, url, published_at, text | paragraphs | html, markup;
output: id, source, url, published_at, replaced, text, summary and segments
with start, end, index, label, confidence, cluster, match, distance,
cluster_documents, cluster_sources, source_documents, other_sources,
first_seen, comment, and the segment's own text). A refused document raises
`ChaffError` (unary) or is yielded as one (stream), with the gRPC status
code and the server's message, which says what to fix.
"""
from __future__ import annotations

import datetime as _dt
import itertools
import queue
import threading
from typing import Any, Iterable, Iterator, Optional, Union

import grpc
from google.protobuf import timestamp_pb2

from . import chaff_pb2 as pb
from . import chaff_pb2_grpc as pb_grpc

__all__ = ["Client", "ChaffError"]

_LABELS = {pb.LABEL_EDITORIAL: "editorial", pb.LABEL_BOILERPLATE: "boilerplate", pb.LABEL_SYNDICATED: "syndicated"}
_MATCHES = {pb.MATCH_KIND_NONE: "none", pb.MATCH_KIND_EXACT: "exact", pb.MATCH_KIND_NEAR: "near"}
_LABEL_VALUES = {v: k for k, v in _LABELS.items()}


class ChaffError(Exception):
    """A document chaff refused, or a failed call: `code` is a grpc.StatusCode."""

    def __init__(self, code: grpc.StatusCode, message: str, document_id: Optional[str] = None):
        super().__init__(f"{code.name.lower()}: {message}" + (f" (document {document_id!r})" if document_id else ""))
        self.code = code
        self.message = message
        self.document_id = document_id


def _timestamp(value: Union[None, str, _dt.datetime]) -> Optional[timestamp_pb2.Timestamp]:
    if value is None:
        return None
    if isinstance(value, str):
        value = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"published_at {value!r} has no time zone: say which (e.g. UTC)")
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(value.astimezone(_dt.timezone.utc))
    return ts


def _rfc3339(ts: timestamp_pb2.Timestamp) -> Optional[str]:
    if not ts.seconds and not ts.nanos:
        return None
    return ts.ToDatetime(tzinfo=_dt.timezone.utc).isoformat().replace("+00:00", "Z")


def to_document(doc: dict) -> pb.Document:
    """A dict with `chaff label`'s input keys as a Document message."""
    bodies = [k for k in ("text", "paragraphs", "html") if doc.get(k) is not None]
    if len(bodies) != 1:
        raise ValueError(f"document {doc.get('id')!r}: give exactly one of text, paragraphs or html (got {bodies})")
    msg = pb.Document(id=str(doc.get("id", "")), source=doc.get("source") or "", url=doc.get("url") or "",
                      markup=doc.get("markup") or "")
    ts = _timestamp(doc.get("published_at"))
    if ts is not None:
        msg.published_at.CopyFrom(ts)
    if bodies[0] == "text":
        msg.text = doc["text"]
    elif bodies[0] == "paragraphs":
        msg.paragraphs.items.extend(doc["paragraphs"])
    else:
        msg.html = doc["html"]
    return msg


def _occurrence(o: pb.Occurrence) -> dict:
    return {"id": o.document_id, "source": o.source, "url": o.url, "published_at": _rfc3339(o.published_at)}


def to_dict(labels: pb.DocumentLabels, text: Optional[str] = None) -> dict:
    """DocumentLabels as `chaff label`'s output dict; each segment gets its
    `text` when the document text is known (html input, or `text` given)."""
    text = labels.text or text
    raw = text.encode() if text is not None else None
    segments = []
    for s in labels.segments:
        seg = {
            "start": s.start, "end": s.end, "index": s.index, "label": _LABELS.get(s.label, "unspecified"),
            "confidence": s.confidence, "cluster": s.cluster, "match": _MATCHES.get(s.match, "unspecified"),
            "distance": s.distance, "cluster_documents": s.cluster_documents, "cluster_sources": s.cluster_sources,
            "source_documents": s.source_documents, "other_sources": s.other_sources,
            "first_seen": _occurrence(s.first_seen) if s.HasField("first_seen") else None,
            "comment": s.comment,
        }
        if raw is not None:
            seg["text"] = raw[s.start:s.end].decode()
        segments.append(seg)
    out = {"id": labels.id, "source": labels.source, "url": labels.url,
           "published_at": _rfc3339(labels.published_at), "replaced": labels.replaced, "segments": segments,
           "summary": {"segments": labels.summary.segments, "bytes": labels.summary.bytes,
                       "editorial_share": labels.summary.editorial_share,
                       "boilerplate_share": labels.summary.boilerplate_share,
                       "syndicated_share": labels.summary.syndicated_share}}
    if labels.text:
        out["text"] = labels.text
    return out


def _sent_text(doc: dict) -> Optional[str]:
    if doc.get("text") is not None:
        return doc["text"]
    if doc.get("paragraphs") is not None:
        return "\n\n".join(doc["paragraphs"])
    return None


class Client:
    """One channel to a chaff server; thread-safe, as gRPC channels are.

    `timeout` (seconds) is every call's deadline; `compression` is e.g.
    grpc.Compression.Gzip; `max_message_bytes` raises gRPC's 4 MiB default
    for receiving (the server's own limit is its --max-message-bytes).
    """

    def __init__(self, target: str = "127.0.0.1:50051", *, timeout: Optional[float] = 30.0,
                 compression: Optional[grpc.Compression] = None, max_message_bytes: int = 64 << 20,
                 credentials: Optional[grpc.ChannelCredentials] = None):
        self._channel = _open(grpc, target, compression, max_message_bytes, credentials)
        self._stub = pb_grpc.ChaffStub(self._channel)
        self.timeout = timeout

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _call(self, method, request, document_id=None):
        try:
            return method(request, timeout=self.timeout)
        except grpc.RpcError as e:
            raise ChaffError(e.code(), e.details() or "", document_id) from None

    def analyze(self, document: dict, *, dry_run: bool = False) -> dict:
        """Labels one document; it joins the index unless `dry_run`."""
        mode = pb.MODE_DRY_RUN if dry_run else pb.MODE_INGEST
        resp = self._call(self._stub.Analyze, pb.AnalyzeRequest(document=to_document(document), mode=mode),
                          document.get("id"))
        return to_dict(resp.labels, _sent_text(document))

    def analyze_stream(self, documents: Iterable[dict], *, batch_size: int = 64, in_flight: int = 4,
                       dry_run: bool = False) -> Iterator[Union[dict, ChaffError]]:
        """Streams documents in batches over one AnalyzeStream call and yields
        one result per document, in input order: its labels, or the
        ChaffError that refused it. At most `in_flight` batches are
        unanswered at a time, so a large input is never buffered whole. A
        failed call (the server gone, a deadline) raises ChaffError."""
        mode = pb.MODE_DRY_RUN if dry_run else pb.MODE_INGEST
        window = threading.BoundedSemaphore(max(1, in_flight))
        sent: "queue.Queue[list]" = queue.Queue()
        error: list = []

        def requests():
            try:
                for batch in _chunks(documents, batch_size):
                    msgs = [to_document(d) for d in batch]
                    window.acquire()
                    sent.put(batch)
                    yield pb.AnalyzeStreamRequest(documents=msgs, mode=mode)
            except Exception as e:  # a bad document dict: end the stream, raise it to the caller
                error.append(e)

        try:
            # No deadline for the stream as a whole: a firehose runs for as long as it has input.
            for resp in self._stub.AnalyzeStream(requests()):
                batch = sent.get()
                window.release()
                yield from _results(batch, resp)
        except grpc.RpcError as e:
            raise ChaffError(e.code(), e.details() or "") from None
        if error:
            raise error[0]

    def get_document(self, document_id: str) -> dict:
        """A stored document, labelled against the index as it is now."""
        resp = self._call(self._stub.GetDocument, pb.GetDocumentRequest(id=document_id, include_text=True),
                          document_id)
        return to_dict(resp.labels, resp.text or None)

    def delete_document(self, document_id: str) -> int:
        """Removes a document (takedown); returns how many segments it had."""
        return self._call(self._stub.DeleteDocument, pb.DeleteDocumentRequest(id=document_id), document_id).segments

    def clusters(self, *, source: str = "", label: Optional[str] = None, min_documents: int = 0,
                 page_size: int = 50) -> Iterator[dict]:
        """Clusters, largest first, every page followed."""
        token = ""
        while True:
            resp = self._call(self._stub.ListClusters,
                              _clusters_request(source, label, min_documents, page_size, token))
            yield from map(_cluster, resp.clusters)
            token = resp.next_page_token
            if not token:
                return

    def stats(self) -> dict:
        return _stats(self._call(self._stub.Stats, pb.StatsRequest()))


def _chunks(documents: Iterable[dict], size: int) -> Iterator[list]:
    """Batches of at most `size` (at least 1) documents, in order."""
    it = iter(documents)
    while batch := list(itertools.islice(it, max(1, size))):
        yield batch


def _open(channels: Any, target: str, compression: Optional[grpc.Compression], max_message_bytes: int,
          credentials: Optional[grpc.ChannelCredentials]):
    """A channel from `grpc` or `grpc.aio` (they take the same arguments)."""
    target = target.removeprefix("http://")
    options = [("grpc.max_receive_message_length", max_message_bytes),
               ("grpc.max_send_message_length", max_message_bytes)]
    if credentials:
        return channels.secure_channel(target, credentials, options, compression)
    return channels.insecure_channel(target, options, compression)


def _results(batch: list, resp: pb.AnalyzeStreamResponse) -> list:
    """A stream response's results, paired with the batch's document dicts."""
    return [to_dict(r.labels, _sent_text(d)) if r.HasField("labels")
            else ChaffError(_status(r.error.code), r.error.message, r.id)
            for d, r in zip(batch, resp.results)]


def _clusters_request(source: str, label: Optional[str], min_documents: int, page_size: int,
                      token: str) -> pb.ListClustersRequest:
    return pb.ListClustersRequest(source=source, label=_LABEL_VALUES[label] if label else pb.LABEL_UNSPECIFIED,
                                  min_documents=min_documents, page_size=page_size, page_token=token)


def _cluster(c: pb.Cluster) -> dict:
    return {"id": c.id, "representative": c.representative, "documents": c.documents, "sources": c.sources,
            "label": _LABELS.get(c.label, "unspecified"), "per_source": {p.source: p.documents for p in c.per_source},
            "first_seen": _occurrence(c.first_seen) if c.HasField("first_seen") else None}


def _stats(resp: pb.StatsResponse) -> dict:
    """Every field, zeros included; `memory` as a dict of its own."""
    def plain(message) -> dict:
        return {f.name: (plain(getattr(message, f.name)) if f.message_type is not None else getattr(message, f.name))
                for f in message.DESCRIPTOR.fields}
    return plain(resp)


def _status(code: int) -> grpc.StatusCode:
    """The grpc.StatusCode of a google.rpc.Code number."""
    return next((c for c in grpc.StatusCode if c.value[0] == code), grpc.StatusCode.UNKNOWN)
