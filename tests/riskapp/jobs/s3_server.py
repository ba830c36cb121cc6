"""A real S3 API server for tests: moto's server mode on a free port, in a process of its own."""

import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import pytest

from tests.processes import free_port, wait_for

ACCESS_KEY = "riskapp-test"
SECRET_KEY = "riskapp-test-secret"  # noqa: S105 - moto accepts any credentials


class S3Server:
    def __init__(self, log_path: Path):
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log = log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.client = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1",
        )
        wait_for(self.client.list_buckets, 60, "the S3 server to answer", ignoring=(Exception,))

    def new_bucket(self) -> str:
        name = f"riskapp-{uuid.uuid4().hex[:12]}"
        self.client.create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str) -> list[str]:
        listing = self.client.list_objects_v2(Bucket=bucket)
        return sorted(item["Key"] for item in listing.get("Contents", []))

    def storage_env(self, bucket: str) -> dict[str, str]:
        """The environment that points riskapp at `bucket` (RISKAPP_STORAGE=s3)."""
        return {
            "RISKAPP_STORAGE": "s3",
            "RISKAPP_S3_BUCKET": bucket,
            "AWS_S3_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_S3_REGION_NAME": "us-east-1",
        }

    def storage_options(self, bucket: str) -> dict:
        return {
            "bucket_name": bucket,
            "endpoint_url": self.endpoint,
            "access_key": ACCESS_KEY,
            "secret_key": SECRET_KEY,
            "region_name": "us-east-1",
            "default_acl": None,
            "file_overwrite": False,
        }

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory):
    server = S3Server(tmp_path_factory.mktemp("s3") / "moto.log")
    yield server
    server.stop()
