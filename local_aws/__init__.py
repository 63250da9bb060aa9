"""Local AWS for the embedded default: moto server + patches + a Docker-free Lambda runtime, deployed into with the
genuine CDK CLI (docs/local-stack.md).

* `local_aws.stack.LocalStack`  - the whole pipeline (local AssemblyAI server + local AWS + cdk deploy + secret)
* `local_aws.process.start_local_aws` - just the local AWS, as a child process (`python -m local_aws serve`)
* `local_aws.cdk.synth` - synthesize a CDK app (cached), bound like the CLI binds it
* `local_aws.cdk_cli.CdkCli` - `cdk bootstrap` / `deploy` / `diff` / `destroy` against the local AWS
* `local_aws.persistence` - the stack's data across restarts
"""
