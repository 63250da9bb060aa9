"""The only modules that touch boto3 or HTTP."""
