"""S3 access: results JSON/text, recording metadata (HEAD), ranged reads, presigned GETs, profiles."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from call_analytics.adapters.aws_errors import error_code, translate

NOT_FOUND_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


class ObjectMissing(LookupError):
    """The S3 object does not exist."""


class ResultsStore:
    def __init__(self, client: Any):
        self.client = client

    def put_json(self, bucket: str, key: str, value: Any) -> str:
        body = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
        return self.put_bytes(bucket, key, body, content_type="application/json")

    def put_text(self, bucket: str, key: str, text: str, *, content_type: str = "text/plain; charset=utf-8") -> str:
        return self.put_bytes(bucket, key, text.encode(), content_type=content_type)

    def put_bytes(self, bucket: str, key: str, body: bytes, *, content_type: str) -> str:
        try:
            self.client.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, f"S3 put s3://{bucket}/{key}") from None
        return f"s3://{bucket}/{key}"

    def get_bytes(self, bucket: str, key: str, *, version_id: str | None = None) -> bytes:
        kwargs = {"Bucket": bucket, "Key": key, **({"VersionId": version_id} if version_id else {})}
        try:
            return self.client.get_object(**kwargs)["Body"].read()
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND_CODES:
                raise ObjectMissing(f"s3://{bucket}/{key} does not exist") from None
            raise translate(exc, f"S3 get s3://{bucket}/{key}") from None
        except BotoCoreError as exc:
            raise translate(exc, f"S3 get s3://{bucket}/{key}") from None

    def get_json(self, bucket: str, key: str) -> Any:
        return json.loads(self.get_bytes(bucket, key))

    def get_text(self, bucket: str, key: str) -> str:
        return self.get_bytes(bucket, key).decode("utf-8")

    def get_range(self, bucket: str, key: str, length: int, *, version_id: str | None = None) -> bytes:
        """The first `length` bytes (a ranged GET: cheap even for a 2 GB recording)."""
        kwargs = {"Bucket": bucket, "Key": key, "Range": f"bytes=0-{max(0, length - 1)}"}
        if version_id:
            kwargs["VersionId"] = version_id
        try:
            return self.client.get_object(**kwargs)["Body"].read()
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND_CODES:
                raise ObjectMissing(f"s3://{bucket}/{key} does not exist") from None
            if error_code(exc) == "InvalidRange":  # empty object
                return b""
            raise translate(exc, f"S3 ranged get s3://{bucket}/{key}") from None

    def open_stream(self, bucket: str, key: str, *, version_id: str | None = None):
        """A streaming body (not read into memory) for uploads."""
        kwargs = {"Bucket": bucket, "Key": key, **({"VersionId": version_id} if version_id else {})}
        try:
            return self.client.get_object(**kwargs)["Body"]
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, f"S3 get s3://{bucket}/{key}") from None

    def head(self, bucket: str, key: str, *, version_id: str | None = None) -> dict[str, Any]:
        """size, etag, version_id, content_type and user metadata (x-amz-meta-*, lower-cased keys)."""
        kwargs = {"Bucket": bucket, "Key": key, **({"VersionId": version_id} if version_id else {})}
        try:
            response = self.client.head_object(**kwargs)
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND_CODES:
                raise ObjectMissing(f"s3://{bucket}/{key} does not exist") from None
            raise translate(exc, f"S3 head s3://{bucket}/{key}") from None
        except BotoCoreError as exc:
            raise translate(exc, f"S3 head s3://{bucket}/{key}") from None
        return {
            "size": response.get("ContentLength"),
            "etag": (response.get("ETag") or "").strip('"') or None,
            "version_id": response.get("VersionId") if response.get("VersionId") not in (None, "null") else None,
            "content_type": response.get("ContentType"),
            "metadata": {k.lower(): v for k, v in (response.get("Metadata") or {}).items()},
        }

    def presign_get(self, bucket: str, key: str, *, expires_in: int, version_id: str | None = None) -> str:
        params = {"Bucket": bucket, "Key": key, **({"VersionId": version_id} if version_id else {})}
        return self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in)
