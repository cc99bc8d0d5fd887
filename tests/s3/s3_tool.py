"""The test's own look into the bucket (boto3, which moto brings): create it, list its keys,
read an object's first bytes. Usage: s3_tool.py ENDPOINT create-bucket|keys BUCKET
                                    s3_tool.py ENDPOINT head BUCKET KEY"""
import sys

import boto3
from botocore.config import Config

endpoint, command, bucket, *rest = sys.argv[1:]
s3 = boto3.client(
    "s3",
    endpoint_url=endpoint,
    aws_access_key_id="test-access-key",
    aws_secret_access_key="test-secret-key",
    region_name="us-east-1",
    config=Config(s3={"addressing_style": "path"}),
)
if command == "create-bucket":
    s3.create_bucket(Bucket=bucket)
elif command == "keys":
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            print(obj["Key"])
elif command == "head":
    body = s3.get_object(Bucket=bucket, Key=rest[0])["Body"].read(64)
    sys.stdout.buffer.write(body)
else:
    sys.exit(f"unknown command {command}")
