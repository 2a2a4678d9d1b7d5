"""The NewWorkItemVersionComplete event: its payload (keys case-folded) and its registration."""

from django.core.validators import RegexValidator
from rest_framework import serializers

from webhooks.payloads import EnvelopeSerializer
from webhooks.registry import EventType, event_type_register

# Advance ids are GUIDs. They become parts of storage keys and API URLs, so nothing else passes.
advance_id_validator = RegexValidator(r"^[A-Za-z0-9_-]{1,100}$", "Must be an Advance id (letters, digits, '-', '_').")


def AdvanceIdField(**kwargs) -> serializers.CharField:
    return serializers.CharField(max_length=100, validators=[advance_id_validator], **kwargs)


class CreatedBySerializer(serializers.Serializer):
    id = serializers.CharField(max_length=100, required=False, allow_blank=True)
    loginname = serializers.CharField(max_length=300, required=False, allow_blank=True)
    accounttype = serializers.CharField(max_length=100, required=False, allow_blank=True)


class DocumentSerializer(serializers.Serializer):
    id = AdvanceIdField()
    name = serializers.CharField(max_length=300, required=False, allow_blank=True)
    url = serializers.URLField(max_length=2000, required=False, allow_blank=True)


class VersionDataSerializer(serializers.Serializer):
    workitemid = AdvanceIdField()
    workitemversionid = AdvanceIdField()
    workitemname = serializers.CharField(max_length=300, required=False, allow_blank=True)
    documents = DocumentSerializer(many=True, required=False, max_length=500)


class NewWorkItemVersionCompleteSerializer(EnvelopeSerializer):
    createddate = serializers.DateTimeField(required=False, allow_null=True)
    createdby = CreatedBySerializer(required=False, allow_null=True)
    data = VersionDataSerializer()


def register() -> None:
    from .services import event_documents_record

    event_type_register(
        EventType(
            name="NewWorkItemVersionComplete",
            serializer_class=NewWorkItemVersionCompleteSerializer,
            process=event_documents_record,
        )
    )
