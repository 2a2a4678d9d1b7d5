"""The NewWorkItemVersionComplete event: its payload (keys case-folded) and its registration."""

from django.core.validators import RegexValidator
from rest_framework import serializers

from webhooks.payloads import EnvelopeSerializer
from webhooks.registry import EventType, event_type_register

# Advance ids are GUIDs. They become parts of storage keys, API URLs and log lines, so nothing else
# passes: matched whole (\A...\Z; "$" would let a trailing line break through).
advance_id_validator = RegexValidator(r"\A[A-Za-z0-9_-]{1,100}\Z", "Must be an Advance id (letters, digits, '-', '_').")


def AdvanceIdField(**kwargs) -> serializers.CharField:
    # Not trimmed: an id with a line break around it is refused, not quietly made another id.
    return serializers.CharField(max_length=100, validators=[advance_id_validator], trim_whitespace=False, **kwargs)


class CreatedBySerializer(serializers.Serializer):
    id = serializers.CharField(max_length=100, required=False, allow_blank=True)
    loginname = serializers.CharField(max_length=300, required=False, allow_blank=True)
    accounttype = serializers.CharField(max_length=100, required=False, allow_blank=True)


class DocumentSerializer(serializers.Serializer):
    id = AdvanceIdField()
    name = serializers.CharField(max_length=300, required=False, allow_blank=True)
    # Any text: the URL is judged when the document is synced (documents.advance.urls.request_url), so
    # that an unsafe one fails its own document with the reason and the event's others are stored.
    url = serializers.CharField(max_length=2000, required=False, allow_blank=True, trim_whitespace=False)


class VersionDataSerializer(serializers.Serializer):
    workitemid = AdvanceIdField()
    workitemversionid = AdvanceIdField()
    workitemname = serializers.CharField(max_length=300, required=False, allow_blank=True)
    documents = DocumentSerializer(many=True, required=False, max_length=500)


class NewWorkItemVersionCompleteSerializer(EnvelopeSerializer):
    createddate = serializers.DateTimeField(required=False, allow_null=True)
    createdby = CreatedBySerializer(required=False, allow_null=True)
    data = VersionDataSerializer()


class PostProcessingDataSerializer(serializers.Serializer):
    workitemid = AdvanceIdField(required=False)
    workitemversionid = AdvanceIdField(required=False)
    workitemname = serializers.CharField(max_length=300, required=False, allow_blank=True)
    documents = DocumentSerializer(many=True, required=False, max_length=500)

    def validate(self, attrs: dict) -> dict:
        if attrs.get("documents") and not (attrs.get("workitemid") and attrs.get("workitemversionid")):
            raise serializers.ValidationError("Documents need the workItemId and workItemVersionId they belong to.")
        return attrs


class PostProcessingEventSerializer(EnvelopeSerializer):
    """An assembly completed. Its payload is not documented; documents in it are synced."""

    createddate = serializers.DateTimeField(required=False, allow_null=True)
    createdby = CreatedBySerializer(required=False, allow_null=True)
    data = PostProcessingDataSerializer(required=False)


def post_processing_record(*, delivery, payload: dict) -> None:
    """Sync the version's documents, then set its post-assembly processing status to Complete."""
    from .recording import version_documents_record

    data = payload.get("data") or {}
    if data.get("workitemid") and data.get("workitemversionid"):
        version_documents_record(source=delivery.source, delivery=delivery, payload=payload, post_processing=True)


def register() -> None:
    from .recording import event_documents_record

    event_type_register(
        EventType(
            name="NewWorkItemVersionComplete",
            serializer_class=NewWorkItemVersionCompleteSerializer,
            process=event_documents_record,
        )
    )
    event_type_register(
        EventType(
            name="PostProcessingEvent", serializer_class=PostProcessingEventSerializer, process=post_processing_record
        )
    )
