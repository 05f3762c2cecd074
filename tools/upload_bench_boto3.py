"""Baseline for the upload benchmark: boto3's managed transfer (upload_file,
multipart with its default 8 MiB parts and 10 threads) to the same S3 server.
Prints seconds and peak RSS (MB)."""
import resource
import sys
import time

import boto3

endpoint, bucket, path = sys.argv[1:4]
s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="bench",
                  aws_secret_access_key="bench-secret", region_name="us-east-1")
t = time.monotonic()
s3.upload_file(path, bucket, "bench/boto3.bin", ExtraArgs={"ContentType": "video/mp4"})
secs = time.monotonic() - t
print(f"{secs:.3f} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f}")
