"""Local AWS for the embedded default: moto server + patches + a Docker-free Lambda runtime + a mini
`cdk deploy` of the synthesized template (docs/local-stack.md).

* `local_aws.stack.LocalStack`  - the whole pipeline (local AssemblyAI server + local AWS + deploy + secret)
* `local_aws.process.start_local_aws` - just the local AWS, as a child process (`python -m local_aws serve`)
* `local_aws.cdk.synth`, `local_aws.deploy.deploy_stack` - synthesize (cached) and deploy a CDK app
"""
