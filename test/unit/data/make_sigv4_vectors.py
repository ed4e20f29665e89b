#!/usr/bin/python3
# Writes sigv4_botocore.json next to this script: S3 requests signed by botocore's own S3SigV4Auth at a
# frozen clock, so test_storage_s3_sigv4.cpp can check that our signer produces the same Authorization.
# Run with the distribution's python (apt-get install python3-botocore): /usr/bin/python3 make_sigv4_vectors.py
import base64
import calendar
import datetime
import hashlib
import json
import os
import re
import sys
import types

import botocore
import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.utils import percent_encode, percent_encode_sequence

k_access_key = "AKIAWALVAULTEXAMPLE"
k_secret_key = "wV4/test+Secret/KEY+0123456789abcdefGHIJ"
k_session_token = (
    "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQDwalvault+test/session=token"
)
k_path_style = "http://127.0.0.1:9000"  # MinIO-style endpoint, bucket in the path
k_virtual_host = "https://walbucket.s3.eu-central-1.amazonaws.com"  # bucket in the host name

k_leap_day = datetime.datetime(2024, 2, 29, 23, 59, 59)
k_after_2038 = datetime.datetime(2038, 1, 19, 3, 14, 8)


def freeze_clock(when):
    """botocore.auth reads datetime.datetime.utcnow() inside add_auth; give it a clock that stands still."""

    class FrozenDatetime(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return cls(*when.timetuple()[:6])

        @classmethod
        def now(cls, tz=None):
            return cls.utcnow().replace(tzinfo=datetime.timezone.utc).astimezone(tz) if tz else cls.utcnow()

    botocore.auth.datetime = types.SimpleNamespace(datetime=FrozenDatetime, timezone=datetime.timezone)


class RecordingS3SigV4Auth(botocore.auth.S3SigV4Auth):
    """botocore's S3 signer unchanged, except that it remembers the canonical request and string to sign."""

    def string_to_sign(self, request, canonical_request):
        self.canonical_request_text = canonical_request
        self.string_to_sign_text = super().string_to_sign(request, canonical_request)
        return self.string_to_sign_text


def vector(name, *, method, endpoint, path, query=(), headers=(), body=b"", region="us-east-1",
           when=k_leap_day, token="", unsigned_payload=False):
    """Signs one request with botocore and returns our signer's inputs next to botocore's outputs.

    path and query are raw (unencoded); the URL is built the way botocore's REST serializer builds it
    (greedy key label quoted with safe='/~', query with percent_encode_sequence)."""
    url = endpoint + percent_encode(path, safe="/~")
    if query:
        url += "?" + percent_encode_sequence(list(query))
    request = AWSRequest(method=method, url=url, data=body)
    for header_name, header_value in headers:
        request.headers[header_name] = header_value  # HTTPHeaders appends: a repeated name stays repeated
    if unsigned_payload:
        request.context["client_config"] = types.SimpleNamespace(s3={"payload_signing_enabled": False})

    freeze_clock(when)
    signer = RecordingS3SigV4Auth(Credentials(k_access_key, k_secret_key, token or None), "s3", region)
    signer.add_auth(request)

    payload_sha256 = "UNSIGNED-PAYLOAD" if unsigned_payload else hashlib.sha256(body).hexdigest()
    if request.headers["X-Amz-Content-SHA256"] != payload_sha256:
        sys.exit(f"{name}: botocore hashed the payload as {request.headers['X-Amz-Content-SHA256']}")
    host = url.split("://", 1)[1].split("/", 1)[0]
    return {
        "name": name,
        "input": {
            "method": method,
            "host": host,
            "path": path,
            "query": [list(pair) for pair in query],
            "headers": [list(pair) for pair in headers],
            "payload_sha256": payload_sha256,
            "region": region,
            "service": "s3",
            "unix_time": calendar.timegm(when.timetuple()),
            "access_key_id": k_access_key,
            "secret_access_key": k_secret_key,
            "session_token": token,
        },
        "botocore": {
            "url": url,
            "amz_date": request.headers["X-Amz-Date"],
            "canonical_request": signer.canonical_request_text,
            "string_to_sign": signer.string_to_sign_text,
            "authorization": request.headers["Authorization"],
            "headers": [[k, v] for k, v in request.headers.items()],
        },
    }


def main():
    put_body = b"walvault segment 000000010000000000000001\n" * 64
    delete_body = (
        b'<?xml version="1.0" encoding="UTF-8"?><Delete><Quiet>true</Quiet>'
        b"<Object><Key>wal/000000010000000000000001.zst</Key></Object>"
        b"<Object><Key>wal/000000010000000000000002.zst</Key></Object></Delete>"
    )
    vectors = [
        vector("list_objects_v2_query_needing_encoding", method="GET", endpoint=k_path_style, path="/walbucket",
               query=[("list-type", "2"),
                      ("prefix", "pg data/wal=1+2/caf\u00e9 "),
                      ("delimiter", "/"),
                      ("continuation-token", "1/AbC+dEf=="),
                      ("max-keys", "1000"),
                      ("encoding-type", "url")]),
        vector("query_order_follows_encoded_keys", method="GET", endpoint=k_path_style, path="/walbucket",
               query=[("x.y", "1"), ("x/y", "2"), ("z", "b"), ("z", "a"), ("Z", ""), ("\u00e9", "3"),
                      ("y", "~!*'()")]),
        vector("object_key_with_spaces_and_unicode", method="GET", endpoint=k_virtual_host,
               region="eu-central-1",
               path="/pg data/wal/0000000100000000000000A1 caf\u00e9 \u65e5\u672c $+=,;:@&!*'()%~.zst"),
        vector("key_with_double_slash_and_dot_segments", method="HEAD", endpoint=k_path_style,
               path="/walbucket/a//b/./c/../d/"),
        vector("session_token", method="HEAD", endpoint=k_virtual_host, region="eu-central-1",
               path="/wal/000000010000000000000003.zst", token=k_session_token),
        vector("ranged_get", method="GET", endpoint=k_path_style,
               path="/walbucket/wal/000000010000000000000004.zst",
               headers=[("Range", "bytes=16777216-33554431")]),
        vector("put_with_payload_hash_and_content_md5", method="PUT", endpoint=k_path_style,
               path="/walbucket/wal/000000010000000000000005.zst",
               headers=[("Content-MD5", base64.b64encode(hashlib.md5(put_body).digest()).decode()),
                        ("Content-Type", "application/octet-stream"),
                        ("X-Amz-Meta-Walvault-Checksum", "  sha256:ab   cd \t ef  "),
                        ("x-amz-storage-class", "STANDARD_IA")],
               body=put_body),
        vector("multi_object_delete_empty_query_value", method="POST", endpoint=k_path_style,
               path="/walbucket", query=[("delete", "")],
               headers=[("Content-MD5", base64.b64encode(hashlib.md5(delete_body).digest()).decode()),
                        ("Content-Type", "application/xml")],
               body=delete_body),
        vector("delete_object_version", method="DELETE", endpoint=k_virtual_host, region="eu-central-1",
               path="/wal/000000010000000000000006.zst", query=[("versionId", "3/L4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY")],
               token=k_session_token),
        vector("repeated_header_and_unsigned_payload", method="PUT", endpoint=k_virtual_host,
               region="eu-central-1", path="/wal/000000010000000000000007.zst",
               headers=[("X-Amz-Meta-Tag", "first"), ("x-amz-meta-tag", " second "),
                        ("If-None-Match", "*")],
               body=b"payload not hashed", unsigned_payload=True, when=k_after_2038),
        vector("initiate_multipart_upload", method="POST", endpoint=k_path_style,
               path="/walbucket/base/20240229T235959F/pg_data.tar.zst", query=[("uploads", "")],
               when=k_after_2038),
    ]
    document = {
        "comment": "written by make_sigv4_vectors.py; do not edit by hand",
        "generator": f"botocore {botocore.__version__} S3SigV4Auth",
        "vectors": vectors,
    }
    out_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sigv4_botocore.json")
    text = json.dumps(document, indent=2, ensure_ascii=False)
    # A [name, value] pair on one line keeps the file readable.
    text = re.sub(r'\[\n\s+("(?:[^"\\]|\\.)*"),\n\s+("(?:[^"\\]|\\.)*")\n\s+\]', r"[\1, \2]", text)
    with open(out_path, "w", encoding="utf-8") as out:
        out.write(text + "\n")
    print(f"wrote {len(vectors)} vectors to {out_path}")


if __name__ == "__main__":
    main()
