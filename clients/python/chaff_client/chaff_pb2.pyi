import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Mode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODE_UNSPECIFIED: _ClassVar[Mode]
    MODE_INGEST: _ClassVar[Mode]
    MODE_DRY_RUN: _ClassVar[Mode]

class Label(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LABEL_UNSPECIFIED: _ClassVar[Label]
    LABEL_EDITORIAL: _ClassVar[Label]
    LABEL_BOILERPLATE: _ClassVar[Label]
    LABEL_SYNDICATED: _ClassVar[Label]

class MatchKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MATCH_KIND_UNSPECIFIED: _ClassVar[MatchKind]
    MATCH_KIND_NONE: _ClassVar[MatchKind]
    MATCH_KIND_EXACT: _ClassVar[MatchKind]
    MATCH_KIND_NEAR: _ClassVar[MatchKind]
MODE_UNSPECIFIED: Mode
MODE_INGEST: Mode
MODE_DRY_RUN: Mode
LABEL_UNSPECIFIED: Label
LABEL_EDITORIAL: Label
LABEL_BOILERPLATE: Label
LABEL_SYNDICATED: Label
MATCH_KIND_UNSPECIFIED: MatchKind
MATCH_KIND_NONE: MatchKind
MATCH_KIND_EXACT: MatchKind
MATCH_KIND_NEAR: MatchKind

class Document(_message.Message):
    __slots__ = ("id", "source", "url", "published_at", "text", "paragraphs", "html", "markup")
    ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_AT_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    PARAGRAPHS_FIELD_NUMBER: _ClassVar[int]
    HTML_FIELD_NUMBER: _ClassVar[int]
    MARKUP_FIELD_NUMBER: _ClassVar[int]
    id: str
    source: str
    url: str
    published_at: _timestamp_pb2.Timestamp
    text: str
    paragraphs: Paragraphs
    html: str
    markup: str
    def __init__(self, id: _Optional[str] = ..., source: _Optional[str] = ..., url: _Optional[str] = ..., published_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., text: _Optional[str] = ..., paragraphs: _Optional[_Union[Paragraphs, _Mapping]] = ..., html: _Optional[str] = ..., markup: _Optional[str] = ...) -> None: ...

class Paragraphs(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, items: _Optional[_Iterable[str]] = ...) -> None: ...

class Occurrence(_message.Message):
    __slots__ = ("document_id", "source", "url", "published_at")
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_AT_FIELD_NUMBER: _ClassVar[int]
    document_id: str
    source: str
    url: str
    published_at: _timestamp_pb2.Timestamp
    def __init__(self, document_id: _Optional[str] = ..., source: _Optional[str] = ..., url: _Optional[str] = ..., published_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Segment(_message.Message):
    __slots__ = ("start", "end", "index", "label", "confidence", "cluster", "match", "distance", "cluster_documents", "cluster_sources", "source_documents", "first_seen", "other_sources", "comment")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    MATCH_FIELD_NUMBER: _ClassVar[int]
    DISTANCE_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_SOURCES_FIELD_NUMBER: _ClassVar[int]
    SOURCE_DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEEN_FIELD_NUMBER: _ClassVar[int]
    OTHER_SOURCES_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    start: int
    end: int
    index: int
    label: Label
    confidence: float
    cluster: int
    match: MatchKind
    distance: int
    cluster_documents: int
    cluster_sources: int
    source_documents: int
    first_seen: Occurrence
    other_sources: int
    comment: bool
    def __init__(self, start: _Optional[int] = ..., end: _Optional[int] = ..., index: _Optional[int] = ..., label: _Optional[_Union[Label, str]] = ..., confidence: _Optional[float] = ..., cluster: _Optional[int] = ..., match: _Optional[_Union[MatchKind, str]] = ..., distance: _Optional[int] = ..., cluster_documents: _Optional[int] = ..., cluster_sources: _Optional[int] = ..., source_documents: _Optional[int] = ..., first_seen: _Optional[_Union[Occurrence, _Mapping]] = ..., other_sources: _Optional[int] = ..., comment: _Optional[bool] = ...) -> None: ...

class Summary(_message.Message):
    __slots__ = ("segments", "bytes", "editorial_share", "boilerplate_share", "syndicated_share", "main_origin", "main_origin_share")
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    EDITORIAL_SHARE_FIELD_NUMBER: _ClassVar[int]
    BOILERPLATE_SHARE_FIELD_NUMBER: _ClassVar[int]
    SYNDICATED_SHARE_FIELD_NUMBER: _ClassVar[int]
    MAIN_ORIGIN_FIELD_NUMBER: _ClassVar[int]
    MAIN_ORIGIN_SHARE_FIELD_NUMBER: _ClassVar[int]
    segments: int
    bytes: int
    editorial_share: float
    boilerplate_share: float
    syndicated_share: float
    main_origin: Occurrence
    main_origin_share: float
    def __init__(self, segments: _Optional[int] = ..., bytes: _Optional[int] = ..., editorial_share: _Optional[float] = ..., boilerplate_share: _Optional[float] = ..., syndicated_share: _Optional[float] = ..., main_origin: _Optional[_Union[Occurrence, _Mapping]] = ..., main_origin_share: _Optional[float] = ...) -> None: ...

class DocumentLabels(_message.Message):
    __slots__ = ("id", "source", "url", "published_at", "segments", "summary", "replaced", "text")
    ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_AT_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    REPLACED_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    id: str
    source: str
    url: str
    published_at: _timestamp_pb2.Timestamp
    segments: _containers.RepeatedCompositeFieldContainer[Segment]
    summary: Summary
    replaced: bool
    text: str
    def __init__(self, id: _Optional[str] = ..., source: _Optional[str] = ..., url: _Optional[str] = ..., published_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., segments: _Optional[_Iterable[_Union[Segment, _Mapping]]] = ..., summary: _Optional[_Union[Summary, _Mapping]] = ..., replaced: _Optional[bool] = ..., text: _Optional[str] = ...) -> None: ...

class AnalyzeRequest(_message.Message):
    __slots__ = ("document", "mode")
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    document: Document
    mode: Mode
    def __init__(self, document: _Optional[_Union[Document, _Mapping]] = ..., mode: _Optional[_Union[Mode, str]] = ...) -> None: ...

class AnalyzeResponse(_message.Message):
    __slots__ = ("labels",)
    LABELS_FIELD_NUMBER: _ClassVar[int]
    labels: DocumentLabels
    def __init__(self, labels: _Optional[_Union[DocumentLabels, _Mapping]] = ...) -> None: ...

class AnalyzeStreamRequest(_message.Message):
    __slots__ = ("documents", "mode")
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    documents: _containers.RepeatedCompositeFieldContainer[Document]
    mode: Mode
    def __init__(self, documents: _Optional[_Iterable[_Union[Document, _Mapping]]] = ..., mode: _Optional[_Union[Mode, str]] = ...) -> None: ...

class DocumentError(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class DocumentResult(_message.Message):
    __slots__ = ("id", "labels", "error")
    ID_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    id: str
    labels: DocumentLabels
    error: DocumentError
    def __init__(self, id: _Optional[str] = ..., labels: _Optional[_Union[DocumentLabels, _Mapping]] = ..., error: _Optional[_Union[DocumentError, _Mapping]] = ...) -> None: ...

class AnalyzeStreamResponse(_message.Message):
    __slots__ = ("batch", "results")
    BATCH_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    batch: int
    results: _containers.RepeatedCompositeFieldContainer[DocumentResult]
    def __init__(self, batch: _Optional[int] = ..., results: _Optional[_Iterable[_Union[DocumentResult, _Mapping]]] = ...) -> None: ...

class GetDocumentRequest(_message.Message):
    __slots__ = ("id", "include_text")
    ID_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_TEXT_FIELD_NUMBER: _ClassVar[int]
    id: str
    include_text: bool
    def __init__(self, id: _Optional[str] = ..., include_text: _Optional[bool] = ...) -> None: ...

class GetDocumentResponse(_message.Message):
    __slots__ = ("labels", "text")
    LABELS_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    labels: DocumentLabels
    text: str
    def __init__(self, labels: _Optional[_Union[DocumentLabels, _Mapping]] = ..., text: _Optional[str] = ...) -> None: ...

class DeleteDocumentRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class DeleteDocumentResponse(_message.Message):
    __slots__ = ("segments",)
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    segments: int
    def __init__(self, segments: _Optional[int] = ...) -> None: ...

class GetClusterRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: int
    def __init__(self, id: _Optional[int] = ...) -> None: ...

class SourceCount(_message.Message):
    __slots__ = ("source", "documents")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    source: str
    documents: int
    def __init__(self, source: _Optional[str] = ..., documents: _Optional[int] = ...) -> None: ...

class Cluster(_message.Message):
    __slots__ = ("id", "representative", "documents", "sources", "per_source", "first_seen", "label")
    ID_FIELD_NUMBER: _ClassVar[int]
    REPRESENTATIVE_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    PER_SOURCE_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEEN_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    id: int
    representative: str
    documents: int
    sources: int
    per_source: _containers.RepeatedCompositeFieldContainer[SourceCount]
    first_seen: Occurrence
    label: Label
    def __init__(self, id: _Optional[int] = ..., representative: _Optional[str] = ..., documents: _Optional[int] = ..., sources: _Optional[int] = ..., per_source: _Optional[_Iterable[_Union[SourceCount, _Mapping]]] = ..., first_seen: _Optional[_Union[Occurrence, _Mapping]] = ..., label: _Optional[_Union[Label, str]] = ...) -> None: ...

class ListClustersRequest(_message.Message):
    __slots__ = ("source", "label", "min_documents", "page_size", "page_token")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    MIN_DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    source: str
    label: Label
    min_documents: int
    page_size: int
    page_token: str
    def __init__(self, source: _Optional[str] = ..., label: _Optional[_Union[Label, str]] = ..., min_documents: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListClustersResponse(_message.Message):
    __slots__ = ("clusters", "next_page_token")
    CLUSTERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    clusters: _containers.RepeatedCompositeFieldContainer[Cluster]
    next_page_token: str
    def __init__(self, clusters: _Optional[_Iterable[_Union[Cluster, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class StatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StatsResponse(_message.Message):
    __slots__ = ("documents", "segments", "clusters", "sources", "boilerplate_clusters", "indexed_fingerprints", "resident_bytes", "durable", "restored_from", "restore_ms", "restore_replayed", "store_repaired", "memory")
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    CLUSTERS_FIELD_NUMBER: _ClassVar[int]
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    BOILERPLATE_CLUSTERS_FIELD_NUMBER: _ClassVar[int]
    INDEXED_FINGERPRINTS_FIELD_NUMBER: _ClassVar[int]
    RESIDENT_BYTES_FIELD_NUMBER: _ClassVar[int]
    DURABLE_FIELD_NUMBER: _ClassVar[int]
    RESTORED_FROM_FIELD_NUMBER: _ClassVar[int]
    RESTORE_MS_FIELD_NUMBER: _ClassVar[int]
    RESTORE_REPLAYED_FIELD_NUMBER: _ClassVar[int]
    STORE_REPAIRED_FIELD_NUMBER: _ClassVar[int]
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    documents: int
    segments: int
    clusters: int
    sources: int
    boilerplate_clusters: int
    indexed_fingerprints: int
    resident_bytes: int
    durable: bool
    restored_from: str
    restore_ms: int
    restore_replayed: int
    store_repaired: bool
    memory: MemoryUse
    def __init__(self, documents: _Optional[int] = ..., segments: _Optional[int] = ..., clusters: _Optional[int] = ..., sources: _Optional[int] = ..., boilerplate_clusters: _Optional[int] = ..., indexed_fingerprints: _Optional[int] = ..., resident_bytes: _Optional[int] = ..., durable: _Optional[bool] = ..., restored_from: _Optional[str] = ..., restore_ms: _Optional[int] = ..., restore_replayed: _Optional[int] = ..., store_repaired: _Optional[bool] = ..., memory: _Optional[_Union[MemoryUse, _Mapping]] = ...) -> None: ...

class MemoryUse(_message.Message):
    __slots__ = ("index", "documents", "document_ids", "clusters", "patterns", "sources")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    CLUSTERS_FIELD_NUMBER: _ClassVar[int]
    PATTERNS_FIELD_NUMBER: _ClassVar[int]
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    index: int
    documents: int
    document_ids: int
    clusters: int
    patterns: int
    sources: int
    def __init__(self, index: _Optional[int] = ..., documents: _Optional[int] = ..., document_ids: _Optional[int] = ..., clusters: _Optional[int] = ..., patterns: _Optional[int] = ..., sources: _Optional[int] = ...) -> None: ...
