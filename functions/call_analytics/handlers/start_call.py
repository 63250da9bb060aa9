"""S3 ObjectCreated (async) -> start_call for each record."""

from __future__ import annotations

from aws_lambda_powertools.utilities.data_classes import S3Event

from call_analytics import wiring
from call_analytics.logic.start_call import StartCallDeps, start_calls
from call_analytics.models import dump
from call_analytics.observability import logger, metrics, tracer
from call_analytics.recordings import UploadedObject, decode_key
from call_analytics.settings import StartCallSettings, load_settings


def uploaded_objects(event: S3Event) -> list[UploadedObject]:
    objects = []
    for record in event.records:
        obj = record.s3.get_object
        objects.append(UploadedObject(
            bucket=record.s3.bucket.name,
            key=decode_key(obj.key),
            version_id=obj.version_id,
            etag=obj.etag or None,
            size=int(obj["size"]) if obj.get("size") is not None else None,
            event_name=record.event_name,
        ))
    return objects


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict, context) -> dict:
    settings = load_settings(StartCallSettings)
    store = wiring.results_store()
    deps = StartCallDeps(
        settings=settings,
        store=store,
        calls=wiring.calls_table(settings.CALLS_TABLE),
        workflow=wiring.workflow(settings.STATE_MACHINE_ARN),
        notifier=wiring.notifier(settings.RESULTS_TOPIC_ARN),
        profiles=wiring.profile_loader(settings.RECORDINGS_BUCKET, settings.PROFILES_PREFIX),
        idempotency_store=wiring.idempotency_store(settings.IDEMPOTENCY_TABLE),
        lambda_context=context,
    )
    results = start_calls(uploaded_objects(S3Event(event)), deps)
    return {"results": [dump(r) for r in results]}
